"""Reminders: which actions each lead person must see to soon, and one message per lead.

:func:`due_actions` is pure: it reads the action plan as at a date and groups the actions whose
deadline falls within N days (or has passed) by lead person, so the listing, the Outlook drafts
and the sent mail show the same actions. Deadlines are the validation rules' own reading of the
free-text target (:func:`lscb_xl.dates.parse_target`), so a reminder never disagrees with the
Validation sheet about what is overdue. A message carries only its lead's actions and only the
columns a lead needs (ref, action, target, deadline, rating, days); it passes the same
data-protection check as the summary (:mod:`lscb_xl.leakcheck`) before it is written or sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from jinja2 import Environment, StrictUndefined

from lscb_xl import dates, leakcheck, schema
from lscb_xl.emailer import EmailError, parse_addresses
from lscb_xl.model import BoardData, Record
from lscb_xl.summary import clean_text, rag_info
from lscb_xl.validation import lead_tokens

NO_LEAD = "(no lead recorded)"
UNKNOWN_LEAD = "(lead not recognised: {})"
DRAFT_DOMAIN = "lscb-xl.invalid"  # Message-ID domain when a draft has no From (Outlook fills it in)


@dataclass(frozen=True)
class DueAction:
    """One action as a lead is reminded of it; ``days_left`` is negative when overdue."""

    ref: str
    action: str
    target: str
    deadline: dt.date
    rag: str
    rag_label: str  # letter and word ('A Amber'): the rating must read without its colour
    days_left: int
    overdue: bool

    @property
    def when(self) -> str:
        """'12 days overdue', 'due today', '1 day left': what the lead acts on."""
        n = abs(self.days_left)
        plural = "" if n == 1 else "s"
        if self.overdue:
            return f"{n} day{plural} overdue"
        return "due today" if n == 0 else f"{n} day{plural} left"


# --------------------------------------------------------------------------------------------
# Which actions, for whom
# --------------------------------------------------------------------------------------------


def _due_item(rec: Record, days: int, as_at: dt.date) -> DueAction | None:
    """The action as a reminder, or None when it is complete, undated or not yet near its deadline."""
    rag = rag_info(rec.get("rag"))
    if rag["code"] == "B":
        return None
    target = dates.parse_target(clean_text(rec.get("target")) or None, as_at)
    if target.kind == "completed" or target.end is None:
        return None
    days_left = (target.end - as_at).days
    if days_left > days:
        return None
    return DueAction(ref=clean_text(rec.get("ref")), action=clean_text(rec.get("action")),
                     target=clean_text(rec.get("target")), deadline=target.end, rag=rag["code"],
                     rag_label=rag["label"], days_left=days_left,
                     overdue=dates.is_overdue(target, as_at))


def leads_of(text: Any, known: list[str]) -> list[str]:
    """Lead names of one cell, in the lookup's spelling; unknown names and a blank cell get a label.

    Spelling is taken from the lookup so 'nl' and 'NL' are one person with one message.
    """
    if not clean_text(text):
        return [NO_LEAD]
    spelling = {k.casefold(): k for k in known}
    good, bad = lead_tokens(clean_text(text), known)
    names = [spelling[g.casefold()] for g in good] + [UNKNOWN_LEAD.format(b) for b in bad]
    return list(dict.fromkeys(names))


def due_actions(data: BoardData, days: int, as_at: dt.date) -> dict[str, list[DueAction]]:
    """Actions due within ``days`` days of ``as_at`` or overdue, per lead person.

    Never reminded: an action rated B (complete), a target that reads as completed, and a target
    with no readable deadline (ongoing work, blank or unreadable text: the Validation sheet flags
    those instead). Leads come in the LeadPersons lookup's order, then unrecognised names, then
    actions with no lead; each lead's actions are most overdue first.
    """
    if days < 0:
        raise ValueError("days must be 0 or more")
    known = data.lookup_values("LeadPersons")
    found: dict[str, list[DueAction]] = {}
    for rec in data.records(schema.ACTION_PLAN):
        item = _due_item(rec, days, as_at)
        if item is not None:
            for lead in leads_of(rec.get("lead"), known):
                found.setdefault(lead, []).append(item)
    order = {k: i for i, k in enumerate(known)}
    ranked = sorted(found, key=lambda k: order.get(k, len(order) + (k == NO_LEAD)))  # stable: ties keep first use
    return {k: sorted(found[k], key=lambda a: a.days_left) for k in ranked}


def lead_emails(data: BoardData) -> dict[str, str]:
    """Lead name -> the email address in the LeadPersons lookup (leads without one are left out)."""
    out = {}
    for rec in data.lookups.get("LeadPersons", []):
        name, address = clean_text(rec.get("initials")), clean_text(rec.get("email"))
        if name and address:
            out[name] = address
    return out


# --------------------------------------------------------------------------------------------
# The message
# --------------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html lang="en-GB">
<head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 11pt">
<h1 style="font-size: 14pt">{{ subject }}</h1>
<p>{{ intro }}</p>
<table style="border-collapse: collapse" border="1" cellpadding="4">
<caption style="text-align: left">Actions for {{ lead }}</caption>
<thead><tr><th scope="col">Ref</th><th scope="col">Action</th><th scope="col">Target date / evidence</th>
<th scope="col">Deadline</th><th scope="col">RAG</th><th scope="col">Days</th></tr></thead>
<tbody>
{% for a in rows %}
<tr><th scope="row">{{ a.ref }}</th><td>{{ a.action }}</td><td>{{ a.target }}</td><td>{{ a.deadline }}</td>
<td style="background: #{{ a.fill }}; color: #{{ a.font }}">{{ a.rag }}</td><td>{{ a.when }}</td></tr>
{% endfor %}
</tbody>
</table>
<p>{{ closing }}</p>
</body>
</html>
"""

