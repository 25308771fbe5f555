"""Edit cells of a workbook in LibreOffice, as a partner agency's staff would, and save it.

Run by the system Python (LibreOffice's ``uno`` bridge):
    /usr/bin/python3 tests/lo_edit_cells.py IN.xlsx OUT.xlsx PROFILE_DIR '{"Sheet": {"A1": "text"}}'
Protected sheets are unprotected (they have no password) and protected again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lo_user_edits import connect, prop, quit_soffice, save_xlsx


def main() -> None:
    src, dst, profile = (Path(a).resolve() for a in sys.argv[1:4])
    edits: dict[str, dict[str, str]] = json.loads(sys.argv[4])
    ctx, desktop, proc = connect(profile)
    del ctx
    try:
        doc = desktop.loadComponentFromURL(src.as_uri(), "_blank", 0, (prop("Hidden", True),))
        for sheet_name, cells in edits.items():
            sheet = doc.Sheets.getByName(sheet_name)
            protected = sheet.isProtected()
            if protected:
                sheet.unprotect("")
            for address, value in cells.items():
                sheet.getCellRangeByName(address).setString(value)
            if protected:
                sheet.protect("")
        save_xlsx(doc, dst)
    finally:
        quit_soffice(desktop, proc)


if __name__ == "__main__":
    main()
