"""Malformed input through the command line: findings or exit 2 with one line, never a traceback,
never a changed original."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.table import TableColumn

from lscb_xl import schema
from lscb_xl.builder import build_workbook
from lscb_xl.model import BoardData


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("p") / "master.xlsx", BoardData.from_seed())


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lscb_xl", *args], capture_output=True, text=True, timeout=120)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edited(pristine: Path, tmp_path: Path, edit: Callable[[openpyxl.Workbook], None]) -> Path:
    path = tmp_path / "master.xlsx"
    shutil.copy(pristine, path)
    wb = openpyxl.load_workbook(path)
    edit(wb)
    wb.save(path)
    return path


def set_cell(sheet: str, coord: str, value: object, as_text: bool = False) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb: openpyxl.Workbook) -> None:
        cell = wb[sheet][coord]
        cell.value = value
        if as_text:
            cell.data_type = "s"

    return edit


def assert_clean_failure(res: subprocess.CompletedProcess[str]) -> None:
    assert res.returncode == 2, res
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("lscb-xl: ")


@pytest.mark.parametrize(
    ("edit", "rule", "cell"),
    [
        (set_cell("Training", "E6", "fifty-two"), "whole-number", "Training!E6"),
        (set_cell("Training", "A7", None), "required", "Training!A7"),
        (set_cell("Finance", "C10", -550), "negative", "Finance!C10"),
        (set_cell("Action Plan", "H5", "Green"), "allowed-value", "Action Plan!H5"),
        (set_cell("Action Plan", "E6", "=1+1", as_text=True), "allowed-value", "Action Plan!E6"),
    ],
)
def test_bad_cells_become_findings(pristine: Path, tmp_path: Path, edit: Callable, rule: str, cell: str) -> None:
    path = edited(pristine, tmp_path, edit)
    res = run("validate", str(path), "--json")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    import json

    found = {(f["rule"], f"{f['sheet']}!{f['cell']}") for f in json.loads(res.stdout)}
    assert (rule, cell) in found


def test_merged_cells_reported(pristine: Path, tmp_path: Path) -> None:
    path = edited(pristine, tmp_path, lambda wb: wb["Audits"].merge_cells("C6:D6"))
    res = run("validate", str(path))
    assert res.returncode == 1
    assert "merged" in res.stdout and "Audits!C6" in res.stdout


def test_extra_and_missing_columns(pristine: Path, tmp_path: Path) -> None:
    def edit(wb: openpyxl.Workbook) -> None:
        ws = wb["Audits"]
        table = ws.tables["Audits"]
        table.ref = "A4:G20"
        table.tableColumns.append(TableColumn(id=7, name="My notes"))
        ws["G4"] = "My notes"
        table.tableColumns[5].name = "State"
        ws["F4"] = "State"
        table.autoFilter.ref = table.ref

    path = edited(pristine, tmp_path, edit)
    res = run("validate", str(path))
    assert res.returncode == 1
    assert "[extra-column]" in res.stdout and "'My notes'" in res.stdout
    assert "[missing-column]" in res.stdout and "'Status'" in res.stdout


def test_renamed_sheet_refused(pristine: Path, tmp_path: Path) -> None:
    def edit(wb: openpyxl.Workbook) -> None:
        wb["Training"].title = "Training 2011"

    path = edited(pristine, tmp_path, edit)
    before = digest(path)
    res = run("refresh", str(path))
    assert_clean_failure(res)
    assert "Training" in res.stderr and "rename" in res.stderr.lower()
    assert digest(path) == before


@pytest.mark.parametrize(
    "make",
    [
        lambda p, src: p.write_bytes(src.read_bytes()[: len(src.read_bytes()) // 2]),  # truncated
        lambda p, src: p.write_text("Name,Total\nA,1\n"),  # a CSV renamed .xlsx
        lambda p, src: p.write_bytes(b""),  # empty
    ],
    ids=["truncated", "not-excel", "empty"],
)
def test_unusable_files(pristine: Path, tmp_path: Path, make: Callable[[Path, Path], None]) -> None:
    path = tmp_path / "broken.xlsx"
    make(path, pristine)
    before = digest(path)
    for cmd in ("validate", "refresh"):
        res = run(cmd, str(path))
        assert_clean_failure(res)
    assert digest(path) == before
    assert not (tmp_path / "lscb-xl-backups").exists()


def test_not_one_of_ours(tmp_path: Path) -> None:
    path = tmp_path / "budget.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "Budget"
    wb.save(path)
    before = digest(path)
    res = run("refresh", str(path))
    assert_clean_failure(res)
    assert "not an lscb-xl master workbook" in res.stderr
    assert digest(path) == before


def test_missing_file() -> None:
    assert_clean_failure(run("validate", "/nonexistent/master.xlsx"))


def test_open_in_excel_refused(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "master.xlsx"
    shutil.copy(pristine, path)
    (tmp_path / "~$master.xlsx").write_bytes(b"lock")
    res = run("refresh", str(path))
    assert_clean_failure(res)
    assert "open in Excel" in res.stderr
    assert digest(path) == digest(pristine)


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_read_only_refused(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "master.xlsx"
    shutil.copy(pristine, path)
    path.chmod(0o444)
    res = run("refresh", str(path))
    assert_clean_failure(res)
    assert "read-only" in res.stderr.lower()
    assert digest(path) == digest(pristine)


def test_formula_looking_text_stays_text(pristine: Path, tmp_path: Path) -> None:
    """Text typed by users is never turned into a formula, in their cells or in our messages."""
    risky = '=HYPERLINK("http://example.invalid","x")'
    path = edited(pristine, tmp_path, set_cell("Action Plan", "E7", risky, as_text=True))
    res = run("refresh", str(path))
    assert res.returncode == 1
    wb = openpyxl.load_workbook(path)
    assert wb["Action Plan"]["E7"].data_type == "s"
    assert wb["Action Plan"]["E7"].value == risky
    messages = [c for row in wb[schema.VALIDATION].iter_rows(min_row=5) for c in row if c.value]
    assert any(risky in str(c.value) for c in messages)
    assert all(c.data_type != "f" for c in messages)


def test_blank_workbook_reads_as_no_records(tmp_path: Path) -> None:
    """A new year's blank workbook has no records (the calculated Total column's 0 is not a record)."""
    path = tmp_path / "blank.xlsx"
    assert run("new", str(path), "--blank").returncode == 0
    res = run("validate", str(path), "--json")
    assert res.returncode == 0, res.stdout
