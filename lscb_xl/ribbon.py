"""The live-Excel adapter: ribbon commands as ``def command(book: xw.Book)``.

Each command uses only the xlwings ``Book``/``Sheet``/``Range`` API, so the same function runs
in desktop Excel (the xlwings add-in's RunPython: ``dispatch(tag)`` with ``xw.Book.caller()``),
behind the Office.js add-in (``lscb-xl serve``: the xlwings remote engine turns the client's
JSON into a Book and our writes into actions), and in xlwings Lite.

Every write is a round trip into Excel, so each table is read with one range read and each
changed block written with one write. RAG colours and the highlighting of offending cells come
from conditional-format rules built into the workbook (they follow the Validation sheet), not
from one fill per cell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import xlwings as xw

from lscb_xl import figures, schema
from lscb_xl.builder import RISKY_LEADS, VALIDATION_FIRST_ROW, VALIDATION_HEADERS
from lscb_xl.errors import UnusableWorkbook
from lscb_xl.model import BoardData, quote_sheet
from lscb_xl.validation import Finding, stamp_text, validate

Command = Callable[[xw.Book], Any]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _norm(text: Any) -> str:
    return " ".join(str(text or "").split()).casefold()


def _table_records(
    book: xw.Book, table: schema.Table | schema.Lookup, sheet_name: str, findings: list[Finding]
) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    try:
        sheet = book.sheets[sheet_name]
    except Exception as exc:
        raise UnusableWorkbook(f"Sheet {sheet_name!r} is missing: was it renamed? Rename it back.") from exc
    try:
        tbl = sheet.tables[table.name]
    except Exception as exc:
        raise UnusableWorkbook(f"The table {table.name!r} is missing from sheet {sheet_name!r}.") from exc
    header_range = tbl.header_row_range
    if header_range is None:
        raise UnusableWorkbook(f"The table {table.name!r} on sheet {sheet_name!r} has no header row.")
    headers = header_range.options(ndim=1).value or []
    body = tbl.data_body_range
    rows = body.options(ndim=2).value if body is not None else []
    wanted = {_norm(c.header): c.key for c in table.columns}
    positions = {wanted[_norm(h)]: j for j, h in enumerate(headers) if _norm(h) in wanted}
    origin = (tbl.range.row, tbl.range.column)
    for col in table.columns:
        if col.key not in positions:
            findings.append(Finding(sheet_name, header_range.address.replace("$", "").split(":")[0],
                                    "error", "missing-column", f"The {table.name} table has no {col.header!r} column."))
    records = []
    for row in rows or []:
        if all(v in (None, "") for v in row):
            continue
        rec = {key: row[j] if j < len(row) else None for key, j in positions.items()}
        records.append({k: (v.date() if isinstance(v, dt.datetime) else v) for k, v in rec.items()})
    return records, origin


def read_book(book: xw.Book) -> tuple[BoardData, list[Finding]]:
    """The workbook in front of the user as BoardData, with structural findings."""
    findings: list[Finding] = []
    tables: dict[str, list[dict[str, Any]]] = {}
    origins: dict[str, tuple[int, int]] = {}
    for table in schema.ALL_TABLES:
        tables[table.name], origins[table.name] = _table_records(book, table, table.sheet, findings)
    lookups = {lk.name: _table_records(book, lk, schema.LOOKUP_SHEET, findings)[0] for lk in schema.LOOKUPS}
    settings: dict[str, Any] = {}
    for name, _label, _kind in schema.SETTINGS:
        try:
            value = book.names[name].refers_to_range.value
        except Exception:
            value = None
        settings[name] = value.date() if isinstance(value, dt.datetime) else value
    names = [s.name for s in book.sheets]
    return BoardData(settings, tables, lookups, origins, names), findings


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _safe_text(value: Any) -> Any:
    """Text that Excel must not read as a formula gets the apostrophe Excel itself uses."""
    if isinstance(value, str) and value.startswith(RISKY_LEADS):
        return "'" + value
    return value


def _link(sheet: str, cell: str) -> str:
    target = f"#{quote_sheet(sheet)}!{cell}".replace('"', '""')
    return f'=HYPERLINK("{target}","{cell}")'


def write_findings(book: xw.Book, findings: Sequence[Finding]) -> None:
    """The Validation sheet: one write for the findings, one clear for rows left from last time."""
    sheet = book.sheets[schema.VALIDATION]
    first = VALIDATION_FIRST_ROW
    rows: list[list[Any]] = [
        [f.severity, f.sheet, _link(f.sheet, f.cell), f.rule, _safe_text(f.message)] for f in findings
    ] or [["ok", "", "", "", "No problems found."]]
    width = len(VALIDATION_HEADERS)
    sheet.range((first, 1)).value = rows
    used = sheet.used_range
    last_used = used.row + used.rows.count - 1
    end = first + len(rows)
    if last_used >= end:
        sheet.range((end, 1), (last_used, width)).clear_contents()


def _write_if_changed(book: xw.Book, sheet: str, top: int, left: int, values: list[list[Any]],
                      current: list[list[Any]]) -> bool:
    if _same(values, current):
        return False
    book.sheets[sheet].range((top, left)).value = values
    return True


def _same(a: list[list[Any]], b: list[list[Any]]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=False):
            if isinstance(x, int | float) and isinstance(y, int | float):
                if abs(float(x) - float(y)) > 1e-9:
                    return False
            elif (x or None) != (y or None):
                return False
    return True


def _restore_published(book: xw.Book, data: BoardData) -> bool:
    """Rewrite the Published sheet's computed formulas if any shows a value Python disagrees with
    (someone typed over a formula); one write for the whole column."""
    table = schema.PUBLISHED_TABLE
    recs = data.records(table)
    if not recs:
        return False
    row, col = data.origin(table)
    j = col + table.keys.index("computed")
    sheet = book.sheets[table.sheet]
    current = sheet.range((row + 1, j), (row + len(recs), j)).options(ndim=2).value
    expected, formulas = [], []
    ev = figures.Evaluator(data.tables).prefetch(f.expr for f in figures.FIGURES)
    for rec in recs:
        fig = figures.FIGURE_BY_ID.get(str(rec.get("figure_id") or ""))
        value = ev(fig.expr) if fig else None
        expected.append(["" if value is None else value])
        formulas.append(["=" + figures.to_excel(fig.expr) if fig else ""])
    if _same(expected, current):
        return False
    sheet.range((row + 1, j)).value = formulas
    return True


def _write_rounded_percents(book: xw.Book, data: BoardData) -> bool:
    table = figures.sector_table(data.records(schema.TRAINING))
    values = [[r["percent"]] for r in table]
    sheet = book.sheets[schema.SECTOR_SUMMARY]
    current = sheet.range((5, 4), (4 + len(values), 4)).options(ndim=2).value
    return _write_if_changed(book, schema.SECTOR_SUMMARY, 5, 4, values, current)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def validate_book(book: xw.Book) -> list[Finding]:
    """Validate: findings written to the Validation sheet (offending cells light up by rule)."""
    data, structural = read_book(book)
    findings = validate(data, structural)
    write_findings(book, findings)
    return findings


def refresh_book(book: xw.Book, now: dt.datetime | None = None) -> list[Finding]:
    """Refresh: figures checked (formulas restored if typed over), Validation rewritten, Home stamped."""
    data, structural = read_book(book)
    findings = validate(data, structural)
    _restore_published(book, data)
    _write_rounded_percents(book, data)
    write_findings(book, findings)
    stamp = book.names["LastRefreshed"].refers_to_range
    stamp.value = stamp_text(findings, now)
    return findings


_RAG_WORDS = {w.casefold(): c for c, w in schema.RAG_WORDS.items()} | {c.casefold(): c for c in schema.RAG_CODES}


def rag_book(book: xw.Book) -> int:
    """RAG: ratings typed as words or in lower case ("green") become their letter, in one write.
    Colour comes from the workbook's conditional formats; returns how many cells changed."""
    data, _ = read_book(book)
    table = schema.ACTION_PLAN
    recs = data.records(table)
    if not recs:
        return 0
    current = [rec.get("rag") for rec in recs]
    fixed = [_RAG_WORDS.get(str(v).strip().casefold(), v) if v is not None else None for v in current]
    changed = sum(1 for a, b in zip(current, fixed, strict=True) if a != b)
    if changed:
        row, col = data.origin(table)
        j = col + table.keys.index("rag")
        book.sheets[table.sheet].range((row + 1, j)).value = [[v] for v in fixed]
    return changed


