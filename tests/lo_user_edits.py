"""Have LibreOffice make the edits a member of staff would: a chart, an image, comments, a sheet.

Run by the system Python (which has LibreOffice's ``uno`` bridge), not the project's venv:
    /usr/bin/python3 tests/lo_user_edits.py IN.xlsx OUT.xlsx IMAGE.png PROFILE_DIR
It starts a private headless soffice, opens IN, adds a "Notes" sheet with a few numbers and a
chart of them, an image on Notes, a comment on Home and one on Training, and saves OUT as xlsx.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import uno  # type: ignore[import-not-found]
from com.sun.star.awt import (  # type: ignore[import-not-found]
    Point,
    Rectangle,  # type: ignore[import-not-found]
    Size,
)
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.table import CellAddress, CellRangeAddress  # type: ignore[import-not-found]


def prop(name: str, value: object) -> PropertyValue:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def connect(profile: Path) -> tuple[object, object, subprocess.Popen[bytes]]:
    pipe = f"lscb_{int(time.time() * 1000)}"
    proc = subprocess.Popen([
        "soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible", "--norestore",
        f"--accept=pipe,name={pipe};urp;",
    ])
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    for _ in range(120):
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
            return ctx, desktop, proc
        except Exception:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("could not connect to soffice")


def save_xlsx(doc: object, dst: Path) -> None:
    """Save as Excel 2007+ (.xlsx), as a user would with File > Save As, and close."""
    doc.storeToURL(dst.as_uri(), (prop("FilterName", "Calc MS Excel 2007 XML"),))
    doc.close(True)


def quit_soffice(desktop: object, proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(Exception):  # soffice may already be gone
        desktop.terminate()
    proc.wait(timeout=60)


def main() -> None:
    src, dst, image, profile = (Path(a).resolve() for a in sys.argv[1:5])
    ctx, desktop, proc = connect(profile)
    try:
        doc = desktop.loadComponentFromURL(src.as_uri(), "_blank", 0, (prop("Hidden", True),))
        sheets = doc.Sheets
        sheets.insertNewByName("Notes", sheets.Count)
        notes = sheets.getByName("Notes")
        for row, (label, value) in enumerate((("Visits", 4), ("Calls", 9), ("Letters", 2))):
            notes.getCellByPosition(0, row).setString(label)
            notes.getCellByPosition(1, row).setValue(value)
        index = sheets.Count - 1
        area = CellRangeAddress(index, 0, 0, 1, 2)
        notes.Charts.addNewByName("UserChart", Rectangle(4000, 500, 9000, 6000), (area,), False, True)
        shape = doc.createInstance("com.sun.star.drawing.GraphicObjectShape")
        graphic_provider = ctx.ServiceManager.createInstanceWithContext("com.sun.star.graphic.GraphicProvider", ctx)
        graphic = graphic_provider.queryGraphic((prop("URL", image.as_uri()),))
        shape.Graphic = graphic
        notes.DrawPage.add(shape)
        shape.setSize(Size(3000, 3000))
        shape.setPosition(Point(500, 8000))
        shape.Name = "UserImage"
        shape.Description = "A picture staff added"
        home = sheets.getByName("Home")
        home.unprotect("")  # protected without a password, as staff would do
        home.Annotations.insertNew(CellAddress(home.RangeAddress.Sheet, 2, 5), "Staff note: check the period")
        home.protect("")
        training = sheets.getByName("Training")
        training.Annotations.insertNew(CellAddress(training.RangeAddress.Sheet, 4, 4), "Register attached in the file")
        save_xlsx(doc, dst)
    finally:
        quit_soffice(desktop, proc)


if __name__ == "__main__":
    main()
