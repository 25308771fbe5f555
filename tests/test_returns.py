"""Partner returns and snapshots, edited as partner staff would (openpyxl and LibreOffice)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lo import require_soffice
from test_refresh import SYSTEM_PYTHON, _has_uno

from lscb_xl import schema
from lscb_xl.builder import build_workbook
from lscb_xl.history import compare
from lscb_xl.model import BoardData
from lscb_xl.ooxml import Package
from lscb_xl.reader import read_workbook
from lscb_xl.returns import make_returns, merge_returns
from lscb_xl.snapshot import take_snapshot

HERE = Path(__file__).resolve().parent


@pytest.fixture()
def master(tmp_path: Path) -> Path:
    return build_workbook(tmp_path / "master.xlsx", BoardData.from_seed())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit(path: Path, cells: dict[str, object]) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb["Return"]
    for address, value in cells.items():
        ws[address] = value
        if isinstance(value, str):
            ws[address].data_type = "s"
    wb.save(path)


def row_of(path: Path, ref: str) -> int:
    ws = openpyxl.load_workbook(path)["Return"]
    return next(c.row for c in ws["A"] if c.value == ref)


def lo_edit(src: Path, cells: dict[str, str], profile: Path) -> Path:
    require_soffice()
    if not _has_uno():
        pytest.fail("LibreOffice's Python bridge (python3-uno) is needed")
    out = src.with_name(src.stem + "-lo.xlsx")
    subprocess.run([SYSTEM_PYTHON, str(HERE / "lo_edit_cells.py"), str(src), str(out), str(profile),
                    json.dumps({"Return": cells})], check=True, timeout=180, capture_output=True, cwd=HERE)
    return out


def test_one_return_per_agency_holding_only_its_actions(master: Path, tmp_path: Path) -> None:
    files = make_returns(master, tmp_path / "returns")
    data, _ = read_workbook(master)
    agencies = {r["agency"] for r in data.records(schema.ACTION_PLAN)}
    assert len(files) == len(agencies)
    for f in files:
        wb = openpyxl.load_workbook(f)
        assert wb["lscb"].sheet_state == "veryHidden"
        ws = wb["Return"]
        assert ws.protection.sheet
        agency = ws["A1"].value.split("return for ")[1]
        refs = [c.value for c in ws["A"][4:] if c.value]
        expected = [r["ref"] for r in data.records(schema.ACTION_PLAN) if r["agency"] == agency]
        assert refs == expected
        locked = {c.column_letter: c.protection.locked for c in ws[5]}
        assert locked == {"A": True, "B": True, "C": True, "D": True, "E": True, "F": False, "G": False, "H": False}


def test_returns_round_trip_with_audit_and_snapshot_diff(master: Path, tmp_path: Path) -> None:
    take_snapshot(master, dt.date(2014, 11, 30))
    files = {f.name: f for f in make_returns(master, tmp_path / "returns")}
    csc = files["return-childrens-social-care.xlsx"]
    edu = files["return-education.xlsx"]
    joint = files["return-childrens-social-care-education.xlsx"]
    r1 = row_of(csc, "1a-1")
    edit(csc, {f"G{r1}": "B", f"H{r1}": "=HYPERLINK(\"http://example.invalid\")"})
    r2 = row_of(joint, "5a-1")
    edit(joint, {f"G{r2}": "A", f"F{r2}": "Toolkit delayed: staff changes"})
    r3 = row_of(edu, "1a-2")
    edu_lo = lo_edit(edu, {f"G{r3}": "R", f"F{r3}": "Edited in LibreOffice"}, tmp_path / "profile")
    report = merge_returns(master, [csc, joint, edu_lo])
    assert report.ok and report.written, report
    ap = openpyxl.load_workbook(master)[schema.ACTION_PLAN.sheet]
    data, _ = read_workbook(master)
    index = {r["ref"]: i for i, r in enumerate(data.records(schema.ACTION_PLAN))}

    def cell(ref: str, key: str) -> openpyxl.cell.Cell:
        return ap[data.cell(schema.ACTION_PLAN, index[ref], key)]

    assert cell("1a-1", "rag").value == "B"
    assert cell("1a-1", "target").value == '=HYPERLINK("http://example.invalid")'
    assert cell("1a-1", "target").data_type == "s"  # formula-looking text stays text
    assert cell("5a-1", "rag").value == "A" and cell("1a-2", "rag").value == "R"
    assert cell("1a-2", "response").value == "Edited in LibreOffice"
    trail = data.records(schema.AUDIT_TRAIL)
    assert {(t["ref"], t["field"], t["old"], t["new"]) for t in trail} >= {
        ("1a-1", "RAG", "G", "B"), ("5a-1", "RAG", "G", "A"), ("1a-2", "RAG", "G", "R"),
    }
    assert all(t["source"] and t["when"] for t in trail)
    result = take_snapshot(master, dt.date(2015, 2, 23))
    changes = result.changes
    assert [c["ref"] for c in changes.completed] == ["1a-1"]
    assert {c["ref"] for c in changes.moved_down} == {"5a-1", "1a-2"}
    data, _ = read_workbook(master)
    assert compare(data, dt.date(2015, 3, 1)).since == dt.date(2015, 2, 23)
    home = openpyxl.load_workbook(master)[schema.HOME]
    assert "1 completed" in home["B10"].value and "2 down" in home["B10"].value


def test_conflicts_change_nothing(master: Path, tmp_path: Path) -> None:
    first = {f.name: f for f in make_returns(master, tmp_path / "a")}["return-education.xlsx"]
    second = {f.name: f for f in make_returns(master, tmp_path / "b")}["return-education.xlsx"]
    r = row_of(first, "1a-2")
    edit(first, {f"G{r}": "A"})
    edit(second, {f"G{r}": "R"})
    before = digest(master)
    report = merge_returns(master, [first, second])
    assert not report.ok and any("both change row 1a-2" in c for c in report.conflicts)
    assert digest(master) == before
    # the master changed after the return was made
    merge_returns(master, [first])
    report = merge_returns(master, [second])
    assert any("changed in the master" in c for c in report.conflicts)


@pytest.mark.parametrize("tamper", ["locked-cell", "record", "added-row", "not-ours"])
def test_tampered_and_foreign_returns_rejected(master: Path, tmp_path: Path, tamper: str) -> None:
    ret = {f.name: f for f in make_returns(master, tmp_path / "r")}["return-education.xlsx"]
    r = row_of(ret, "1a-2")
    edit(ret, {f"G{r}": "A"})
    wb = openpyxl.load_workbook(ret)
    if tamper == "locked-cell":
        wb["Return"][f"D{r}"] = "An easier action"
    elif tamper == "record":
        meta = json.loads(wb["lscb"]["A2"].value)
        meta["rows"][0]["rag"] = "A"
        wb["lscb"]["A2"] = json.dumps(meta)
    elif tamper == "added-row":
        wb["Return"].append(["9z-9", "9z", "", "A new action", "NL", "", "G", ""])
    else:
        wb = openpyxl.Workbook()
        wb.active.title = "Return"
    wb.save(ret)
    before = digest(master)
    report = merge_returns(master, [ret])
    assert report.rejected and not report.written
    assert digest(master) == before


def test_invalid_incoming_values_refused(master: Path, tmp_path: Path) -> None:
    ret = {f.name: f for f in make_returns(master, tmp_path / "r")}["return-education.xlsx"]
    r = row_of(ret, "1a-2")
    edit(ret, {f"G{r}": "Green-ish"})
    before = digest(master)
    report = merge_returns(master, [ret])
    assert report.findings and report.findings[0].rule == "allowed-value"
    assert digest(master) == before


def test_snapshot_is_append_only(master: Path) -> None:
    from lscb_xl.safesave import RefusedError

    take_snapshot(master, dt.date(2015, 1, 31))
    with pytest.raises(RefusedError, match="already has a snapshot"):
        take_snapshot(master, dt.date(2015, 1, 31))
    data, _ = read_workbook(master)
    rows = data.records(schema.HISTORY)
    assert len(rows) == len(data.records(schema.ACTION_PLAN))
    assert {r["snapshot"] for r in rows} == {dt.date(2015, 1, 31)}


def test_stuck_overdue_actions(master: Path) -> None:
    """An overdue action whose rating stayed the same over three snapshots is reported."""
    for day in (dt.date(2014, 10, 31), dt.date(2014, 11, 30), dt.date(2014, 12, 31)):
        take_snapshot(master, day)
    data, _ = read_workbook(master)
    changes = compare(data, dt.date(2015, 2, 23))
    assert "4b-2" in {c["ref"] for c in changes.stuck}  # target "Sept 14", still Green


def test_snapshot_leaves_other_parts(master: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.xlsx"
    shutil.copy(master, copy)
    take_snapshot(copy, dt.date(2015, 2, 23))
    pkg = Package.open(master)
    sheets = pkg.sheet_parts()
    expected = {sheets[schema.HOME], sheets[schema.HISTORY_SHEET], pkg.tables()[schema.HISTORY.name].part}
    a, b = zipfile.ZipFile(master), zipfile.ZipFile(copy)
    changed = {n for n in a.namelist() if a.read(n) != b.read(n)}
    assert changed == expected


def test_summary_shows_changes_since_previous_snapshot(master: Path, tmp_path: Path) -> None:
    from lscb_xl.summary import build_context
    from lscb_xl.validation import validate

    take_snapshot(master, dt.date(2014, 11, 30))
    ret = {f.name: f for f in make_returns(master, tmp_path / "r")}["return-education.xlsx"]
    edit(ret, {f"G{row_of(ret, '1a-2')}": "B"})
    assert merge_returns(master, [ret]).written
    data, _ = read_workbook(master)
    context = build_context(data, validate(data))
    assert context["actions"]["changes"] == ["1a-2: G to B (completed)"]
    assert "Since 30/11/2014" in context["actions"]["changes_note"]
