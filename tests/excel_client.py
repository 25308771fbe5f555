"""Applies xlwings actions to a workbook file the way the Office.js client applies them in Excel.

This is the one stand-in in the suite: Excel cannot run on Linux, so the client half of the
round trip (``xlwings/js/xlwings.ts``) is re-done here with openpyxl for the actions lscb-xl
emits. The server half, the real xlwings remote engine, runs for real.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import openpyxl
import xlwings

CLIENT_TS = Path(xlwings.__file__).parent / "js" / "xlwings.ts"


def client_actions() -> set[str]:
    """The action names the bundled Office.js client implements (its registerCallback calls)."""
    return set(re.findall(r"registerCallback\((\w+)\)", CLIENT_TS.read_text(encoding="utf-8")))


def apply_actions(src: Path, dst: Path, actions: list[dict[str, Any]]) -> list[str]:
    """Apply ``actions`` to a copy of ``src`` saved as ``dst``; returns the alert messages."""
    wb = openpyxl.load_workbook(src)
    alerts: list[str] = []
    for act in actions:
        ws = wb.worksheets[act["sheet_position"] or 0]
        r0, c0 = (act["start_row"] or 0) + 1, (act["start_column"] or 0) + 1
        func = act["func"]
        if func == "setValues":
            for i, row in enumerate(act["values"]):
                for j, value in enumerate(row):
                    cell = ws.cell(row=r0 + i, column=c0 + j)
                    if isinstance(value, str) and value.startswith("'"):
                        cell.value, cell.data_type = value[1:], "s"  # Excel's text marker
                    else:
                        cell.value = value
        elif func == "rangeClearContents":
            for i in range(act["row_count"]):
                for j in range(act["column_count"]):
                    ws.cell(row=r0 + i, column=c0 + j).value = None
        elif func == "setNumberFormat":
            for i in range(act["row_count"]):
                for j in range(act["column_count"]):
                    ws.cell(row=r0 + i, column=c0 + j).number_format = act["args"][0]
        elif func == "resizeTable":
            index, address = act["args"]
            table = list(ws.tables.values())[index]
            table.ref = address.replace("$", "")
            if table.autoFilter is not None:
                table.autoFilter.ref = table.ref
        elif func == "alert":
            alerts.append(str(act["args"][0]))
        else:
            raise NotImplementedError(f"test client does not apply {func}")
    wb.save(dst)
    return alerts
