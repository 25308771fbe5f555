"""Ribbon commands through the real xlwings remote engine (``xw.Book(json=...)``)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import xlwings as xw
from excel_client import apply_actions, client_actions
from lo import require_soffice, soffice_convert

from lscb_xl import ribbon, schema
from lscb_xl.builder import build_workbook
from lscb_xl.model import BoardData
from lscb_xl.payload import payload_from_file
from lscb_xl.refresh import check, refresh


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("rb") / "master.xlsx", BoardData.from_seed())


def run_remote(path: Path, command: str) -> tuple[object, list[dict]]:
    book = xw.Book(json=payload_from_file(path))
    result = ribbon.COMMANDS[command](book)
    return result, book.json()["actions"]


def validation_rows(path: Path) -> list[tuple]:
    ws = openpyxl.load_workbook(path)[schema.VALIDATION]
    rows = []
    for row in ws.iter_rows(min_row=5, values_only=True):
        if not any(row):
            continue
        sev, sheet, cell, rule, msg = row[:5]
        if isinstance(cell, str) and cell.startswith("=HYPERLINK("):
            cell = cell.rsplit(",", 1)[1].strip('")')
        rows.append((sev, sheet, cell, rule, msg))
    return rows


@pytest.mark.parametrize("command", ["validate", "refresh"])
def test_remote_commands_match_the_command_line(seeded: Path, tmp_path: Path, command: str) -> None:
    findings, actions = run_remote(seeded, command)
    assert {a["func"] for a in actions} <= client_actions()
    applied = apply_actions(seeded, tmp_path / "applied.xlsx", actions)
    assert applied == []
    cli_copy = tmp_path / "cli.xlsx"
    cli_copy.write_bytes(seeded.read_bytes())
    cli_findings = refresh(cli_copy).findings
    assert findings == cli_findings
    assert validation_rows(tmp_path / "applied.xlsx") == validation_rows(cli_copy)
    # The workbook after the ribbon's edits reads back to the same findings
    assert check(tmp_path / "applied.xlsx")[1] == cli_findings


def test_refresh_stamps_home_and_is_cheap(seeded: Path) -> None:
    _findings, actions = run_remote(seeded, "refresh")
    assert len(actions) <= 25
    stamps = [a for a in actions if a["sheet_position"] == 0]
    assert stamps and "lscb-xl" in stamps[0]["values"][0][0]


def test_refresh_restores_typed_over_formulas(seeded: Path, tmp_path: Path) -> None:
    require_soffice()
    broken = tmp_path / "typed.xlsx"
    wb = openpyxl.load_workbook(seeded)
    wb[schema.PUBLISHED]["G7"] = 27184  # someone typed the printed figure over the formula
    wb.save(broken)
    _f, actions = run_remote(broken, "refresh")
    fixes = [a for a in actions if a["sheet_position"] == schema.SHEETS.index(schema.PUBLISHED)]
    assert len(fixes) == 1 and all(str(v[0]).startswith("=") for v in fixes[0]["values"])
    apply_actions(broken, tmp_path / "fixed.xlsx", actions)
    lo = soffice_convert(tmp_path / "fixed.xlsx", tmp_path / "lo", "xlsx")
    assert openpyxl.load_workbook(lo, data_only=True)[schema.PUBLISHED]["G7"].value == 27684


def test_rag_command_normalises_words(seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "words.xlsx"
    wb = openpyxl.load_workbook(seeded)
    wb[schema.ACTION_PLAN.sheet]["H5"] = "green"
    wb[schema.ACTION_PLAN.sheet]["H6"] = "Amber"
    wb.save(path)
    changed, actions = run_remote(path, "rag")
    assert changed == 2 and len(actions) == 1
    apply_actions(path, tmp_path / "out.xlsx", actions)
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx")[schema.ACTION_PLAN.sheet]
    assert (ws["H5"].value, ws["H6"].value, ws["H7"].value) == ("G", "A", "G")


def test_risky_text_in_messages_is_not_a_formula(seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "risky.xlsx"
    wb = openpyxl.load_workbook(seeded)
    cell = wb[schema.ACTION_PLAN.sheet]["E5"]
    cell.value, cell.data_type = "=cmd|' /C calc'!A0", "s"
    wb.save(path)
    _f, actions = run_remote(path, "validate")
    block = next(a for a in actions if a["func"] == "setValues")
    messages = [row[4] for row in block["values"]]
    assert not any(str(m).startswith("=") for m in messages)


def test_summary_next_to_workbook(seeded: Path, tmp_path: Path) -> None:
    pytest.importorskip("docxtpl")
    book = xw.Book(json=payload_from_file(seeded))
    written = ribbon.summary_book(book, out_dir=tmp_path)
    assert Path(written["docx"]).exists() and Path(written["html"]).exists()


def test_dispatch_unknown_tag(seeded: Path) -> None:
    with pytest.raises(ValueError, match="no command"):
        ribbon.dispatch("format-c-drive", xw.Book(json=payload_from_file(seeded)))


def test_snapshot_button_appends_history(seeded: Path, tmp_path: Path) -> None:
    import datetime as dt

    book = xw.Book(json=payload_from_file(seeded))
    changes = ribbon.snapshot_book(book, dt.date(2015, 2, 23))
    actions = book.json()["actions"]
    assert {a["func"] for a in actions} <= client_actions()
    assert changes.since is None
    apply_actions(seeded, tmp_path / "snap.xlsx", actions)
    data, _ = check(tmp_path / "snap.xlsx")
    rows = data.records(schema.HISTORY)
    assert len(rows) == len(data.records(schema.ACTION_PLAN))
    assert {r["snapshot"] for r in rows} == {dt.date(2015, 2, 23)}
    # a second snapshot through the file route compares with the first
    from lscb_xl.snapshot import take_snapshot

    result = take_snapshot(tmp_path / "snap.xlsx", dt.date(2015, 5, 31))
    assert result.changes.since == dt.date(2015, 2, 23)


def test_merge_button_applies_returns_to_the_open_workbook(seeded: Path, tmp_path: Path) -> None:
    from lscb_xl.returns import make_returns

    master = tmp_path / "master.xlsx"
    master.write_bytes(seeded.read_bytes())
    files = {f.name: f for f in make_returns(master, tmp_path / "returns")}
    ret = files["return-education.xlsx"]
    wb = openpyxl.load_workbook(ret)
    ws = wb["Return"]
    row = next(c.row for c in ws["A"] if c.value == "1a-2")
    ws[f"G{row}"] = "A"
    ws[f"F{row}"] = "=SUM(1,2)"
    ws[f"F{row}"].data_type = "s"
    wb.save(ret)
    book = xw.Book(json=payload_from_file(master))
    report = ribbon.returns_merge_book(book, [ret], master=master)
    assert report.ok and report.written
    actions = book.json()["actions"]
    assert {a["func"] for a in actions} <= client_actions()
    alerts = apply_actions(master, tmp_path / "merged.xlsx", actions)
    assert alerts and "CHANGED" in alerts[0]
    out = openpyxl.load_workbook(tmp_path / "merged.xlsx")
    ap = out[schema.ACTION_PLAN.sheet]
    assert ap["H6"].value == "A"
    assert ap["F6"].value == "=SUM(1,2)" and ap["F6"].data_type == "s"
    data, _ = check(tmp_path / "merged.xlsx")
    assert {(t["ref"], t["field"], t["new"]) for t in data.records(schema.AUDIT_TRAIL)} == {
        ("1a-2", "RAG", "A"), ("1a-2", "Response", "=SUM(1,2)"),
    }


def test_dispatch_turns_problems_into_a_message(seeded: Path) -> None:
    payload = payload_from_file(seeded)
    payload["sheets"] = [s for s in payload["sheets"] if s["name"] != schema.TRAINING.sheet]
    book = xw.Book(json=payload)
    assert ribbon.dispatch("validate", book) is None
    actions = book.json()["actions"]
    assert [a["func"] for a in actions] == ["alert"]
    assert "Training" in actions[0]["args"][0]
