"""Partner returns: one small workbook per agency out, changes merged back with an audit trail.

Every quarter each agency updates its own actions. ``make_returns`` writes a return workbook per
agency holding only that agency's actions, with only Response, RAG and Target/evidence
editable, and a hidden, signed record of the master rows it came from. ``merge_returns`` reads
returns back and applies their changes to the master all-or-nothing: it reports conflicts
(the master changed since the return was made, two returns touching one row), returns that are
not ours or were tampered with, and values the validation rules reject, and then writes nothing.

The signature is an HMAC-SHA256 with a key kept in the master workbook's custom properties
(created by the first ``make``), so a return can only be forged by someone holding the master.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter
from lxml import etree

from lscb_xl import ooxml as ox
from lscb_xl import schema
from lscb_xl.builder import RISKY_LEADS
from lscb_xl.errors import UnusableWorkbook
from lscb_xl.model import BoardData
from lscb_xl.reader import read_workbook
from lscb_xl.safesave import atomic_write
from lscb_xl.tablewrite import rewrite_table
from lscb_xl.validation import Finding, validate

KEY_PROPERTY = "lscb-xl-returns-key"
META_SHEET = "lscb"
RETURN_SHEET = "Return"
KIND = "lscb-xl-return"
#: Columns a partner may change, and the ones fixed by the master.
EDITABLE = ("response", "rag", "target")
FIXED = ("ref", "question", "question_text", "action", "lead")
RETURN_COLUMNS = ("ref", "question", "question_text", "action", "lead", "response", "rag", "target")
HEADER_ROW = 4  # 1-based


# --------------------------------------------------------------------------------------------
# The key in the master's custom properties
# --------------------------------------------------------------------------------------------

NS_CP = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"


def add_custom_property(custom_xml: bytes, name: str, value: str) -> bytes:
    """docProps/custom.xml with one more text property."""
    root = etree.fromstring(custom_xml)
    pids = [int(p.get("pid", "1")) for p in root]
    prop = etree.SubElement(root, f"{{{NS_CP}}}property", fmtid=FMTID, pid=str(max([*pids, 1]) + 1), name=name)
    etree.SubElement(prop, f"{{{NS_VT}}}lpwstr").text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _ensure_key(path: Path) -> bytes:
    """The master's returns key, created (and saved, with a backup) the first time."""
    pkg = ox.Package.open(path)
    props = pkg.custom_properties()
    if props.get(KEY_PROPERTY):
        return props[KEY_PROPERTY].encode()
    if "docProps/custom.xml" not in pkg:
        raise UnusableWorkbook(f"{path.name} has no custom properties part: it is not an lscb-xl master workbook.")
    key = secrets.token_hex(32)
    new = add_custom_property(pkg.read("docProps/custom.xml"), KEY_PROPERTY, key)
    atomic_write(path, lambda tmp: ox.write_package(path, tmp, {"docProps/custom.xml": new}))
    return key.encode()


def read_key(path: Path) -> bytes | None:
    """The master's returns key (None before any return was made from it)."""
    value = ox.Package.open(path).custom_properties().get(KEY_PROPERTY)
    return value.encode() if value else None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip() if not isinstance(value, str) else value.strip()


