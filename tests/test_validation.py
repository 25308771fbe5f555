"""Validation rules over plain data: the seed's known mistakes, and malformed entries."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from lscb_xl import schema
from lscb_xl.model import BoardData
from lscb_xl.validation import Finding, lead_tokens, validate


@pytest.fixture(scope="module")
def seed_data() -> BoardData:
    return BoardData.from_seed()


@pytest.fixture()
def data(seed_data: BoardData) -> BoardData:
    return copy.deepcopy(seed_data)


def _by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def _published_row(data: BoardData, figure_id: str) -> int:
    ids = [r["figure_id"] for r in data.records(schema.PUBLISHED_TABLE)]
    return schema.PUBLISHED_TABLE.anchor_row + 1 + ids.index(figure_id)


def test_every_published_mistake_found_and_no_other(seed_data: BoardData) -> None:
    """The report's arithmetic mistakes, each at its Published cell; the correct figures pass."""
    found = _by_rule(validate(seed_data), "published-mismatch")
    cells = {f.cell for f in found}
    expected = {
        f"D{_published_row(seed_data, fid)}"
        for fid in (
            "finance.carry_forward",  # 110,922 - 83,238 = 27,684, printed 27,184
            "training.share.other",  # 14 of 324 = 4.3%, printed 5%
            "early_help.deescalated_share_q4",  # 8 of 42 = 19%, printed 23% (8/34)
            "early_help.white_british_share",  # 163 of 176 = 92.6%, printed 92% (truncated)
        )
    }
    assert cells == expected
    assert all(f.severity == "error" and f.sheet == schema.PUBLISHED for f in found)
    carry = next(f for f in found if "Carry forward" in f.message)
    assert "27,184" in carry.message and "27,684" in carry.message


def test_seed_structural_warnings(seed_data: BoardData) -> None:
    findings = validate(seed_data)
    outside = {f.cell for f in _by_rule(findings, "outside-period")}
    assert outside == {"B5", "B6", "B12"}  # 14/2/11, 16/3/11 and the 8/6/12 typo
    lead = _by_rule(findings, "lead-unknown")
    assert len(lead) == 1 and "'N/L'" in lead[0].message
    assert _by_rule(findings, "quarter-mismatch")[0].message.startswith("Q1:")
    year = _by_rule(findings, "target-year")
    assert len(year) == 1 and "205" in year[0].message
    assert not _by_rule(findings, "sector-sum")
    assert not _by_rule(findings, "required")


def test_errors_come_first(seed_data: BoardData) -> None:
    sev = [f.severity for f in validate(seed_data)]
    assert sev == sorted(sev, key=lambda s: s != "error")


def test_sector_breakdown_must_add_up(data: BoardData) -> None:
    data.tables["Training"][0]["sec_health"] = 12  # was 11
    found = _by_rule(validate(data), "sector-sum")
    assert len(found) == 1
    assert found[0].cell == "E5" and "52" in found[0].message and "51" in found[0].message


def test_published_percentages_must_add_to_100(data: BoardData) -> None:
    recs = data.tables[schema.PUBLISHED_TABLE.name]
    next(r for r in recs if r["figure_id"] == "training.share.other")["published"] = 0.04
    findings = validate(data)
    assert _by_rule(findings, "percent-sum")
    assert "99%" in _by_rule(findings, "percent-sum")[0].message


@pytest.mark.parametrize(
    ("table", "key", "value", "rule"),
    [
        ("Training", "total", "fifty", "whole-number"),
        ("Training", "total", 12.5, "whole-number"),
        ("Training", "sec_youth", -2, "negative"),
        ("Training", "event", None, "required"),
        ("Training", "date", "31/02/2012", "date"),
        ("Training", "sectors_recorded", "maybe", "allowed-value"),
        ("Finance", "amount", -50.0, "negative"),
        ("Finance", "amount", "lots", "money"),
        ("Finance", "kind", "Gift", "allowed-value"),
        ("ActionPlan", "rag", "Green", "allowed-value"),
        ("ActionPlan", "agency", "=1+1", "allowed-value"),
        ("Audits", "status", "", "required"),
    ],
)
def test_bad_values_named_by_cell(data: BoardData, table: str, key: str, value: object, rule: str) -> None:
    data.tables[table][0][key] = value
    t = schema.TABLE_BY_NAME[table]
    found = [f for f in validate(data) if f.rule == rule and f.cell == data.cell(t, 0, key)]
    assert found, rule
    assert found[0].sheet == t.sheet and found[0].severity == "error"


def test_date_typed_as_text_is_read_day_first(data: BoardData) -> None:
    data.tables["Training"][2]["date"] = "7/8/11"
    found = [f for f in validate(data) if f.rule == "date-as-text"]
    assert found and "07 August 2011" in found[0].message


def test_duplicates_and_refs(data: BoardData) -> None:
    recs = data.tables["ActionPlan"]
    recs.append(dict(recs[0]))
    findings = validate(data)
    assert _by_rule(findings, "duplicate")
    assert _by_rule(findings, "duplicate-ref")


def test_overdue_and_stale_green(data: BoardData) -> None:
    data.settings["AsAt"] = dt.date(2015, 8, 1)
    findings = validate(data)
    overdue = _by_rule(findings, "overdue")
    assert any("30/06/2015" in f.message for f in overdue)  # Jun-15 targets are past
    assert _by_rule(findings, "stale-green")
    completed_refs = {
        data.cell(schema.ACTION_PLAN, i, "rag")
        for i, r in enumerate(data.records(schema.ACTION_PLAN))
        if str(r.get("target") or "").lower().startswith("completed")
    }
    assert not completed_refs & {f.cell for f in overdue}


def test_blue_is_never_overdue(data: BoardData) -> None:
    data.settings["AsAt"] = dt.date(2016, 8, 1)
    for r in data.tables["ActionPlan"]:
        r["rag"] = "B"
    assert not _by_rule(validate(data), "overdue")


def test_lead_tokens() -> None:
    known = ["NL", "AC", "JW", "SMT", "LSCB", "Strategy sub-group", "LSCB Audit Group"]
    assert lead_tokens("NL/ AC/ LSCB", known) == (["NL", "AC", "LSCB"], [])
    assert lead_tokens("Strategy sub-group. JW/ NL /AC", known)[1] == []
    assert lead_tokens("JW SMT / JW", known)[1] == []
    assert lead_tokens("N/L", known)[1] == ["N", "L"]


def test_blank_board_is_clean_of_errors() -> None:
    findings = validate(BoardData.from_seed(blank=True))
    assert not [f for f in findings if f.severity == "error"]


def test_unknown_unit_is_reported_not_guessed(data: BoardData) -> None:
    recs = data.tables[schema.PUBLISHED_TABLE.name]
    recs[0]["unit"] = "pounds"
    found = [f for f in validate(data) if f.sheet == schema.PUBLISHED and f.cell == "E5"]
    assert found and found[0].rule == "allowed-value" and "'pounds'" in found[0].message
