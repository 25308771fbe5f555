"""Refresh: recompute every derived figure, rewrite the Validation sheet, stamp Home, save safely.

Only the parts lscb-xl owns are rewritten, through :mod:`lscb_xl.ooxml`: the Home, Sector
summary, Finance, Early Help, Published and Validation sheet XML. Every other part of the
user's package (charts, images, comments, VBA, ribbon, sheets we do not own) is copied
byte-for-byte, and the file is replaced atomically after a backup (:mod:`lscb_xl.safesave`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lscb_xl import figures, history, schema, sheetguard
from lscb_xl import ooxml as ox
from lscb_xl.builder import VALIDATION_FIRST_ROW, cell_of_setting
from lscb_xl.model import BoardData, a1, quote_sheet
from lscb_xl.reader import read_workbook
from lscb_xl.safesave import atomic_write
from lscb_xl.validation import Finding, stamp_text, validate


@dataclass
class RefreshResult:
    path: Path
    findings: list[Finding]
    backup: Path | None
    stamp: str
    parts_written: int
    restored: list[str]


def sector_summary_cells(data: BoardData, ev: figures.Evaluator) -> dict[str, Any]:
    """Cached values of the Sector summary sheet (layout as the builder writes it)."""
    table = figures.sector_table(data.records(schema.TRAINING), ev)
    cells: dict[str, Any] = {}
    first = 5
    for i, row in enumerate(table):
        r = first + i
        cells[f"B{r}"] = row["attendees"]
        cells[f"C{r}"] = row["share"]
        cells[f"D{r}"] = row["percent"]
    last = first + len(table) - 1
    cells[f"B{last + 1}"] = sum(r["attendees"] for r in table)
    cells[f"C{last + 1}"] = 1.0 if any(r["attendees"] for r in table) else 0.0
    cells[f"D{last + 1}"] = sum(r["percent"] for r in table)
    for i, (_label, expr) in enumerate(figures.TRAINING_TOTALS):
        cells[f"B{last + 3 + i}"] = ev(expr) or 0
    return cells


def finance_cells(data: BoardData, ev: figures.Evaluator) -> dict[str, Any]:
    table = schema.FINANCE
    _row, col = data.origin(table)
    value_col = col + len(table.columns) + 2  # one gap column, then label, then value
    exprs = [expr for _label, expr in figures.FINANCE_LINES]
    return {a1(table.anchor_row + 1 + i, value_col): ev(e) or 0
            for i, e in enumerate(exprs)}


def early_help_cells(data: BoardData) -> dict[str, Any]:
    table = schema.EARLY_HELP
    out: dict[str, Any] = {}
    for i, rec in enumerate(data.records(table)):
        out[data.cell(table, i, "total")] = figures.early_help_row_total(rec)
    return out


def published_cells(data: BoardData, ev: figures.Evaluator) -> dict[str, Any]:
    table = schema.PUBLISHED_TABLE
    out: dict[str, Any] = {}
    for i, rec in enumerate(data.records(table)):
        fig = figures.FIGURE_BY_ID.get(str(rec.get("figure_id") or ""))
        value = ev(fig.expr) if fig else None
        out[data.cell(table, i, "computed")] = "" if value is None else value
        pub = rec.get("published")
        diff = pub - value if isinstance(pub, int | float) and value is not None else ""
        out[data.cell(table, i, "difference")] = diff
    return out


def validation_rows(findings: Sequence[Finding]) -> tuple[list[list[Any]], list[tuple[str, str, str]]]:
    """Rows for the Validation sheet and a hyperlink from each Cell to the offending cell."""
    rows: list[list[Any]] = []
    links: list[tuple[str, str, str]] = []
    if not findings:
        rows.append(["ok", "", "", "", "No problems found."])
    for i, f in enumerate(findings):
        r = VALIDATION_FIRST_ROW + i
        rows.append([f.severity, f.sheet, f.cell, f.rule, f.message])
        links.append((f"C{r}", f"{quote_sheet(f.sheet)}!{f.cell}", f.cell))
    return rows, links


def restore_rules(pkg: ox.Package, data: BoardData, out: dict[str, bytes]) -> list[str]:
    """Add back dropdowns and RAG formats staff lost (pasting over cells drops them)."""
    parts = pkg.sheet_parts()
    restored: list[str] = []
    dxf_ids: dict[str, int] | None = None
    styles_part = "xl/styles.xml"
    for table in schema.RECORD_TABLES:
        part = parts[table.sheet]
        origin = data.origin(table)
        tail = data.sheet_tails.get(table.sheet) if part not in out else None
        lost = sheetguard.missing_rules(tail or sheetguard.sheet_tail(out.get(part) or pkg.read(part)), table, origin)
        if not lost:
            continue
        xml = out.get(part) or pkg.read(part)
        if dxf_ids is None:
            out[styles_part], dxf_ids = sheetguard.rag_dxf_ids(out.get(styles_part) or pkg.read(styles_part))
        out[part] = sheetguard.ensure_sheet_rules(xml, table, origin, len(data.records(table)), dxf_ids)
        restored += [f"{table.sheet}: {c.header} dropdown{' and RAG colours' if c.choices == 'RAG' else ''}"
                     for c in lost]
    return restored


def plan_parts(pkg: ox.Package, data: BoardData, findings: Sequence[Finding], stamp: str,
               ev: figures.Evaluator | None = None) -> dict[str, bytes]:
    """The new bytes of every part refresh rewrites; nothing else in the package changes."""
    parts = pkg.sheet_parts()
    ev = ev or figures.evaluator(data.tables)
    edits: dict[str, dict[str, Any]] = {
        schema.SECTOR_SUMMARY: sector_summary_cells(data, ev),
        schema.FINANCE.sheet: finance_cells(data, ev),
        schema.EARLY_HELP.sheet: early_help_cells(data),
        schema.PUBLISHED: published_cells(data, ev),
        schema.HOME: {cell_of_setting("LastRefreshed"): stamp,
                      cell_of_setting("SnapshotChanges"): history.compare(data).line()},
    }
    out: dict[str, bytes] = {}
    for sheet, cells in edits.items():
        part = parts[sheet]
        out[part] = ox.set_cells(pkg.read(part), cells)
    rows, links = validation_rows(findings)
    vpart = parts.get(schema.VALIDATION)
    if vpart:
        out[vpart] = ox.replace_sheet_rows(pkg.read(vpart), VALIDATION_FIRST_ROW, rows, hyperlinks=links)
    out["xl/workbook.xml"] = ox.calc_on_load(pkg.read("xl/workbook.xml"))
    return out


def check(path: Path) -> tuple[BoardData, list[Finding]]:
    """Read and validate without writing anything."""
    data, structural = read_workbook(path)
    return data, validate(data, structural)


def refresh(path: Path, now: dt.datetime | None = None, keep_backups: int = 5) -> RefreshResult:
    """Refresh the workbook at ``path`` in place; raises UnusableWorkbook or RefusedError untouched."""
    path = Path(path)
    data, structural = read_workbook(path)
    ev = figures.evaluator(data.tables)
    findings = validate(data, structural, ev)
    stamp = stamp_text(findings, now)
    pkg = ox.Package.open(path)
    replacements = plan_parts(pkg, data, findings, stamp, ev)
    restored = restore_rules(pkg, data, replacements)
    backup = atomic_write(path, lambda tmp: ox.write_package(path, tmp, replacements), keep_backups=keep_backups,
                          verify=lambda tmp: ox.verify_package(path, tmp, replacements))
    return RefreshResult(path=path, findings=findings, backup=backup, stamp=stamp,
                         parts_written=len(replacements), restored=restored)