def _row_hash(rec: dict[str, Any], keys: tuple[str, ...]) -> str:
    blob = json.dumps([_text(rec.get(k)) for k in keys], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _sign(key: bytes, meta: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in meta.items() if k != "signature"}, sort_keys=True, ensure_ascii=False)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def agency_slug(agency: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", agency.lower().replace("'", "")).strip("-") or "agency"


# --------------------------------------------------------------------------------------------
# Make
# --------------------------------------------------------------------------------------------


def make_returns(master: Path, out_dir: Path, now: dt.datetime | None = None) -> list[Path]:
    """One return workbook per agency of the action plan, written into ``out_dir``."""
    master = Path(master)
    data, _ = read_workbook(master)
    key = _ensure_key(master)
    now = now or dt.datetime.now()
    by_agency: dict[str, list[dict[str, Any]]] = {}
    for rec in data.records(schema.ACTION_PLAN):
        by_agency.setdefault(_text(rec.get("agency")) or "No agency", []).append(rec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for agency, recs in by_agency.items():
        meta = {
            "kind": KIND, "version": 1, "agency": agency, "master": master.name,
            "made": now.isoformat(timespec="seconds"),
            "rows": [{"ref": _text(r.get("ref")), "fixed": _row_hash(r, FIXED),
                      **{k: _text(r.get(k)) for k in EDITABLE}} for r in recs],
        }
        meta["signature"] = _sign(key, meta)
        path = out_dir / f"return-{agency_slug(agency)}.xlsx"
        _write_return(path, data, agency, recs, meta)
        files.append(path)
    return files


def _write_return(path: Path, data: BoardData, agency: str, recs: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    wb.set_custom_property("lscb-xl-kind", KIND)
    base = {"font_name": "Arial", "font_size": 10, "valign": "top", "text_wrap": True}
    title = wb.add_format({**base, "bold": True, "font_size": 14, "text_wrap": False})
    header = wb.add_format({**base, "bold": True, "bg_color": "#1F3864", "font_color": "#FFFFFF"})
    fixed = wb.add_format({**base, "bg_color": "#F2F2F2"})
    edit = wb.add_format({**base, "locked": False, "bg_color": "#FFF2CC"})
    edit_quoted = wb.add_format({**base, "locked": False, "bg_color": "#FFF2CC", "quote_prefix": True})
    ws = wb.add_worksheet(RETURN_SHEET)
    board = data.settings.get("BoardName") or "Safeguarding children board"
    ws.write_string(0, 0, f"{board}: action plan return for {agency}", title)
    ws.write_string(1, 0, "Update only the yellow cells (Response, RAG, Target date / evidence), save, and send the "
                          "file back. Do not add or remove rows.", fixed)
    cols = [schema.ACTION_PLAN.column(k) for k in RETURN_COLUMNS]
    ws.add_table(HEADER_ROW - 1, 0, HEADER_ROW - 1 + len(recs), len(cols) - 1, {
        "name": "Return", "style": "Table Style Light 9",
        "columns": [{"header": c.header, "header_format": header} for c in cols],
    })
    for i, rec in enumerate(recs):
        for j, c in enumerate(cols):
            value = _text(rec.get(c.key))
            fmt = edit if c.key in EDITABLE else fixed
            if c.key in EDITABLE and value.startswith(RISKY_LEADS):
                fmt = edit_quoted
            ws.write_string(HEADER_ROW + i, j, value, fmt)
        ws.set_row(HEADER_ROW + i, 60)
    for j, c in enumerate(cols):
        ws.set_column(j, j, c.width)
    rag_col = RETURN_COLUMNS.index("rag")
    ws.data_validation(HEADER_ROW, rag_col, HEADER_ROW + len(recs) - 1, rag_col, {
        "validate": "list", "source": list(schema.RAG_CODES), "error_title": "RAG rating",
        "error_message": "Choose R (Red), A (Amber), G (Green) or B (Blue, complete).",
    })
    for code, _w, _m, fill, font in schema.RAG_RATINGS:
        ws.conditional_format(HEADER_ROW, rag_col, HEADER_ROW + len(recs) - 1, rag_col, {
            "type": "cell", "criteria": "==", "value": f'"{code}"',
            "format": wb.add_format({"bg_color": fill, "font_color": font, "bold": True}),
        })
    ws.freeze_panes(HEADER_ROW, 0)
    ws.protect("", {"format_columns": True, "format_rows": True})
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    hidden = wb.add_worksheet(META_SHEET)
    hidden.write_string(0, 0, "lscb-xl return record: do not edit")
    blob = json.dumps(meta, ensure_ascii=False)
    for k in range(0, len(blob), 30000):  # a cell holds at most 32,767 characters
        hidden.write_string(1 + k // 30000, 0, blob[k:k + 30000])
    hidden.very_hidden()
    ws.activate()
    wb.close()


# --------------------------------------------------------------------------------------------
# Merge
# --------------------------------------------------------------------------------------------


@dataclass
class Change:
    source: str
    agency: str
    ref: str
    field: str
    old: str
    new: str


@dataclass
class MergeReport:
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    backup: Path | None = None
    written: bool = False

    @property
    def ok(self) -> bool:
        return not (self.conflicts or self.rejected or self.findings)


def _read_return(path: Path, key: bytes | None) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The signed metadata and the rows (by ref) of a return, or UnusableWorkbook saying why not."""
    try:
        wb = openpyxl.load_workbook(path)  # formulas come back as their text, which we keep as text
    except Exception as exc:
        raise UnusableWorkbook(f"{path.name}: not an Excel workbook ({exc.__class__.__name__}).") from exc
    if META_SHEET not in wb.sheetnames or RETURN_SHEET not in wb.sheetnames:
        raise UnusableWorkbook(f"{path.name}: not an lscb-xl return (no return record).")
    blob = "".join(str(c.value or "") for c in wb[META_SHEET]["A"][1:])
    try:
        meta = json.loads(blob)
    except json.JSONDecodeError:
        raise UnusableWorkbook(f"{path.name}: its return record is damaged (tampered with?).") from None
    if meta.get("kind") != KIND:
        raise UnusableWorkbook(f"{path.name}: not an lscb-xl return.")
    if key is None or not hmac.compare_digest(str(meta.get("signature", "")), _sign(key, meta)):
        raise UnusableWorkbook(f"{path.name}: was not made from this master workbook, or its record was tampered with.")
    ws = wb[RETURN_SHEET]
    headers = [_text(c.value) for c in ws[HEADER_ROW]]
    wanted = {schema.ACTION_PLAN.column(k).header: k for k in RETURN_COLUMNS}
    pos = {wanted[h]: j for j, h in enumerate(headers) if h in wanted}
    if set(pos) != set(RETURN_COLUMNS):
        raise UnusableWorkbook(f"{path.name}: its columns were changed (tampered with).")
    rows: dict[str, dict[str, str]] = {}
    for r, row in enumerate(ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True), start=HEADER_ROW + 1):
        if not any(v not in (None, "") for v in row):
            continue
        rec = {k: _text(row[j]) for k, j in pos.items()}
        rec["_cell_row"] = str(r)
        rows[rec["ref"]] = rec
    return meta, rows


def _check_return(path: Path, meta: dict[str, Any], rows: dict[str, dict[str, str]]) -> list[str]:
    """Tampering: rows added or removed, or fixed cells (ref, question, action, lead) changed."""
    problems = []
    expected = {r["ref"]: r for r in meta["rows"]}
    if set(rows) != set(expected):
        extra, gone = sorted(set(rows) - set(expected)), sorted(set(expected) - set(rows))
        problems.append(f"{path.name}: rows were added or removed (added {extra or 'none'}, removed {gone or 'none'}).")
    for ref, rec in rows.items():
        if ref in expected and _row_hash(rec, FIXED) != expected[ref]["fixed"]:
            problems.append(f"{path.name}: row {ref} (Return!A{rec['_cell_row']}) had a locked cell changed.")
    return problems


def merge_returns(master: Path, returns: list[Path], now: dt.datetime | None = None) -> MergeReport:
    """Apply the returns' changes to the master file, or nothing at all when anything is wrong."""
    master = Path(master)
    data, _ = read_workbook(master)
    report = plan_merge(data, read_key(master), returns)
    if report.ok and report.changes:
        _write_merge(master, data, report, now or dt.datetime.now())
    return report


def plan_merge(data: BoardData, key: bytes | None, returns: list[Path]) -> MergeReport:
    """Read the returns and decide every change, conflict and rejection; writes nothing."""
    report = MergeReport()
    current = action_index(data)
    touched: dict[str, str] = {}
    for path in map(Path, returns):
        try:
            meta, rows = _read_return(path, key)
        except UnusableWorkbook as exc:
            report.rejected.append(str(exc))
            continue
        problems = _check_return(path, meta, rows)
        if problems:
            report.rejected.extend(problems)
            continue
        for original in meta["rows"]:
            ref = original["ref"]
            incoming = rows[ref]
            changed = [k for k in EDITABLE if incoming[k] != original[k]]
            if not changed:
                continue
            if ref not in current:
                report.conflicts.append(f"{path.name}: row {ref} is no longer in the master's action plan.")
                continue
            _i, master_rec = current[ref]
            if all(_text(master_rec.get(k)) == incoming[k] for k in changed):
                report.already.append(f"{path.name}: row {ref} is already as the return says.")
                continue
            if any(_text(master_rec.get(k)) != original[k] for k in EDITABLE):
                report.conflicts.append(f"{path.name}: row {ref} changed in the master since the return was made "
                                        f"on {meta['made'][:10]}; merge it by hand.")
                continue
            if ref in touched:
                report.conflicts.append(f"{path.name} and {touched[ref]} both change row {ref}.")
                continue
            touched[ref] = path.name
            for k in changed:
                report.changes.append(Change(path.name, meta["agency"], ref, k, original[k], incoming[k]))
    if not (report.conflicts or report.rejected):
        report.findings = _incoming_errors(data, report.changes, current)
    return report


def action_index(data: BoardData) -> dict[str, tuple[int, dict[str, Any]]]:
    """Action-plan records by ref, with their position (for cell addresses)."""
    return {_text(r.get("ref")): (i, r) for i, r in enumerate(data.records(schema.ACTION_PLAN))}


def audit_rows(data: BoardData, changes: list[Change], now: dt.datetime) -> list[dict[str, Any]]:
    """The Audit trail after the merge: what was there plus one row per changed cell."""
    when = now.strftime("%d/%m/%Y %H:%M")
    return list(data.records(schema.AUDIT_TRAIL)) + [
        {"when": when, "source": f"{ch.source} ({ch.agency})", "ref": ch.ref,
         "field": schema.ACTION_PLAN.column(ch.field).header, "old": ch.old, "new": ch.new}
        for ch in changes
    ]


def changed_cells(data: BoardData, changes: list[Change]) -> dict[str, str | None]:
    """A1 address on the Action Plan sheet -> new value, for every change."""
    index = action_index(data)
    return {data.cell(schema.ACTION_PLAN, index[ch.ref][0], ch.field): (ch.new or None) for ch in changes}


def _apply(data: BoardData, changes: list[Change], current: dict[str, tuple[int, dict[str, Any]]]) -> BoardData:
    merged = copy.deepcopy(data)
    recs = merged.tables[schema.ACTION_PLAN.name]
    for ch in changes:
        recs[current[ch.ref][0]][ch.field] = ch.new or None
    return merged


def _incoming_errors(data: BoardData, changes: list[Change],
                     current: dict[str, tuple[int, dict[str, Any]]]) -> list[Finding]:
    """Errors the validation rules find in the changed cells (a return cannot bring in bad data)."""
    merged = _apply(data, changes, current)
    cells = {merged.cell(schema.ACTION_PLAN, current[ch.ref][0], ch.field) for ch in changes}
    return [f for f in validate(merged) if f.severity == "error" and f.sheet == schema.ACTION_PLAN.sheet
            and f.cell in cells]


def _write_merge(master: Path, data: BoardData, report: MergeReport, now: dt.datetime) -> None:
    pkg = ox.Package.open(master)
    part = pkg.sheet_parts()[schema.ACTION_PLAN.sheet]
    out: dict[str, bytes] = {part: ox.set_cells(pkg.read(part), changed_cells(data, report.changes))}
    rewrite_table(pkg, data, schema.AUDIT_TRAIL, audit_rows(data, report.changes, now), out)
    report.backup = atomic_write(master, lambda tmp: ox.write_package(master, tmp, out),
                                 verify=lambda tmp: ox.verify_package(master, tmp, out))
    report.written = True


def describe(report: MergeReport) -> list[str]:
    """Plain-English lines for the command line and the ribbon."""
    lines = [f"REJECTED  {r}" for r in report.rejected] + [f"CONFLICT  {c}" for c in report.conflicts]
    lines += [f"SKIPPED   {a}" for a in report.already]
    lines += [f"INVALID   {f.sheet}!{f.cell}: {f.message}" for f in report.findings]
    if report.written:
        lines += [f"CHANGED   {c.ref} {schema.ACTION_PLAN.column(c.field).header}: {c.old!r} -> {c.new!r} "
                  f"({c.source})" for c in report.changes]
    elif not report.ok:
        lines.append("Nothing was merged: fix the problems above and merge again.")
    else:
        lines.append("No changes in the returns.")
    return lines
