"""Rewriting the rows of one of our Excel tables inside a user's package.

Snapshots append to the History table and merges to the Audit trail. Both rewrite that table's
rows from its first data row (keeping each column's cell style, read from the existing first
data row, so dates stay dates) and move the table's range; nothing else in the package changes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from lscb_xl import ooxml as ox
from lscb_xl import schema
from lscb_xl.model import BoardData, a1

EXCEL_EPOCH = dt.date(1899, 12, 30)


def cell_value(column: schema.Column, value: Any) -> ox.CellValue:
    """A record value as a cell value: dates as Excel serial numbers (styled as dates)."""
    if value is None or value == "":
        return None
    if column.type == "date":
        when = value.date() if isinstance(value, dt.datetime) else value
        if isinstance(when, dt.date):
            return (when - EXCEL_EPOCH).days
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | str):
        return value
    return str(value)


def _row_styles(sheet_xml: bytes, row: int, first_col: int, n: int) -> list[int | None]:
    """cellXfs indexes of the given row's cells (None where a cell has no style)."""
    match = re.search(rb'<row[^>]*\sr="%d"[^>]*>(.*?)</row>' % row, sheet_xml, re.S)
    styles: list[int | None] = [None] * n
    if not match:
        return styles
    for tag in re.finditer(rb"<c\s[^>]*>", match.group(1)):
        ref = re.search(rb'\sr="([A-Z]+)\d+"', tag.group(0))
        style = re.search(rb'\ss="(\d+)"', tag.group(0))
        if ref and style:
            col = ox.column_index(ref.group(1).decode())
            if first_col <= col < first_col + n:
                styles[col - first_col] = int(style.group(1))
    return styles


def rewrite_table(pkg: ox.Package, data: BoardData, table: schema.Table, records: Sequence[dict[str, Any]],
                  out: dict[str, bytes]) -> None:
    """Put ``records`` as the table's rows (in ``out``, the parts to replace)."""
    sheet_part = pkg.sheet_parts()[table.sheet]
    info = pkg.tables()[table.name]
    header_row, first_col = data.origin(table)
    if first_col != 1:
        raise ValueError(f"the {table.name} table must start in column A")
    xml = out.get(sheet_part) or pkg.read(sheet_part)
    styles = _row_styles(xml, header_row + 1, first_col, len(table.columns))
    rows = [[cell_value(c, rec.get(c.key)) for c in table.columns] for rec in records]
    out[sheet_part] = ox.replace_sheet_rows(xml, header_row + 1, rows, styles=styles)
    last = header_row + max(len(rows), 1)
    ref = f"{a1(header_row, first_col)}:{a1(last, first_col + len(table.columns) - 1)}"
    out[info.part] = ox.set_table_ref(out.get(info.part) or pkg.read(info.part), ref)
