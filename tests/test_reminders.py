"""Reminders: which actions each lead must see to, on plain data; then drafts and real SMTP on loopback.

The SMTP servers and the self-signed certificate are the summary email tests' own fixtures
(tests/test_email.py), so both features are tested against the same aiosmtpd set-up.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import test_email as smtp
from typer.testing import CliRunner

from lscb_xl import schema
from lscb_xl.builder import build_workbook
from lscb_xl.cli import app
from lscb_xl.emailer import EmailError
from lscb_xl.leakcheck import LeakFound
from lscb_xl.model import BoardData
from lscb_xl.reminders import NO_LEAD, DueAction, due_actions, reminders, subject_line

certificate = smtp.certificate  # the email tests' fixtures, shared rather than copied
tls_server = smtp.tls_server
plain_server = smtp.plain_server

AS_AT = dt.date(2015, 2, 23)
SENDER = "LSCB <lscb@example.org>"
runner = CliRunner()


def board(actions: list[dict[str, Any]], leads: dict[str, str | None] | None = None) -> BoardData:
    """A blank board with these actions and LeadPersons (name -> email)."""
    data = BoardData.from_seed(blank=True)
    data.tables[schema.ACTION_PLAN.name] = [{"ref": f"x-{i}", "rag": "G", **a} for i, a in enumerate(actions, 1)]
    leads = leads if leads is not None else {"NL": "nl@example.org", "AC": None, "JW": None, "SMT": None,
                                             "Strategy sub-group": None}
    data.lookups["LeadPersons"] = [{"initials": k, "note": None, "email": v} for k, v in leads.items()]
    return data


def refs(items: list[DueAction]) -> list[str]:
    return [a.ref for a in items]


def email_of(lead: str) -> str:
    return re.sub(r"[^a-z0-9]+", ".", lead.lower()).strip(".") + "@example.org"


# --------------------------------------------------------------------------------------------
# due_actions: the pure function
# --------------------------------------------------------------------------------------------


def test_due_within_days_and_overdue() -> None:
    data = board([
        {"target": "Mar-15", "lead": "NL", "action": "due in 36 days"},
        {"target": "Sept 14", "lead": "NL", "action": "overdue", "rag": "R"},
        {"target": "Jun-15", "lead": "NL", "action": "later"},
        {"target": "23/02/2015", "lead": "NL", "action": "today", "rag": "A"},
    ])
    due = due_actions(data, 40, AS_AT)
    assert list(due) == ["NL"]
    assert refs(due["NL"]) == ["x-2", "x-4", "x-1"]  # most overdue first
    overdue, today, soon = due["NL"]
    assert (overdue.overdue, overdue.days_left, overdue.when) == (True, -146, "146 days overdue")
    assert (overdue.deadline, overdue.rag_label) == (dt.date(2014, 9, 30), "R Red")
    assert (today.overdue, today.when, today.rag_label) == (False, "due today", "A Amber")
    assert (soon.days_left, soon.when, soon.target) == (36, "36 days left", "Mar-15")
    assert refs(due_actions(data, 30, AS_AT)["NL"]) == ["x-2", "x-4"]
    assert refs(due_actions(data, 0, AS_AT)["NL"]) == ["x-2", "x-4"]
    assert refs(due_actions(data, 36, AS_AT)["NL"]) == ["x-2", "x-4", "x-1"]  # the last day counts
    with pytest.raises(ValueError):
        due_actions(data, -1, AS_AT)


def test_completed_and_undated_are_never_reminded() -> None:
    data = board([
        {"target": "Sept 14", "lead": "NL", "rag": "B"},  # rated complete, though its date has passed
        {"target": "Completed - Sept 14", "lead": "NL"},
        {"target": "In place & re-launched Mar-15", "lead": "NL"},
        {"target": "Ongoing", "lead": "NL"},
        {"target": None, "lead": "NL"},
        {"target": "To be progressed at GP Forum meeting", "lead": "NL"},
        {"target": "Sept 14", "lead": "NL", "rag": " b "},  # as staff type it
    ])
    assert due_actions(data, 365, AS_AT) == {}


def test_lead_cells_are_split_against_the_lookup() -> None:
    data = board([
        {"target": "Sept 14", "lead": "NL/ AC"},
        {"target": "Sept 14", "lead": "JW SMT"},
        {"target": "Sept 14", "lead": "Strategy sub-group. JW"},
        {"target": "Sept 14", "lead": "nl / NL"},  # one person, one entry, the lookup's spelling
    ])
    due = due_actions(data, 0, AS_AT)
    assert list(due) == ["NL", "AC", "JW", "SMT", "Strategy sub-group"]  # the lookup's order
    assert refs(due["NL"]) == ["x-1", "x-4"]
    assert refs(due["AC"]) == ["x-1"]
    assert refs(due["JW"]) == ["x-2", "x-3"]
    assert refs(due["SMT"]) == ["x-2"]
    assert refs(due["Strategy sub-group"]) == ["x-3"]


def test_unknown_and_missing_leads_are_listed_not_lost() -> None:
    data = board([
        {"target": "Sept 14", "lead": "N/L"},
        {"target": "Sept 14", "lead": "XY/ NL"},
        {"target": "Sept 14", "lead": None},
    ])
    due = due_actions(data, 0, AS_AT)
    assert list(due) == ["NL", "(lead not recognised: N)", "(lead not recognised: L)",
                         "(lead not recognised: XY)", NO_LEAD]
    assert refs(due["NL"]) == ["x-2"]
    assert refs(due["(lead not recognised: XY)"]) == ["x-2"]
    assert refs(due[NO_LEAD]) == ["x-3"]


def test_the_seed_as_at_its_own_date() -> None:
    data = BoardData.from_seed()
    due = due_actions(data, 40, data.settings["AsAt"])
    assert refs(due["CS"]) == ["4b-2", "4a-1"] and due["CS"][0].when == "146 days overdue"
    everything = {a.ref for items in due.values() for a in items}
    assert everything == {"1c-1", "4a-1", "4a-2", "4b-2", "5a-1", "6a-1", "6c-1", "7c-4", "8c-1", "8d-1", "8e-1"}
    assert "5c-1" not in everything  # "In place & re-launched Mar-15" reads as completed


# --------------------------------------------------------------------------------------------
# The message
# --------------------------------------------------------------------------------------------


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain, html = msg.get_payload()  # type: ignore[misc]
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    return plain.get_content(), html.get_content()


def test_one_message_per_lead_with_escaped_html() -> None:
    hostile = "<script>alert(1)</script> & {{ 7*7 }}"
    data = board([{"target": "Sept 14", "lead": "NL", "action": hostile}, {"target": "Mar-15", "lead": "AC"}])
    made = reminders(data, due_actions(data, 40, AS_AT), 40, AS_AT, SENDER)
    assert [(r.lead, r.to, r.count) for r in made] == [("NL", "nl@example.org", 1), ("AC", None, 1)]
    nl = made[0].message
    assert nl["Subject"] == subject_line(1, AS_AT) == "LSCB action plan: 1 action due or overdue (as at 23/02/2015)"
    assert subject_line(3, AS_AT) == "LSCB action plan: 3 actions due or overdue (as at 23/02/2015)"
    assert (nl["To"], nl["From"], nl["Content-Language"]) == ("nl@example.org", SENDER, "en-GB")
    text, html = parts(nl)
    assert hostile in text and "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; {{ 7*7 }}" in html
    assert "x-1" in html and "x-2" not in html and "x-2" not in text
    assert "146 days overdue" in text and "30/09/2014" in html and "G Green" in html
    assert "To" not in made[1].message  # no address: the draft leaves it to Outlook


def test_a_bad_address_names_its_lead() -> None:
    data = board([{"target": "Sept 14", "lead": "NL"}], {"NL": "nl@localhost"})
    with pytest.raises(EmailError, match=r"lead NL .*'nl@localhost' is not an email address"):
        reminders(data, due_actions(data, 0, AS_AT), 0, AS_AT, SENDER)


def test_restricted_case_detail_is_refused() -> None:
    secret = "the child was seen at the clinic three times without any follow up by the health visitor"
    data = board([{"target": "Sept 14", "lead": "NL", "action": f"Review: {secret}."}])
    data.tables[schema.AUDITS.name] = [{"meeting": 1, "date": AS_AT, "task": "Health audit", "findings": secret,
                                        "progress": None, "status": "Completed"}]
    with pytest.raises(LeakFound, match=r"Audits!D5 \(Findings\)"):
        reminders(data, due_actions(data, 0, AS_AT), 0, AS_AT, SENDER)


# --------------------------------------------------------------------------------------------
# Through the command line: listing, drafts, and a real SMTP server
# --------------------------------------------------------------------------------------------


def seed_with_emails(without: tuple[str, ...] = ()) -> BoardData:
    data = BoardData.from_seed()
    for rec in data.lookups["LeadPersons"]:
        rec["email"] = None if rec["initials"] in without else f"{rec['initials']} <{email_of(rec['initials'])}>"
    return data


@pytest.fixture(scope="module")
def addressed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo board with an address for every lead."""
    return build_workbook(tmp_path_factory.mktemp("wb") / "master.xlsx", seed_with_emails())


