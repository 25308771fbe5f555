"""The file adapter's read side: an .xlsx/.xlsm master workbook -> :class:`BoardData`.

python-calamine reads the Excel tables (8-25x faster than openpyxl, FIELD-NOTES); the package
layer answers what calamine does not (defined names, the lscb-xl marker property). Values stay
raw, as staff typed them, so the validation rules can say what is wrong with them.
Structural problems that make the workbook unusable raise :class:`UnusableWorkbook`; smaller
ones (an extra column, merged cells) come back as findings.
"""

from __future__ import annotations

import gc
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import python_calamine as pc

from lscb_xl import schema
from lscb_xl.errors import UnusableWorkbook
from lscb_xl.model import BoardData, a1
from lscb_xl.ooxml import Package
from lscb_xl.sheetguard import sheet_tail
from lscb_xl.validation import Finding


def _normalise_header(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip().casefold()


def open_package(path: Path) -> Package:
    """The workbook's zip package, or a one-line reason why it is not a workbook."""
    path = Path(path)
    if not path.exists():
        raise UnusableWorkbook(f"{path} does not exist.")
    if path.is_dir():
        raise UnusableWorkbook(f"{path} is a folder, not an Excel workbook.")
    if not zipfile.is_zipfile(path):
        raise UnusableWorkbook(f"{path.name} is not an Excel workbook (.xlsx or .xlsm): it is not a zip package.")
    try:
        pkg = Package.open(path)
        pkg.sheet_parts()
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnusableWorkbook(f"{path.name} is damaged or not an Excel workbook ({exc}).") from exc
    return pkg


def _load_calamine(path: Path) -> pc.CalamineWorkbook:
    try:
        return pc.CalamineWorkbook.from_path(str(path), load_tables=True)
    except Exception as exc:  # calamine raises its own error types for damaged files
        raise UnusableWorkbook(f"{Path(path).name} could not be read as a workbook ({exc}).") from exc


def _read_table(
    book: pc.CalamineWorkbook, table: schema.Table | schema.Lookup, sheet: str, findings: list[Finding]
) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    """Records of one table keyed by schema column, and the (row, col) of its header cell (1-based)."""
    if table.name not in (book.table_names or []):
        raise UnusableWorkbook(
            f"The table {table.name!r} is missing from sheet {sheet!r}: this is not an lscb-xl master workbook, "
            "or the table was deleted or renamed."
        )
    tbl = book.get_table_by_name(table.name)
    if tbl.sheet != sheet:
        raise UnusableWorkbook(
            f"The table {table.name!r} should be on sheet {sheet!r} but is on {tbl.sheet!r}: "
            f"was the sheet renamed? Rename it back to {sheet!r}."
        )
    if tbl.start is None or tbl.columns is None:
        raise UnusableWorkbook(f"The table {table.name!r} on sheet {sheet!r} has no header row.")
    header_row = tbl.start[0]  # calamine's start is the first data row (0-based) = header row (1-based)
    first_col = tbl.start[1] + 1
    headers = [_normalise_header(h) for h in tbl.columns]
    wanted = {_normalise_header(c.header): c for c in table.columns}
    positions: dict[str, int] = {}
    for j, h in enumerate(headers):
        col = wanted.get(h)
        if col is None:
            findings.append(Finding(sheet, a1(header_row, first_col + j), "warning", "extra-column",
                                    f"Column {tbl.columns[j]!r} is not part of the {table.name} table's design; "
                                    "lscb-xl ignores it."))
        else:
            positions[col.key] = j
    for col in table.columns:
        if col.key not in positions:
            findings.append(Finding(sheet, a1(header_row, first_col), "error", "missing-column",
                                    f"The {table.name} table has no {col.header!r} column; its values are treated "
                                    "as empty. Restore the column (use lscb-xl new to see the design)."))
    rows = tbl.to_python()
    # A table with one blank row (as built empty) holds no records.
    records = []
    # A row is a record when staff typed something in it: a calculated column (EarlyHelp's
    # Total) shows 0 on a blank row, so it does not count.
    computed = {c.key for c in table.columns if c.computed}
    typed = [j for key, j in positions.items() if key not in computed]
    keys = list(positions)
    plain = list(positions.values()) == list(range(len(keys)))  # the table as designed: no reordering
    for row in rows:
        if all(row[j] in ("", None) for j in typed if j < len(row)):
            continue
        if plain and len(row) >= len(keys):
            records.append(dict(zip(keys, [None if v == "" else v for v in row[: len(keys)]], strict=True)))
        else:
            records.append({key: (row[j] if j < len(row) and row[j] != "" else None) for key, j in positions.items()})
    return records, (header_row, first_col)


def _check_merged(xml: bytes, sheet: str, first_row: int, findings: list[Finding]) -> None:
    """Merged cells in or below a table header, from the <mergeCells> after the cell data."""
    start = xml.rfind(b"<mergeCells")
    if start < 0:
        return
    end = xml.find(b"</mergeCells>", start)
    for ref in re.findall(rb'<mergeCell\s+ref="([A-Z]+\d+):([A-Z]+\d+)"', xml[start:end]):
        top, bottom = (r.decode() for r in ref)
        if int(re.sub(r"[A-Z]+", "", bottom)) >= first_row:
            findings.append(Finding(sheet, top, "error", "merged-cells",
                                    f"Cells {top}:{bottom} are merged inside a table; "
                                    "unmerge them so each record has its own cells."))


def _read_settings(book: pc.CalamineWorkbook, pkg: Package) -> dict[str, Any]:
    names = pkg.defined_names()
    out: dict[str, Any] = {}
    grids: dict[str, list[list[Any]]] = {}
    for name, _label, _kind in schema.SETTINGS:
        ref = names.get(name)
        out[name] = None
        if not ref:
            continue
        m = re.fullmatch(r"'?(.+?)'?!\$?([A-Z]+)\$?(\d+)", ref.lstrip("="))
        if not m:
            continue
        sheet, col_letters, row = m.group(1).replace("''", "'"), m.group(2), int(m.group(3))
        if sheet not in grids:
            try:
                grids[sheet] = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            except Exception:
                grids[sheet] = []
        col = 0
        for ch in col_letters:
            col = col * 26 + ord(ch) - 64
        grid = grids[sheet]
        if row - 1 < len(grid) and col - 1 < len(grid[row - 1]):
            value = grid[row - 1][col - 1]
            out[name] = None if value == "" else value
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Reading a large register creates a dict per row; each allocation burst would otherwise
    trigger full collections that walk every object already alive (measured: 2-5 s instead of
    2 s after a large openpyxl job in the same process). Nothing read here forms a cycle.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_workbook(path: Path) -> tuple[BoardData, list[Finding]]:
    """Read a master workbook; returns the data and structural findings, or raises UnusableWorkbook."""
    with gc_paused():
        return _read_workbook(path)


def _read_workbook(path: Path) -> tuple[BoardData, list[Finding]]:
    path = Path(path)
    pkg = open_package(path)
    book = _load_calamine(path)
    findings: list[Finding] = []
    try:
        names = book.sheet_names
        missing = [s for s in schema.SHEETS if s not in names and s != schema.VALIDATION]
        if missing and schema.MARKER_PROPERTY not in pkg.custom_properties():
            raise UnusableWorkbook(
                f"{path.name} is not an lscb-xl master workbook (no {', '.join(repr(m) for m in missing[:3])} "
                "sheet). Create one with: lscb-xl new PATH"
            )
        if missing:
            raise UnusableWorkbook(
                f"Sheet {missing[0]!r} is missing from {path.name}: was it renamed or deleted? "
                f"Rename it back to {missing[0]!r}."
            )
        tables: dict[str, list[dict[str, Any]]] = {}
        origins: dict[str, tuple[int, int]] = {}
        tails: dict[str, bytes] = {}
        for table in schema.ALL_TABLES:
            recs, origin = _read_table(book, table, table.sheet, findings)
            tables[table.name], origins[table.name] = recs, origin
            tail = sheet_tail(pkg.read(pkg.sheet_parts()[table.sheet]))
            tails[table.sheet] = tail
            _check_merged(tail, table.sheet, origin[0], findings)
        lookups = {lk.name: _read_table(book, lk, schema.LOOKUP_SHEET, findings)[0] for lk in schema.LOOKUPS}
        settings = _read_settings(book, pkg)
    finally:
        book.close()
    data = BoardData(settings=settings, tables=tables, lookups=lookups, origins=origins, sheet_names=list(names),
                     sheet_tails=tails)
    return data, findings
