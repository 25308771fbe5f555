"""A new year's workbook: the pure rollover on the demo board, then the command, read back and
recalculated by LibreOffice."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from lo import require_soffice, soffice_convert
from typer.testing import CliRunner

from lscb_xl import figures, schema
from lscb_xl.builder import build_workbook
from lscb_xl.cli import app
from lscb_xl.errors import UnusableWorkbook
from lscb_xl.model import BoardData
from lscb_xl.reader import read_workbook
from lscb_xl.rollover import next_year, one_year_on, period_label

CLOSED = ("1a-1", "3b-1", "6c-1")  # rated B in the copy the tests roll over
COMPUTED_CARRY_FORWARD = 27684  # what the year's finance lines give
PRINTED_CARRY_FORWARD = 27184  # what the annual report printed
runner = CliRunner()


def history_row(ref: str, snapshot: dt.date, rag: str = "G") -> dict[str, Any]:
    return {"snapshot": snapshot, "taken": f"{snapshot:%d/%m/%Y} 09:00", "ref": ref, "agency": "Education",
            "lead": "NL", "rag": rag, "target": "Mar-15", "deadline": dt.date(2015, 3, 31), "overdue": "No"}


def year_with_closed_actions() -> BoardData:
    """The demo board with three actions completed and a History of two snapshots."""
    data = BoardData.from_seed()
    for rec in data.records(schema.ACTION_PLAN):
        if rec["ref"] in CLOSED:
            rec["rag"] = "B"
    data.tables[schema.HISTORY.name] = [history_row(ref, day) for day in (dt.date(2014, 12, 1), dt.date(2015, 2, 23))
                                        for ref in ("1a-1", "1a-2", "6c-1", "8e-2")]
    return data


def open_refs(data: BoardData) -> list[str]:
    return [r["ref"] for r in data.records(schema.ACTION_PLAN) if r["ref"] not in CLOSED]


# --------------------------------------------------------------------------------------------
# next_year: the pure function
# --------------------------------------------------------------------------------------------


def test_period_moves_on_one_year() -> None:
    new = next_year(BoardData.from_seed())
    assert new.settings == {"BoardName": "Thurrock Local Safeguarding Children Board",
                            "PeriodStart": dt.date(2012, 4, 1), "PeriodEnd": dt.date(2013, 3, 31),
                            "AsAt": dt.date(2012, 4, 1), "LastRefreshed": None, "SnapshotChanges": None}


def test_balance_brought_forward_is_the_computed_carry_forward() -> None:
    old = BoardData.from_seed()
    computed = figures.evaluate(figures.CARRY_FORWARD, old.tables)
    printed = {r["figure_id"]: r["published"] for r in old.records(schema.PUBLISHED_TABLE)}["finance.carry_forward"]
    assert (computed, printed) == (COMPUTED_CARRY_FORWARD, PRINTED_CARRY_FORWARD)
    new = next_year(old)
    [line] = new.records(schema.FINANCE)
    assert line["kind"] == "Balance brought forward"
    assert line["item"] == "Balance brought forward from 2011/12"
    assert line["amount"] == COMPUTED_CARRY_FORWARD
    assert figures.evaluate(figures.TOTAL_INCOME, new.tables) == COMPUTED_CARRY_FORWARD
    assert figures.evaluate(figures.TOTAL_EXPENDITURE, new.tables) == 0


def test_open_actions_carry_with_their_history() -> None:
    old = year_with_closed_actions()
    before = copy.deepcopy(old)
    new = next_year(old)
    assert [r["ref"] for r in new.records(schema.ACTION_PLAN)] == open_refs(old)
    assert not {r["ref"] for r in new.records(schema.ACTION_PLAN)} & set(CLOSED)
    assert new.records(schema.ACTION_PLAN)[0] == old.records(schema.ACTION_PLAN)[1]  # carried as it was
    assert new.records(schema.HISTORY) == [r for r in old.records(schema.HISTORY) if r["ref"] in ("1a-2", "8e-2")]
    assert (old.tables, old.settings, old.lookups) == (before.tables, before.settings, before.lookups)


def test_the_years_records_start_empty_and_lookups_stay() -> None:
    old = BoardData.from_seed()
    new = next_year(old)
    for table in (schema.TRAINING, schema.EARLY_HELP, schema.AUDITS, schema.AUDIT_TRAIL):
        assert new.records(table) == [], table.name
    published = new.records(schema.PUBLISHED_TABLE)
    assert [r["figure_id"] for r in published] == [r["figure_id"] for r in old.records(schema.PUBLISHED_TABLE)]
    assert all(r["published"] is None for r in published)
    assert new.lookups == old.lookups and new.lookups is not old.lookups


def test_dates_and_labels() -> None:
    assert one_year_on(dt.date(2012, 2, 29)) == dt.date(2013, 2, 28)
    assert one_year_on(dt.date(2011, 4, 1)) == dt.date(2012, 4, 1)
    assert period_label(dt.date(2011, 4, 1), dt.date(2012, 3, 31)) == "2011/12"
    assert period_label(dt.date(2099, 4, 1), dt.date(2100, 3, 31)) == "2099/00"
    assert period_label(dt.date(2014, 1, 1), dt.date(2014, 12, 31)) == "2014"
    assert period_label(dt.date(2014, 9, 1), dt.date(2014, 12, 31)) == "01/09/2014 to 31/12/2014"


def test_no_period_no_rollover() -> None:
    data = BoardData.from_seed()
    data.settings["PeriodEnd"] = None
    with pytest.raises(UnusableWorkbook, match="reporting period"):
        next_year(data)


# --------------------------------------------------------------------------------------------
# lscb-xl rollover: the new workbook, read back and recalculated
# --------------------------------------------------------------------------------------------


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(this year's workbook, next year's, this year's digest before the command ran)."""
    folder = tmp_path_factory.mktemp("year")
    old = build_workbook(folder / "2011-12.xlsx", year_with_closed_actions())
    before = digest(old)
    result = runner.invoke(app, ["rollover", str(old), "--out", str(folder / "2012-13.xlsx")])
    assert result.exit_code == 0, result.output
    assert "Balance brought forward from 2011/12: £27,684" in result.stdout
    assert f"Carried {len(open_refs(year_with_closed_actions()))} open action(s) with 4 History row(s); 3 closed" \
        in result.stdout
    return old, folder / "2012-13.xlsx", before


