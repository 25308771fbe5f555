"""The JSON an xlwings Office.js / Office Scripts client sends, built from a workbook file.

The client (``xlwings/js/xlwings.ts``) posts each sheet's used range from A1 (values, with dates
as ISO strings), its tables' addresses and the book's named ranges. Building the same payload
from a saved workbook lets the tests and ``lscb-xl serve`` users exercise the real remote engine
(``xw.Book(json=...)``) on real workbooks, without Excel.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import python_calamine as pc
import xlwings as xw

from lscb_xl.model import a1
from lscb_xl.ooxml import Package


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat() + ".000Z"
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time()).isoformat() + ".000Z"
    if isinstance(value, dt.time | dt.timedelta):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _split(ref: str) -> tuple[int, int, int, int]:
    m = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)(?::\$?([A-Z]+)\$?(\d+))?", ref)
    if not m:
        raise ValueError(f"not a range: {ref}")

    def col(letters: str) -> int:
        n = 0
        for ch in letters:
            n = n * 26 + ord(ch) - 64
        return n

    c1, r1 = col(m.group(1)), int(m.group(2))
    c2, r2 = (col(m.group(3)), int(m.group(4))) if m.group(3) else (c1, r1)
    return r1, c1, r2, c2


def _table_entry(name: str, ref: str) -> dict[str, Any]:
    r1, c1, r2, c2 = _split(ref)
    body = f"{a1(r1 + 1, c1)}:{a1(max(r2, r1 + 1), c2)}"
    return {
        "name": name,
        "range_address": f"{a1(r1, c1)}:{a1(r2, c2)}",
        "header_row_range_address": f"{a1(r1, c1)}:{a1(r1, c2)}",
        "data_body_range_address": body,
        "total_row_range_address": None,
        "show_headers": True,
        "show_totals": False,
        "table_style": "TableStyleLight9",
        "show_autofilter": True,
    }


def payload_from_file(path: Path, client: str = "Office.js") -> dict[str, Any]:
    """The request body an xlwings client would send for the workbook at ``path``."""
    path = Path(path)
    pkg = Package.open(path)
    tables_by_sheet: dict[str, list[dict[str, Any]]] = {}
    for name, info in pkg.tables().items():
        tables_by_sheet.setdefault(info.sheet, []).append(_table_entry(name, info.ref))
    book = pc.CalamineWorkbook.from_path(str(path))
    sheets = []
    order = book.sheet_names
    try:
        for name in order:
            grid = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            sheets.append({
                "name": name,
                "values": [[_json_value(v) for v in row] for row in grid] or [[""]],
                "pictures": [],
                "tables": tables_by_sheet.get(name, []),
            })
    finally:
        book.close()
    names = []
    for name, ref in pkg.defined_names().items():
        m = re.fullmatch(r"'?(.+?)'?!(\$?[A-Z]+\$?\d+(?::\$?[A-Z]+\$?\d+)?)", ref.lstrip("="))
        if not m or m.group(1).replace("''", "'") not in order:
            continue  # names that are not plain ranges (e.g. table columns) are not sent by the client
        names.append({
            "name": name,
            "sheet_index": order.index(m.group(1).replace("''", "'")),
            "address": m.group(2).replace("$", ""),
            "scope_sheet_name": None,
            "scope_sheet_index": None,
            "book_scope": True,
        })
    return {
        "client": client,
        "version": xw.__version__,
        "book": {"name": path.name, "active_sheet_index": 0, "selection": "A1"},
        "names": names,
        "sheets": sheets,
    }
