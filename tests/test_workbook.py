"""The master workbook, checked by an independent spreadsheet (LibreOffice) and by openpyxl."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lo import require_soffice, soffice_convert

from lscb_xl import figures, schema
from lscb_xl.builder import build_workbook
from lscb_xl.model import BoardData


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("wb") / "master.xlsx", BoardData.from_seed())


@pytest.fixture(scope="module")
def lo_seeded(seeded: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_soffice()
    return soffice_convert(seeded, tmp_path_factory.mktemp("lo"), "xlsx")


def _formula_cells(path: Path) -> list[tuple[str, str, str]]:
    wb = openpyxl.load_workbook(path)
    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    out.append((ws.title, c.coordinate, str(c.value)))
    return out


def _close(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return ((a in (None, "")) and (b in (None, ""))) or a == b


def test_every_formula_agrees_with_python(seeded: Path, lo_seeded: Path) -> None:
    """LibreOffice recalculates every formula; each result equals the value Python computed."""
    ours = openpyxl.load_workbook(seeded, data_only=True)
    theirs = openpyxl.load_workbook(lo_seeded, data_only=True)
    cells = _formula_cells(seeded)
    assert len(cells) > 100
    wrong = []
    for sheet, coord, formula in cells:
        py, lo = ours[sheet][coord].value, theirs[sheet][coord].value
        if not _close(py, lo):
            wrong.append((sheet, coord, formula, py, lo))
    assert not wrong, wrong[:5]


def test_headline_figures_recalculated_by_libreoffice(lo_seeded: Path) -> None:
    wb = openpyxl.load_workbook(lo_seeded, data_only=True)
    fin = wb[schema.FINANCE.sheet]
    summary = {fin.cell(row=r, column=6).value: fin.cell(row=r, column=7).value for r in range(5, 10)}
    assert summary["Total income"] == 110922
    assert summary["Total expenditure"] == 83238
    assert summary["Carry forward"] == 27684  # the report prints 27,184
    ss = wb[schema.SECTOR_SUMMARY]
    labels = {ss.cell(row=r, column=1).value: ss.cell(row=r, column=2).value for r in range(5, 25)}
    assert labels["All attendees"] == 504
    assert labels["Attendees at events recorded by sector"] == 324
    assert labels["Children's Social Care"] == 59
    assert labels["Total recorded in sectors"] == 324
    eh = wb[schema.EARLY_HELP.sheet]
    totals = {eh.cell(row=r, column=2).value: eh.cell(row=r, column=7).value for r in range(5, 41)}
    assert totals["Schools"] == 140


def test_blank_workbook_has_no_formula_errors(tmp_path: Path) -> None:
    require_soffice()
    path = build_workbook(tmp_path / "blank.xlsx", BoardData.from_seed(blank=True))
    lo = soffice_convert(path, tmp_path / "lo", "xlsx")
    wb = openpyxl.load_workbook(lo, data_only=True)
    bad = [
        (ws.title, c.coordinate, c.value)
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("#")
    ]
    assert not bad
    assert wb[schema.FINANCE.sheet]["G9"].value == 0


def test_python_figures_match_independent_sums() -> None:
    data = BoardData.from_seed()
    training = data.records(schema.TRAINING)
    assert figures.evaluate(figures.ALL_ATTENDEES, data.tables) == sum(r["total"] for r in training)
    recorded = [r for r in training if r["sectors_recorded"] == "Yes"]
    assert figures.evaluate(figures.RECORDED_ATTENDEES, data.tables) == sum(r["total"] for r in recorded)
    table = figures.sector_table(training)
    assert sum(r["percent"] for r in table) == 100
    assert {r["sector"]: r["percent"] for r in table}["Other"] == 4


def test_largest_remainder_adds_to_100() -> None:
    assert figures.largest_remainder({"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert figures.largest_remainder({"a": 0, "b": 0}) == {"a": 0, "b": 0}
    assert sum(figures.largest_remainder({str(i): i for i in range(1, 12)}).values()) == 100


@pytest.mark.parametrize("wb_path_fixture", ["seeded", "lo_seeded"])
def test_features_present(wb_path_fixture: str, request: pytest.FixtureRequest) -> None:
    """Dropdowns, RAG conditional formats, protection, chart and print setup (also after LibreOffice)."""
    path: Path = request.getfixturevalue(wb_path_fixture)
    wb = openpyxl.load_workbook(path)
    ap = wb[schema.ACTION_PLAN.sheet]
    rag_col = openpyxl.utils.get_column_letter(schema.ACTION_PLAN.keys.index("rag") + 1)
    lists = [dv for dv in ap.data_validations.dataValidation if dv.type == "list"]
    assert any(f"{rag_col}5" in dv.sqref for dv in lists)
    assert any("list_RAG" in (dv.formula1 or "") for dv in lists) or any(
        "Lookups" in (dv.formula1 or "") for dv in lists
    )
    rules = [r for cf in ap.conditional_formatting for r in cf.rules]
    assert len(rules) >= 4
    assert any(f"{rag_col}5" in str(cf.sqref) for cf in ap.conditional_formatting)
    for sheet in (schema.SECTOR_SUMMARY, schema.FINANCE.sheet, schema.PUBLISHED, schema.HOME):
        assert wb[sheet].protection.sheet, sheet
    assert wb[schema.FINANCE.sheet]["G9"].protection.locked
    assert not wb[schema.FINANCE.sheet]["C5"].protection.locked
    assert ap.page_setup.orientation == "landscape"
    assert ap.print_title_rows and "4" in ap.print_title_rows
    assert ap.sheet_properties.pageSetUpPr.fitToPage
    with zipfile.ZipFile(path) as z:
        assert any(n.startswith("xl/charts/chart") for n in z.namelist())
    assert wb[schema.TRAINING.sheet]["B5"].number_format.lower().startswith("dd/mm/yy")
    if wb_path_fixture == "seeded":  # LibreOffice headless writes no view settings, so no panes
        assert ap.freeze_panes == "A5"


def test_risky_text_stays_text(tmp_path: Path) -> None:
    data = BoardData.from_seed()
    data.tables[schema.ACTION_PLAN.name][0]["response"] = '=HYPERLINK("http://x.invalid","click")'
    data.tables[schema.ACTION_PLAN.name][1]["response"] = "+44 1375 652813"
    path = build_workbook(tmp_path / "r.xlsx", data)
    ws = openpyxl.load_workbook(path)[schema.ACTION_PLAN.sheet]
    col = schema.ACTION_PLAN.keys.index("response") + 1
    for r in (5, 6):
        cell = ws.cell(row=r, column=col)
        assert cell.data_type == "s"
        assert cell.quotePrefix