def _folder(book: xw.Book) -> Path | None:
    """Where the workbook lives, when it lives on a disk (desktop Excel); None for the web."""
    try:
        full = Path(book.fullname)
    except Exception:
        return None
    return full.parent if full.parent.exists() and str(full.parent) not in ("", ".") else None


def summary_book(book: xw.Book, out_dir: Path | None = None) -> dict[str, Any]:
    """Summary: summary.docx and summary.html next to the workbook (or in out_dir)."""
    from lscb_xl.summary import write_summaries

    data, structural = read_book(book)
    findings = validate(data, structural)
    folder = out_dir or _folder(book)
    if folder is None:
        raise UnusableWorkbook("This workbook is not saved on this computer; use the server's download link.")
    return write_summaries(data, findings, folder)


def _append_rows(book: xw.Book, data: BoardData, table: schema.Table, new: list[dict[str, Any]],
                 existing: int) -> None:
    """New rows under a table's ``existing`` ones: one write, one date format per column, one resize."""
    from lscb_xl.tablewrite import cell_value

    if not new:
        return
    row, col = data.origin(table)
    first = row + 1 + existing
    sheet = book.sheets[table.sheet]
    sheet.range((first, col)).value = [[_safe_text(cell_value(c, r.get(c.key))) for c in table.columns] for r in new]
    for j, c in enumerate(table.columns):
        if c.type == "date":
            sheet.range((first, col + j), (first + len(new) - 1, col + j)).number_format = "dd/mm/yyyy"
    last = row + existing + len(new)
    sheet.tables[table.name].resize(sheet.range((row, col), (last, col + len(table.columns) - 1)))