def test_new_workbook_reads_back(rolled: tuple[Path, Path, str]) -> None:
    old, new, before = rolled
    assert digest(old) == before  # this year's workbook is only read
    data, findings = read_workbook(new)
    assert not [f for f in findings if f.severity == "error"]
    assert data.settings["PeriodStart"] == dt.date(2012, 4, 1)
    assert data.settings["PeriodEnd"] == dt.date(2013, 3, 31)
    assert data.settings["AsAt"] == dt.date(2012, 4, 1)
    [line] = data.records(schema.FINANCE)
    assert (line["item"], line["amount"]) == ("Balance brought forward from 2011/12", COMPUTED_CARRY_FORWARD)
    assert [r["ref"] for r in data.records(schema.ACTION_PLAN)] == open_refs(year_with_closed_actions())
    assert sorted(r["ref"] for r in data.records(schema.HISTORY)) == ["1a-2", "1a-2", "8e-2", "8e-2"]
    assert data.records(schema.TRAINING) == [] and data.records(schema.AUDITS) == []
    # An empty Early Help table reads back as one row holding only its calculated Total (the
    # reader's blank-row rule counts the formula cell); no row carries anything typed.
    inputs = [c.key for c in schema.EARLY_HELP.input_columns]
    assert not [r for r in data.records(schema.EARLY_HELP) if any(r.get(k) is not None for k in inputs)]
    assert all(r["published"] is None for r in data.records(schema.PUBLISHED_TABLE))


def test_libreoffice_recalculates_the_new_finance_summary(rolled: tuple[Path, Path, str], tmp_path: Path) -> None:
    require_soffice()
    _old, new, _before = rolled
    fin = openpyxl.load_workbook(soffice_convert(new, tmp_path, "xlsx"), data_only=True)[schema.FINANCE.sheet]
    summary = {fin.cell(row=r, column=6).value: fin.cell(row=r, column=7).value for r in range(5, 10)}
    assert summary["Total income"] == COMPUTED_CARRY_FORWARD
    assert summary["Balance brought forward"] == COMPUTED_CARRY_FORWARD
    assert summary["Total expenditure"] == 0
    assert summary["Carry forward"] == COMPUTED_CARRY_FORWARD


def test_refuses_to_overwrite_without_force(rolled: tuple[Path, Path, str]) -> None:
    old, new, _before = rolled
    kept = digest(new)
    result = runner.invoke(app, ["rollover", str(old), "--out", str(new)])
    assert result.exit_code == 2 and "already exists; pass --force" in result.stderr
    assert digest(new) == kept


def test_force_overwrites_with_a_backup(tmp_path: Path) -> None:
    old = build_workbook(tmp_path / "old.xlsx", BoardData.from_seed())
    new = build_workbook(tmp_path / "new.xlsx", BoardData.from_seed(blank=True))
    result = runner.invoke(app, ["rollover", str(old), "--out", str(new), "--force"])
    assert result.exit_code == 0, result.output
    assert read_workbook(new)[0].records(schema.FINANCE)[0]["amount"] == COMPUTED_CARRY_FORWARD
    assert len(list((tmp_path / "lscb-xl-backups").glob("new.*.xlsx"))) == 1


@pytest.mark.parametrize("name", ["same", "next.xlsm"])
def test_refuses_to_touch_the_source_or_write_a_macro_name(tmp_path: Path, name: str) -> None:
    old = build_workbook(tmp_path / "old.xlsx", BoardData.from_seed())
    before = digest(old)
    out = old if name == "same" else tmp_path / name
    result = runner.invoke(app, ["rollover", str(old), "--out", str(out), "--force"])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert digest(old) == before and not (tmp_path / "next.xlsm").exists()


def test_unusable_source(tmp_path: Path) -> None:
    bad = tmp_path / "old.xlsx"
    bad.write_text("not a workbook", encoding="utf-8")
    result = runner.invoke(app, ["rollover", str(bad), "--out", str(tmp_path / "new.xlsx")])
    assert result.exit_code == 2 and "not an Excel workbook" in result.stderr
    assert not (tmp_path / "new.xlsx").exists()