@pytest.fixture(scope="module")
def cs_unaddressed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo board where CS (lead of the one overdue action) has no address."""
    return build_workbook(tmp_path_factory.mktemp("wb") / "master.xlsx", seed_with_emails(without=("CS",)))


def expected(days: int) -> dict[str, list[str]]:
    return {lead: refs(items) for lead, items in due_actions(BoardData.from_seed(), days, AS_AT).items()}


def test_cli_lists_per_lead(cs_unaddressed: Path) -> None:
    result = runner.invoke(app, ["remind", str(cs_unaddressed), "--days", "40"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("11 action(s) due within 40 days or overdue, as at 23/02/2015, for 11 lead(s).")
    assert "CS (no email in the LeadPersons list)" in result.stdout
    assert "NL (email NL <nl@example.org>)" in result.stdout
    assert re.search(r"4b-2 +146 days overdue +deadline 30/09/2014 +G Green", result.stdout)


def test_cli_as_at_is_day_first(addressed: Path) -> None:
    result = runner.invoke(app, ["remind", str(addressed), "--days", "0", "--as-at", "01/04/2015"])
    assert result.exit_code == 0, result.output
    assert "as at 01/04/2015" in result.stdout
    assert re.search(r"6c-1 +1 day overdue +deadline 31/03/2015", result.stdout)


def read_eml(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def test_cli_writes_one_draft_per_lead(cs_unaddressed: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["remind", str(cs_unaddressed), "--days", "40", "--eml", str(tmp_path / "drafts")])
    assert result.exit_code == 0, result.output
    want = expected(40)
    drafts = {p.name: read_eml(p) for p in sorted((tmp_path / "drafts").glob("*.eml"))}
    assert sorted(drafts) == sorted(f"reminder-{lead.lower()}.eml" for lead in want)
    for lead, found in want.items():
        msg = drafts[f"reminder-{lead.lower()}.eml"]
        assert msg["X-Unsent"] == "1" and "From" not in msg
        assert msg["Subject"] == subject_line(len(found), AS_AT)
        text, _html = parts(msg)
        assert set(re.findall(r"^(\d[a-z]-\d+): ", text, re.M)) == set(found)
        if lead == "CS":
            assert "To" not in msg
        else:
            assert msg["To"] == f"{lead} <{email_of(lead)}>"


def test_cli_sends_one_message_per_lead_over_starttls(addressed: Path, certificate: tuple[Path, Path],
                                                      tls_server: tuple[smtp.Inbox, int]) -> None:
    inbox, port = tls_server
    env = smtp.smtp_env(port, USER=smtp.USER, PASSWORD=smtp.PASSWORD, CAFILE=str(certificate[0]))
    result = runner.invoke(app, ["remind", str(addressed), "--days", "40", "--send", "--from", SENDER], env=env)
    assert result.exit_code == 0, result.output
    want = expected(40)
    assert len(inbox.envelopes) == len(want) == 11
    assert all(s == {"tls": True, "authenticated": True} for s in inbox.sessions)
    records = {r["ref"]: r for r in BoardData.from_seed().records(schema.ACTION_PLAN)}
    for envelope in inbox.envelopes:
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        lead = msg["To"].split(" <")[0]
        assert envelope.rcpt_tos == [email_of(lead)] and envelope.mail_from == "lscb@example.org"
        assert "X-Unsent" not in msg
        text, html = parts(msg)  # type: ignore[arg-type]
        found = re.findall(r"^(\d[a-z]-\d+): ", text, re.M)
        assert found == want.pop(lead), lead  # only this lead's actions, most overdue first
        assert re.findall(r'<th scope="row">([^<]+)</th>', html) == found
        shown = " ".join(f"{text} {unescape(html)}".split())
        for ref in found:  # no column beyond those a lead needs
            for key in ("question_text", "response", "constraints", "outcome", "agency"):
                value = " ".join(str(records[ref][key] or "").split())
                assert len(value) < 12 or value not in shown, (ref, key)
    assert want == {}


def test_cli_refuses_to_send_to_a_lead_without_an_address(cs_unaddressed: Path, tmp_path: Path,
                                                          plain_server: tuple[smtp.Inbox, int]) -> None:
    inbox, port = plain_server
    drafts = tmp_path / "drafts"
    result = runner.invoke(app, ["remind", str(cs_unaddressed), "--send", "--from", SENDER, "--eml", str(drafts)],
                           env=smtp.smtp_env(port, STARTTLS="off"))
    smtp.assert_one_line_failure(result, "no email address for lead(s) CS")
    assert inbox.envelopes == [] and not drafts.exists()


def test_cli_send_needs_a_sender(addressed: Path) -> None:
    smtp.assert_one_line_failure(runner.invoke(app, ["remind", str(addressed), "--send"]), "--from")


def test_cli_nothing_due(addressed: Path, plain_server: tuple[smtp.Inbox, int]) -> None:
    inbox, port = plain_server
    result = runner.invoke(app, ["remind", str(addressed), "--days", "0", "--as-at", "01/01/2014", "--send",
                                 "--from", SENDER], env=smtp.smtp_env(port, STARTTLS="off"))
    assert result.exit_code == 0, result.output
    assert "nothing to send" in result.stdout and inbox.envelopes == []


def test_cli_unusable_workbook(tmp_path: Path) -> None:
    bad = tmp_path / "notes.xlsx"
    bad.write_text("not a workbook", encoding="utf-8")
    smtp.assert_one_line_failure(runner.invoke(app, ["remind", str(bad)]), "not an Excel workbook")