def snapshot_book(book: xw.Book, as_at: dt.date | None = None, now: dt.datetime | None = None) -> Any:
    """Snapshot: the action plan's ratings appended to History; Home says what changed."""
    from lscb_xl.history import plan_snapshot

    data, _ = read_book(book)
    on_sheet = len(data.records(schema.HISTORY))
    snap = plan_snapshot(data, as_at, now)
    _append_rows(book, data, schema.HISTORY, snap.rows, existing=on_sheet)
    book.names["SnapshotChanges"].refers_to_range.value = snap.changes.line()
    return snap.changes


def _saved_path(book: xw.Book, path: Path | None = None) -> Path:
    """The workbook's file on disk (desktop Excel), or ``path`` when the caller knows it."""
    if path is not None:
        return Path(path)
    folder = _folder(book)
    if folder is None:
        raise UnusableWorkbook("Save the workbook on this computer first: returns are files beside it.")
    return folder / Path(book.fullname).name


def returns_make_book(book: xw.Book) -> list[Path]:
    """Make returns: one workbook per agency in a "returns" folder beside the workbook."""
    from lscb_xl.returns import make_returns

    path = _saved_path(book)
    files = make_returns(path, path.parent / "returns")
    book.app.alert(f"{len(files)} return workbooks written to {path.parent / 'returns'}.", title="lscb-xl")
    return files


def returns_merge_book(book: xw.Book, returns: list[Path] | None = None, master: Path | None = None,
                       now: dt.datetime | None = None) -> Any:
    """Merge returns from the "returns" folder into the open workbook: all or nothing, audited."""
    from lscb_xl.returns import audit_rows, changed_cells, describe, plan_merge, read_key

    path = _saved_path(book, master)
    data, _ = read_book(book)
    files = returns if returns is not None else sorted((path.parent / "returns").glob("return-*.xlsx"))
    report = plan_merge(data, read_key(path), files)
    if report.ok and report.changes:
        sheet = book.sheets[schema.ACTION_PLAN.sheet]
        for address, value in changed_cells(data, report.changes).items():
            sheet.range(address).value = _safe_text(value)
        trail = audit_rows(data, report.changes, now or dt.datetime.now())
        on_sheet = len(data.records(schema.AUDIT_TRAIL))
        _append_rows(book, data, schema.AUDIT_TRAIL, trail[on_sheet:], existing=on_sheet)
        report.written = True
    book.app.alert("\n".join(describe(report))[:1500], title="lscb-xl: merge returns")
    return report


def email_book(book: xw.Book, out_dir: Path | None = None) -> Any:
    """Email draft: summary.eml (ready to edit and send in Outlook) beside the workbook."""
    return summary_book(book, out_dir)["eml"]


def help_book(book: xw.Book) -> None:
    book.app.alert("lscb-xl: Validate lists problems on the Validation sheet; Refresh re-checks and recalculates; "
                   "Summary writes a Word summary next to the workbook. See the README for help.", title="lscb-xl")


COMMANDS: dict[str, Command] = {
    "validate": validate_book,
    "refresh": refresh_book,
    "rag": rag_book,
    "summary": summary_book,
    "email": email_book,
    "snapshot": snapshot_book,
    "returns_make": returns_make_book,
    "returns_merge": returns_merge_book,
    "help": help_book,
}


def dispatch(tag: str, book: xw.Book | None = None) -> Any:
    """Entry point for the ribbon's single VBA callback: run the command named by the button's tag.

    Problems staff can act on (a renamed sheet, a workbook not saved yet, a refused summary)
    come back as a plain message box, not a Python traceback.
    """
    from lscb_xl.safesave import RefusedError
    from lscb_xl.summary import ReportError

    command = COMMANDS.get(tag)
    if command is None:
        raise ValueError(f"lscb-xl has no command {tag!r}")
    book = book or xw.Book.caller()
    try:
        return command(book)
    except (UnusableWorkbook, RefusedError, ReportError) as exc:
        book.app.alert(str(exc), title="lscb-xl")
        return None
