"""The data-protection check: hidden sheets, comments and restricted case detail never leave.

The leaky workbook is the seeded one, built by lscb-xl, with a hidden sheet, a very hidden sheet
and a comment added by openpyxl to a copy (as a member of staff might in Excel).
"""

from __future__ import annotations

import email
import email.policy
import io
import shutil
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest
from openpyxl.comments import Comment
from typer.testing import CliRunner

from lscb_xl import leakcheck
from lscb_xl.builder import build_workbook
from lscb_xl.cli import app
from lscb_xl.leakcheck import LeakFound, check_docx, check_outgoing, check_workbook_file, find_leaks
from lscb_xl.model import BoardData
from lscb_xl.report_docx import DEFAULT_TEMPLATE

HIDDEN_TEXT = "Sibling group placed with maternal aunt after strategy meeting"
COMMENT_TEXT = "Check with the allocated social worker before the board meeting on Thursday"
runner = CliRunner()


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("wb") / "master.xlsx", BoardData.from_seed())


@pytest.fixture(scope="module")
def leaky(workbook: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leaky") / "leaky.xlsx"
    shutil.copy(workbook, path)
    wb = openpyxl.load_workbook(path)
    notes = wb.create_sheet("Case notes")
    notes["A1"] = HIDDEN_TEXT
    notes.sheet_state = "hidden"
    wb.create_sheet("Old cases").sheet_state = "veryHidden"
    wb["Audits"]["D5"].comment = Comment(COMMENT_TEXT, "Business manager")
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def without_case_detail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = BoardData.from_seed()
    for rec in data.tables["Audits"]:
        rec["findings"] = None
    return build_workbook(tmp_path_factory.mktemp("clean") / "no-case-detail.xlsx", data)


def email_args(path: Path, *more: str) -> list[str]:
    return ["email", str(path), "--to", "chair@example.org", "--from", "lscb@example.org", *more]


def assert_refused(result: object, *names: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert err.startswith("lscb-xl: refused") and len(err.strip().splitlines()) == 1, err
    for name in names:
        assert name in err, (name, err)


# --------------------------------------------------------------------------------------------
# Workbook files
# --------------------------------------------------------------------------------------------


def test_workbook_check_names_hidden_sheets_and_comments(leaky: Path) -> None:
    assert check_workbook_file(leaky) == [
        "hidden sheet 'Case notes'",
        "very hidden sheet 'Old cases'",
        "comment on Audits!D5",
    ]


def test_built_workbook_hides_nothing(workbook: Path) -> None:
    assert check_workbook_file(workbook) == []


def test_leaky_workbook_can_still_be_summarised(leaky: Path, tmp_path: Path) -> None:
    out, page = tmp_path / "summary.docx", tmp_path / "summary.html"
    result = runner.invoke(app, ["summary", str(leaky), "-o", str(out), "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert "hidden sheet 'Case notes'" in result.stderr and "none of it goes into the summary" in result.stderr
    outgoing = "\n".join(leakcheck.docx_texts(out.read_bytes())) + page.read_text(encoding="utf-8")
    assert HIDDEN_TEXT not in outgoing and COMMENT_TEXT not in outgoing and "Case notes" not in outgoing


def test_attaching_a_leaky_workbook_is_refused_naming_what_it_found(leaky: Path, tmp_path: Path) -> None:
    draft = tmp_path / "draft.eml"
    result = runner.invoke(app, email_args(leaky, "--eml", str(draft), "--attach-workbook"))
    assert_refused(result, "leaky.xlsx", "hidden sheet 'Case notes'", "very hidden sheet 'Old cases'",
                   "comment on Audits!D5")
    assert not draft.exists()


def test_attaching_a_workbook_with_case_detail_is_refused(workbook: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, email_args(workbook, "--eml", str(tmp_path / "d.eml"), "--attach-workbook"))
    assert_refused(result, "restricted column 'Findings' on sheet 'Audits'", "D5")


def test_workbook_is_attached_only_when_asked_and_clean(without_case_detail: Path, tmp_path: Path) -> None:
    plain, attached = tmp_path / "plain.eml", tmp_path / "attached.eml"
    assert runner.invoke(app, email_args(without_case_detail, "--eml", str(plain))).exit_code == 0
    result = runner.invoke(app, email_args(without_case_detail, "--eml", str(attached), "--attach-workbook"))
    assert result.exit_code == 0, result.output

    def attachments(path: Path) -> dict[str, bytes]:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        return {p.get_filename(): p.get_content() for p in msg.iter_attachments()}  # type: ignore[attr-defined]

    assert list(attachments(plain)) == ["lscb-summary-2015-02-23.docx"]
    files = attachments(attached)
    assert files["no-case-detail.xlsx"] == without_case_detail.read_bytes()


# --------------------------------------------------------------------------------------------
# Restricted text in outgoing content
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> BoardData:
    return BoardData.from_seed()


def first_finding(seed: BoardData) -> str:
    return seed.tables["Audits"][0]["findings"]


def test_whole_restricted_value_is_refused_by_cell(seed: BoardData) -> None:
    secret = first_finding(seed)
    with pytest.raises(LeakFound) as err:
        check_outgoing(["Dear board,", f"<p>{secret}</p>"], seed, ["greeting", "HTML body"])
    message = str(err.value)
    assert "Audits!D5 (Findings) in the HTML body" in message
    assert secret[:30] not in message  # the refusal names the cell, never repeats the case detail


def test_partial_quote_is_found_through_case_spacing_and_escaping(seed: BoardData) -> None:
    words = first_finding(seed).split()
    quote = " ".join(words[10:18]).upper().replace(" ", "\n  ").replace("&", "&amp;")
    assert find_leaks([f"Note: {quote}."], seed) == ["Audits!D5 (Findings) in the outgoing text 1"]
    assert find_leaks([" ".join(words[10:17])], seed) == []  # seven words in a row are not a quote


def test_short_and_trivial_values(seed: BoardData) -> None:
    data = BoardData.from_seed()
    data.tables["Audits"][0]["findings"] = "Child A, DOB 1/1/09"
    data.tables["Audits"][1]["findings"] = "None found"
    assert find_leaks(["re Child A, DOB 1/1/09 see file"], data) == ["Audits!D5 (Findings) in the outgoing text 1"]
    assert find_leaks(["None found"], data) == []


def test_a_finding_may_restate_its_own_task(seed: BoardData) -> None:
    data = BoardData.from_seed()
    audit = data.tables["Audits"][1]
    audit["findings"] = f"{audit['task']} Then the confidential part of the case file discussion"
    assert find_leaks([f"<td>{audit['task']}</td>"], data) == []
    assert find_leaks(["the confidential part of the case file discussion"], data)
    assert find_leaks([f"{audit['task']} Then the confidential part"], data)


def test_comment_text_is_a_secret_too(leaky: Path, seed: BoardData) -> None:
    secrets = leakcheck.comment_secrets(leaky)
    assert secrets == {"comment on Audits!D5": COMMENT_TEXT}
    with pytest.raises(LeakFound, match="comment on Audits!D5 in the plain-text body"):
        check_outgoing([COMMENT_TEXT.lower()], seed, ["plain-text body"], secrets)


def test_case_detail_copied_into_an_action_stops_the_summary(tmp_path: Path) -> None:
    data = BoardData.from_seed()
    secret = " ".join(data.tables["Audits"][0]["findings"].split()[:15])
    overdue = next(r for r in data.tables["ActionPlan"] if r["ref"] == "4b-2")
    overdue["action"] = f"Follow up: {secret}"
    path = build_workbook(tmp_path / "pasted.xlsx", data)
    out = tmp_path / "summary.docx"
    result = runner.invoke(app, ["summary", str(path), "-o", str(out)])
    assert_refused(result, "Audits!D5 (Findings)", "HTML body", "Word summary")
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Word documents
# --------------------------------------------------------------------------------------------


def test_rendered_summary_hides_nothing(seed: BoardData) -> None:
    from lscb_xl.report_docx import render_docx
    from lscb_xl.summary import build_context

    assert check_docx(render_docx(build_context(seed, []))) == []


def test_template_with_comments_or_hidden_text_is_refused(workbook: Path, tmp_path: Path) -> None:
    template = docx.Document(str(DEFAULT_TEMPLATE))
    para = template.add_paragraph("Reviewed by ")
    template.add_comment(para.runs, text="Remove before sending", author="Clerk")
    para.add_run("the chair").font.hidden = True
    path = tmp_path / "commented.docx"
    template.save(str(path))
    with zipfile.ZipFile(path) as zf:
        assert "word/comments.xml" in zf.namelist()
    out = tmp_path / "summary.docx"
    result = runner.invoke(app, ["summary", str(workbook), "-o", str(out), "--template", str(path)])
    assert_refused(result, "Word comments (word/comments.xml)", "hidden text (word/document.xml)")
    assert not out.exists()


def test_docx_texts_include_alt_text_and_properties() -> None:
    document = docx.Document(str(DEFAULT_TEMPLATE))
    document.core_properties.subject = "Quarterly subject line"
    buffer = io.BytesIO()
    document.save(buffer)
    texts = leakcheck.docx_texts(buffer.getvalue())
    assert any("Quarterly subject line" in t for t in texts)
    assert any("{{ board }}" in t for t in texts)