TEXT = """{{ subject }}

{{ intro }}

{% for a in rows %}
{{ a.ref }}: {{ a.when }} (deadline {{ a.deadline }}), RAG {{ a.rag }}
  Action: {{ a.action }}
  Target date / evidence: {{ a.target }}

{% endfor %}
{{ closing }}
"""

CLOSING = "Please update the action plan's target or rating, or tell the board's business manager what has changed."


def _render(template: str, autoescape: bool, values: Mapping[str, Any]) -> str:
    """HTML autoescapes (cell text such as '<b>' arrives as text); cell text is never re-rendered."""
    env = Environment(autoescape=autoescape, undefined=StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    return env.from_string(template).render(**values)


def subject_line(count: int, as_at: dt.date) -> str:
    """'LSCB action plan: 3 actions due or overdue (as at 23/02/2015)'."""
    return f"LSCB action plan: {count} action{'' if count == 1 else 's'} due or overdue (as at {as_at:%d/%m/%Y})"


def _intro(lead: str, board: str, days: int, as_at: dt.date) -> str:
    who = f"led by {lead}" if not lead.startswith("(") else f"whose lead is not in the LeadPersons list {lead}"
    return (f"These actions on the {board} action plan, {who}, are overdue or due within {days} days, "
            f"as at {as_at:%d/%m/%Y}.")


def _rows(items: list[DueAction]) -> list[dict[str, str]]:
    rows = []
    for a in items:
        colours = rag_info(a.rag)
        rows.append({"ref": a.ref, "action": a.action, "target": a.target, "deadline": f"{a.deadline:%d/%m/%Y}",
                     "rag": a.rag_label, "fill": colours["fill"], "font": colours["font"],
                     "when": a.when})
    return rows


def bodies(lead: str, items: list[DueAction], board: str, days: int, as_at: dt.date) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of one lead's reminder."""
    subject = subject_line(len(items), as_at)
    values = {"subject": subject, "intro": _intro(lead, board, days, as_at), "lead": lead, "rows": _rows(items),
              "closing": CLOSING}
    return subject, _render(TEXT, False, values), _render(HTML, True, values)


def reminder_message(subject: str, text: str, html: str, to: str | None, sender: str | None) -> EmailMessage:
    """Plain text with an HTML alternative; no To (Outlook asks) or no From (a draft) when not given."""
    msg = EmailMessage()
    msg["Subject"] = subject
    domain = DRAFT_DOMAIN
    if sender:
        senders = parse_addresses([sender], "From")
        if len(senders) != 1:
            raise EmailError(f"From must be one address, not {sender!r}.")
        msg["From"] = senders[0]
        domain = senders[0].rpartition("@")[2].rstrip(">")
    if to:
        msg["To"] = ", ".join(parse_addresses([to], "To"))
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    msg["Content-Language"] = "en-GB"
    return msg


@dataclass(frozen=True)
class Reminder:
    lead: str
    to: str | None
    count: int
    message: EmailMessage


def reminders(data: BoardData, due: Mapping[str, list[DueAction]], days: int, as_at: dt.date,
              sender: str | None = None, secrets: Mapping[str, str] | None = None) -> list[Reminder]:
    """One message per lead, each through the data-protection check before anyone can send it."""
    emails = lead_emails(data)
    board = clean_text(data.settings.get("BoardName")) or "Local Safeguarding Children Board"
    out = []
    for lead, items in due.items():
        subject, text, html = bodies(lead, items, board, days, as_at)
        leakcheck.check_outgoing([subject, text, html], data,
                                 [f"subject to {lead}", f"plain text to {lead}", f"HTML to {lead}"], secrets)
        to = emails.get(lead)
        try:
            message = reminder_message(subject, text, html, to, sender)
        except EmailError as exc:
            raise EmailError(f"lead {lead} (LeadPersons list on the Lookups sheet): {exc}") from None
        out.append(Reminder(lead, to, len(items), message))
    return out
