"""The board summary: figures against the engine, the Word document read back, PDF via LibreOffice, escaping.

Set LSCB_UPDATE_DOCS=1 to rewrite docs/summary-page1.png (the README's picture of page 1).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.oxml.ns import qn
from lo import require_soffice, soffice_convert
from typer.testing import CliRunner

from lscb_xl import figures, schema
from lscb_xl.builder import build_workbook
from lscb_xl.cli import app
from lscb_xl.leakcheck import find_leaks
from lscb_xl.model import BoardData
from lscb_xl.refresh import check
from lscb_xl.report_docx import DEFAULT_TEMPLATE, TemplateProblem, render_docx
from lscb_xl.report_html import render_html, render_text
from lscb_xl.summary import build_context, money, write_summaries
from lscb_xl.validation import validate

ROOT = Path(__file__).resolve().parent.parent
INJECTION = "{{ 7*7 }} <script>alert(1)</script> & {% if x %}"
runner = CliRunner()


@pytest.fixture(scope="module")
def seed() -> BoardData:
    return BoardData.from_seed()


@pytest.fixture(scope="module")
def context(seed: BoardData) -> dict[str, Any]:
    return build_context(seed, validate(seed))


@pytest.fixture(scope="module")
def docx_bytes(context: dict[str, Any]) -> bytes:
    return render_docx(context)


@pytest.fixture(scope="module")
def document(docx_bytes: bytes) -> Any:
    return docx.Document(io.BytesIO(docx_bytes))


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("wb") / "master.xlsx", BoardData.from_seed())


def all_text(document: Any) -> str:
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts)


def table_with_caption(document: Any, caption: str) -> Any:
    for table in document.tables:
        found = table._tbl.tblPr.find(qn("w:tblCaption"))
        if found is not None and found.get(qn("w:val")) == caption:
            return table
    raise AssertionError(f"no table captioned {caption!r}")


def rows(table: Any) -> list[list[str]]:
    return [[c.text for c in r.cells] for r in table.rows]


# --------------------------------------------------------------------------------------------
# The context
# --------------------------------------------------------------------------------------------


def test_context_holds_plain_values_only(context: dict[str, Any]) -> None:
    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                assert isinstance(k, str), where
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        else:
            assert value is None or isinstance(value, str | int | float | bool), (where, type(value))

    walk(context, "context")
    json.dumps(context)


def test_context_figures_are_the_engines(seed: BoardData, context: dict[str, Any]) -> None:
    t = seed.tables
    fin = context["finance"]
    assert fin["income"] == figures.evaluate(figures.TOTAL_INCOME, t) == 110922
    assert fin["expenditure"] == figures.evaluate(figures.TOTAL_EXPENDITURE, t)
    assert fin["carry_forward"] == figures.evaluate(figures.CARRY_FORWARD, t)
    training = context["training"]
    assert training["attendees"] == figures.evaluate(figures.ALL_ATTENDEES, t)
    assert training["recorded_attendees"] == figures.evaluate(figures.RECORDED_ATTENDEES, t)
    assert training["events"] == len(seed.tables["Training"])
    engine = figures.sector_table(seed.tables["Training"])
    assert [(r["sector"], r["attendees"], r["percent"]) for r in training["sectors"]] == [
        (r["sector"], r["attendees"], r["percent"]) for r in engine]
    assert training["percent_total"] == 100
    assert "largest-remainder" in training["percent_note"]
    assert context["audits"]["meetings"] == figures.evaluate(figures.Distinct("Audits", "meeting"), t)
    statuses = Counter(r["status"] for r in seed.tables["Audits"])
    assert context["audits"]["completed"] == statuses["Completed"]
    assert context["audits"]["deferred"] == statuses["Deferred"]
    caf = next(r for r in context["early_help"]["counts"] if r["label"].startswith("CAFs"))
    assert caf["total"] == figures.evaluate(figures.eh_total("Referral source"), t)


def test_action_counts(seed: BoardData, context: dict[str, Any]) -> None:
    ratings = Counter((r["rag"] or "") for r in seed.tables["ActionPlan"])
    actions = context["actions"]
    assert actions["total"] == len(seed.tables["ActionPlan"])
    assert {code: actions["counts"][code] for code in schema.RAG_CODES} == {c: ratings[c] for c in schema.RAG_CODES}
    assert actions["counts"]["not_rated"] == ratings[""]
    for group in ("by_finding", "by_agency"):
        assert sum(row["counts"]["total"] for row in actions[group]) == actions["total"]
    agencies = Counter(r["agency"] for r in seed.tables["ActionPlan"])
    assert {row["agency"]: row["counts"]["total"] for row in actions["by_agency"]} == dict(agencies)
    assert actions["changes"] is None
    assert actions["changes_note"] == "no previous snapshot"


def test_late_actions_agree_with_validation(seed: BoardData, context: dict[str, Any]) -> None:
    findings = validate(seed)
    table = schema.ACTION_PLAN
    refs = {seed.cell(table, i, "rag"): r["ref"] for i, r in enumerate(seed.tables["ActionPlan"])}
    overdue = {refs[f.cell] for f in findings if f.rule == "overdue"}
    assert overdue and {a["ref"] for a in context["actions"]["overdue"]} == overdue
    stale = {r["ref"] for r in context["actions"]["stale_green"]}
    assert overdue & stale


def test_caveats_are_the_open_errors(seed: BoardData, context: dict[str, Any]) -> None:
    errors = [f for f in validate(seed) if f.severity == "error"]
    assert [(c["sheet"], c["cell"], c["rule"]) for c in context["caveats"]["errors"]] == [
        (f.sheet, f.cell, f.rule) for f in errors]
    assert context["caveats"]["error_count"] == len(errors) > 0


def test_context_never_carries_restricted_columns(seed: BoardData, context: dict[str, Any]) -> None:
    assert find_leaks([json.dumps(context, ensure_ascii=False)], seed) == []
    text = json.dumps(context, ensure_ascii=False)
    secrets = [rec["findings"] for rec in seed.tables["Audits"] if rec["findings"]]
    assert len(secrets) > 5
    assert not any(secret[:40] in text for secret in secrets)


def test_context_from_the_workbook_equals_the_seeds(workbook: Path, context: dict[str, Any]) -> None:
    data, findings = check(workbook)
    from_file = build_context(data, findings)
    for key in ("board", "period", "as_at", "actions", "training", "finance", "early_help", "audits"):
        assert from_file[key] == context[key], key


def test_as_at_overrides_the_workbook(seed: BoardData) -> None:
    early = build_context(seed, [], as_at=dt.date(2013, 1, 1))
    assert early["as_at"] == "1 January 2013"
    assert early["actions"]["overdue"] == []


# --------------------------------------------------------------------------------------------
# The Word document, read back
# --------------------------------------------------------------------------------------------


def test_docx_headings_use_heading_styles(document: Any) -> None:
    by_style: dict[str, list[str]] = {}
    for p in document.paragraphs:
        by_style.setdefault(p.style.name, []).append(p.text)
    assert by_style["Title"] == ["Thurrock Local Safeguarding Children Board"]
    assert by_style["Heading 1"] == ["Data caveats", "Action plan", "Training", "Finance", "Early help", "Audits"]
    assert {"Actions by RAG rating", "By finding", "By agency", "Overdue actions"} <= set(by_style["Heading 2"])


def test_docx_tables_have_repeating_header_rows_and_captions(document: Any) -> None:
    assert len(document.tables) >= 10
    for table in document.tables:
        first = table.rows[0]._tr
        header = first.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}")
        assert header is not None and header.get(qn("w:val"), "true") in ("true", "1", "on")
        assert all(r._tr.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is None for r in table.rows[1:])
        assert table._tbl.tblPr.find(qn("w:tblCaption")) is not None


def _fill(cell: Any) -> str | None:
    shd = cell._tc.find(f"{qn('w:tcPr')}/{qn('w:shd')}")
    return None if shd is None else shd.get(qn("w:fill"))


def test_docx_rag_cells_are_shaded_and_labelled(document: Any) -> None:
    table = table_with_caption(document, "Actions by RAG rating")
    cells = {r.cells[0].text: r.cells[0] for r in table.rows[1:]}
    for code, word, _meaning, fill, font in schema.RAG_RATINGS:
        cell = cells[f"{code} {word}"]
        assert _fill(cell) == fill.lstrip("#")
        colour = cell._tc.find(f".//{qn('w:color')}")
        assert colour is not None and colour.get(qn("w:val")) == font.lstrip("#")
    overdue = table_with_caption(document, "Overdue actions")
    assert overdue.rows[1].cells[3].text == "G Green" and _fill(overdue.rows[1].cells[3]) == "00B050"


def test_docx_chart_has_alt_text(document: Any) -> None:
    docprs = list(document.element.body.iter(qn("wp:docPr")))
    assert len(docprs) == 1
    descr = docprs[0].get("descr")
    assert descr.startswith("Bar chart of training attendees by sector")
    assert "Health 13%" in descr and "Private Voluntary & Faith Sector 21%" in descr
    assert docprs[0].get("title")


def test_docx_title_and_language(document: Any, context: dict[str, Any], docx_bytes: bytes) -> None:
    assert document.core_properties.title == context["title"]
    assert document.core_properties.language == "en-GB"
    lang = document.styles.element.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:lang')}")
    assert lang.get(qn("w:val")) == "en-GB"
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as zf:
        assert not any(n.startswith("docProps/thumbnail") for n in zf.namelist())


def test_docx_figures_match_the_engine(document: Any, seed: BoardData) -> None:
    finance = {r[0]: r[1] for r in rows(table_with_caption(document, "Income, expenditure and carry forward"))[1:]}
    assert finance["Total income"] == money(figures.evaluate(figures.TOTAL_INCOME, seed.tables)) == "£110,922"
    assert finance["Carry forward"] == money(figures.evaluate(figures.CARRY_FORWARD, seed.tables))
    sectors = rows(table_with_caption(document, "Training attendees by sector"))[1:]
    engine = figures.sector_table(seed.tables["Training"])
    assert sectors[:-1] == [[r["sector"], str(r["attendees"]), f"{r['percent']}%"] for r in engine]
    assert sectors[-1] == ["Total", str(sum(r["attendees"] for r in engine)), "100%"]
    by_rag = {r[0]: r[2] for r in rows(table_with_caption(document, "Actions by RAG rating"))[1:]}
    assert by_rag["G Green"] == "59" and by_rag["Total"] == "60"


def test_docx_has_no_leftover_tags_and_says_no_snapshot(document: Any) -> None:
    text = all_text(document)
    assert "{{" not in text and "{%" not in text
    assert "no previous snapshot" in text
    assert "published-mismatch" in text  # the data caveats


def test_committed_template_is_what_the_generator_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_docx_template", ROOT / "templates" / "make_docx_template.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    fresh = module.build(tmp_path / "summary.docx")
    with zipfile.ZipFile(fresh) as new, zipfile.ZipFile(DEFAULT_TEMPLATE) as committed:
        for part in ("word/document.xml", "word/styles.xml", "word/footer1.xml", "docProps/core.xml"):
            assert new.read(part) == committed.read(part), f"{part}: run python templates/make_docx_template.py"


def test_docx_converts_to_pdf_with_libreoffice(docx_bytes: bytes, tmp_path: Path) -> None:
    require_soffice()
    source = tmp_path / "summary.docx"
    source.write_bytes(docx_bytes)
    pdf = soffice_convert(source, tmp_path / "pdf", "pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Data caveats" in text and "£110,922" in text
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(tmp_path / "page1")], check=True, timeout=60)
        png = tmp_path / "page1.png"
        assert png.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("LSCB_UPDATE_DOCS"):
            (ROOT / "docs").mkdir(exist_ok=True)
            shutil.copy(png, ROOT / "docs" / "summary-page1.png")


# --------------------------------------------------------------------------------------------
# User text stays literal
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile() -> tuple[BoardData, dict[str, Any]]:
    data = BoardData.from_seed()
    data.settings = {**data.settings, "BoardName": "Tom & Jerry's <Board> {{ board }}"}
    rec = next(r for r in data.tables["ActionPlan"] if r["ref"] == "4b-2")  # the overdue action
    rec["action"] = INJECTION
    rec["agency"] = "Agency </w:t><w:p> \x07 & co"
    return data, build_context(data, validate(data))


def test_user_text_is_literal_in_docx(hostile: tuple[BoardData, dict[str, Any]]) -> None:
    _data, context = hostile
    document = docx.Document(io.BytesIO(render_docx(context)))
    assert document.paragraphs[0].text == "Tom & Jerry's <Board> {{ board }}"
    overdue = table_with_caption(document, "Overdue actions")
    assert overdue.rows[1].cells[2].text == INJECTION
    assert overdue.rows[1].cells[1].text == "Agency </w:t><w:p>  & co"
    assert "49" not in overdue.rows[1].cells[2].text
    assert document.core_properties.title.startswith("Tom & Jerry's <Board> {{ board }}")


def test_user_text_is_escaped_in_html_and_literal_in_text(hostile: tuple[BoardData, dict[str, Any]]) -> None:
    _data, context = hostile
    page = render_html(context, chart=True)
    assert "{{ 7*7 }} &lt;script&gt;alert(1)&lt;/script&gt; &amp; {% if x %}" in page
    assert "<script>" not in page and ">49<" not in page
    assert "<title>Tom &amp; Jerry&#39;s &lt;Board&gt; {{ board }}" in page
    assert INJECTION in render_text(context)


# --------------------------------------------------------------------------------------------
# Templates that are broken
# --------------------------------------------------------------------------------------------


def broken_template(tmp_path: Path, text: str) -> Path:
    document = docx.Document(str(DEFAULT_TEMPLATE))
    document.add_paragraph(text)
    document.add_paragraph("after")
    path = tmp_path / "broken.docx"
    document.save(str(path))
    return path


def test_broken_template_names_template_line_and_tag(context: dict[str, Any], tmp_path: Path) -> None:
    path = broken_template(tmp_path, "Prepared by {{ board.name | }}")
    with pytest.raises(TemplateProblem) as err:
        render_docx(context, path)
    message = str(err.value)
    assert message.startswith("template broken.docx: line ")
    assert "{{ board.name | }}" in message
    assert "\n" not in message


def test_misspelt_tag_is_reported_not_left_blank(context: dict[str, Any], tmp_path: Path) -> None:
    expected = r"^template broken.docx: line \d+: 'boardd' is undefined \(at '\{\{ boardd \}\}'\)$"
    with pytest.raises(TemplateProblem, match=expected):
        render_docx(context, broken_template(tmp_path, "{{ boardd }}"))


def test_cli_summary_writes_docx_and_html(workbook: Path, tmp_path: Path) -> None:
    out, page = tmp_path / "summary.docx", tmp_path / "summary.html"
    result = runner.invoke(app, ["summary", str(workbook), "-o", str(out), "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert "Data caveats: 5 validation error(s)" in result.stdout
    assert docx.Document(str(out)).paragraphs[0].text == "Thurrock Local Safeguarding Children Board"
    html = page.read_text(encoding="utf-8")
    assert '<html lang="en-GB">' in html and "data:image/png;base64," in html and 'alt="Bar chart' in html


@pytest.mark.parametrize("kind", ["broken", "missing", "not-docx"])
def test_cli_bad_template_exits_2_with_one_line(workbook: Path, tmp_path: Path, kind: str) -> None:
    template = {"broken": broken_template(tmp_path, "{% for x in %}"),
                "missing": tmp_path / "nope.docx",
                "not-docx": tmp_path / "plain.docx"}[kind]
    if kind == "not-docx":
        template.write_text("hello")
    out = tmp_path / "out.docx"
    result = runner.invoke(app, ["summary", str(workbook), "-o", str(out), "--template", str(template)])
    assert result.exit_code == 2
    assert result.stderr.startswith("lscb-xl: template ") and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_write_summaries_for_the_demo(seed: BoardData, tmp_path: Path) -> None:
    paths = write_summaries(seed, validate(seed), tmp_path / "demo")
    assert sorted(paths) == ["docx", "eml", "html"]
    assert all(p.is_file() and p.stat().st_size for p in paths.values())
    assert b"X-Unsent: 1" in paths["eml"].read_bytes()


def test_html_structure(context: dict[str, Any]) -> None:
    from lxml import html as lxml_html

    page = lxml_html.document_fromstring(render_html(context, chart=True))
    assert page.get("lang") == "en-GB"
    assert page.findtext(".//title") == context["title"]
    assert [h.text_content() for h in page.iter("h2")] == [
        "Data caveats", "Action plan", "Training", "Finance", "Early help", "Audits"]
    tables = list(page.iter("table"))
    assert len(tables) >= 10
    for table in tables:
        assert table.find("caption") is not None
        assert all(th.get("scope") == "col" for th in table.find("thead").iter("th"))
    rag = {td.text_content(): td.get("style") for td in page.iter("td") if td.text_content() in ("R Red", "G Green")}
    assert "background:#00B050" in rag["G Green"] and "color:#FFFFFF" in rag["R Red"]
    image = next(page.iter("img"))
    assert image.get("alt").startswith("Bar chart") and image.get("src").startswith("data:image/png;base64,")
    assert "£110,922" in page.text_content() and "no previous snapshot" in page.text_content()
