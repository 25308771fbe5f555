"""The board's summary as plain data: one context that the Word, HTML, text and email outputs share.

:func:`build_context` is a pure function of the records and the validation findings, so every
output shows the same figures, and the figures are the engine's own (:mod:`lscb_xl.figures`),
not a second set of sums that could drift. The context holds only plain values (str, int,
float, bool, None, lists and dicts) so it can be rendered by any template, dumped as JSON or
compared in a test. Columns the schema marks ``restricted`` (case detail) are never read here.

The last section turns a context into the outputs (:func:`make_outputs`, :func:`write_summaries`)
for the CLI, ``lscb-xl demo`` and the ribbon; it imports the renderers lazily, so code that only
needs the figures does not load Word, Jinja or matplotlib.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lscb_xl import __version__, dates, figures, schema
from lscb_xl.model import BoardData, Record
from lscb_xl.validation import Finding, as_whole

AP, T, AU = schema.ACTION_PLAN.name, schema.TRAINING.name, schema.AUDITS.name
NOT_RATED = "Not rated"
NO_SNAPSHOT = "no previous snapshot"
PERCENT_NOTE = (
    "Percentages are whole numbers rounded by the largest-remainder method, so that the column adds up "
    "to exactly 100%; a single sector may differ by one point from plain rounding."
)
DRAFT_TO = "board-members@example.invalid"
DRAFT_FROM = "lscb@example.invalid"
RESTRICTED_NOTE = "Case details (columns marked restricted, such as audit findings) are never included."

# XML 1.0 forbids most control characters; Word and LibreOffice refuse a document that has them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ReportError(Exception):
    """A summary, template, leak check or email step refused; the message is one line for the user."""


# --------------------------------------------------------------------------------------------
# Small formatting helpers (plain text out, so every template shows the same wording)
# --------------------------------------------------------------------------------------------


def clean_text(value: Any) -> str:
    """Cell text safe for any output: trimmed, control characters dropped (never escaped here)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _CONTROL.sub("", str(value)).strip()


def long_date(value: dt.date | None) -> str:
    """'23 February 2015': the UK long form the board's reports use."""
    return f"{value.day} {value:%B %Y}" if value else "not set"


def money(value: float | None) -> str:
    """'£110,922' or '£1,234.50'; whole pounds print without pence, as the annual report does."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    amount = abs(value)
    text = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{sign}£{text}"


def percent(share: float | None) -> str:
    """A share as a whole percentage rounded half-up (the published-figure convention), or 'n/a'."""
    return "n/a" if share is None else f"{figures.round_half_up(share * 100):.0f}%"


def whole(value: float | None) -> int:
    """A count from a figures Evaluator (which answers floats) as an int."""
    return round(value or 0)


def rag_info(code: Any) -> dict[str, str]:
    """A rating as the outputs show it: shaded with the schema's colours *and* labelled ('G Green')."""
    text = clean_text(code).upper()
    for c, word, meaning, fill, font in schema.RAG_RATINGS:
        if c == text:
            return {"code": c, "word": word, "label": f"{c} {word}", "meaning": meaning,
                    "fill": fill.lstrip("#"), "font": font.lstrip("#")}
    label = NOT_RATED if not text else f"{text} (not a RAG code)"
    return {"code": text, "word": NOT_RATED, "label": label, "meaning": "No valid RAG rating recorded",
            "fill": "FFFFFF", "font": "000000"}


# --------------------------------------------------------------------------------------------
# Action plan
# --------------------------------------------------------------------------------------------


def _action_records(data: BoardData) -> list[Record]:
    """Action rows with the grouping columns normalised (1.0 -> '1', ' g' -> 'G') so Count matches them."""
    out = []
    for rec in data.records(schema.ACTION_PLAN):
        number = as_whole(rec.get("finding"))
        out.append({**rec, "finding": str(number) if number is not None else clean_text(rec.get("finding")),
                    "agency": clean_text(rec.get("agency")), "rag": clean_text(rec.get("rag")).upper()})
    return out


def _rag_counts(records: list[Record], where: tuple[tuple[str, str], ...] = ()) -> dict[str, int]:
    """Actions per rating (R, A, G, B) and 'not rated', counted by the engine's Count figure."""
    by_code = {code: figures.Count(AP, (*where, ("rag", code))) for code in schema.RAG_CODES}
    everything = figures.Count(AP, where)
    ev = figures.Evaluator({AP: records}).prefetch([everything, *by_code.values()])  # one pass
    total = whole(ev(everything))
    counts = {code: whole(ev(expr)) for code, expr in by_code.items()}
    return {**counts, "not_rated": total - sum(counts.values()), "total": total}


def _ordered_values(preferred: Iterable[str], present: Iterable[str]) -> list[str]:
    """Values in the lookup's order first, then any others in the order the records use them."""
    present = [p for p in present if p]
    seen = set(present)
    out = [p for p in dict.fromkeys(preferred) if p in seen]
    return out + [p for p in dict.fromkeys(present) if p not in out]


def _by_finding(data: BoardData, records: list[Record]) -> list[dict[str, Any]]:
    titles = {str(as_whole(r.get("finding"))): clean_text(r.get("title")) for r in data.lookups.get("Findings", [])}
    keys = _ordered_values(titles, (r["finding"] for r in records))
    return [{"finding": k, "title": titles.get(k, ""), "counts": _rag_counts(records, (("finding", k),))}
            for k in keys]


def _by_agency(data: BoardData, records: list[Record]) -> list[dict[str, Any]]:
    keys = _ordered_values(data.lookup_values("Agencies"), (r["agency"] for r in records))
    return [{"agency": k, "counts": _rag_counts(records, (("agency", k),))} for k in keys]


def _action_item(rec: Record, target: dates.Target) -> dict[str, Any]:
    return {
        "ref": clean_text(rec.get("ref")),
        "agency": clean_text(rec.get("agency")),
        "action": clean_text(rec.get("action")),
        "rag": rag_info(rec.get("rag")),
        "target": clean_text(rec.get("target")),
        "deadline": long_date(target.end) if target.end else "",
        "reading": target.note,
    }


def _late_actions(records: list[Record], as_at: dt.date | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Overdue actions (deadline passed, not Blue) and stale greens (Green with no target, or overdue).

    The rules are the validation rules' own (:func:`dates.parse_target`, :func:`dates.is_overdue`),
    so the summary and the Validation sheet never disagree about what is late.
    """
    overdue: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    for rec in records:
        raw = clean_text(rec.get("target"))
        target = dates.parse_target(raw or None, as_at)
        late = as_at is not None and rec["rag"] != "B" and dates.is_overdue(target, as_at)
        if late:
            overdue.append(_action_item(rec, target))
        if rec["rag"] == "G" and (late or not raw):
            why = f"overdue since {long_date(target.end)}" if late else "no target date or evidence recorded"
            stale.append({**_action_item(rec, target), "why": why})
    return overdue, stale


def action_plan_context(data: BoardData, as_at: dt.date | None) -> dict[str, Any]:
    """Counts by RAG overall, by finding and by agency; overdue and stale-green actions; changes."""
    records = _action_records(data)
    overall = _rag_counts(records)
    overdue, stale = _late_actions(records, as_at)
    by_rag = [{"rag": rag_info(code), "count": overall[code]} for code in schema.RAG_CODES]
    if overall["not_rated"]:
        by_rag.append({"rag": rag_info(""), "count": overall["not_rated"]})
    return {
        "total": overall["total"],
        "counts": overall,
        "by_rag": by_rag,
        "by_finding": _by_finding(data, records),
        "by_agency": _by_agency(data, records),
        "overdue": overdue,
        "stale_green": stale,
        **changes_context(data, as_at),
    }


def changes_context(data: BoardData, as_at: dt.date | None) -> dict[str, Any]:
    """Rating changes since the previous snapshot, as short lines (None before any snapshot)."""
    from lscb_xl.history import compare

    changes = compare(data, as_at)
    if changes.since is None:
        return {"changes": None, "changes_note": NO_SNAPSHOT}
    lines = [f"{c['ref']}: {c['old']} to {c['new']} (completed)" for c in changes.completed]
    lines += [f"{c['ref']}: {c['old']} to {c['new']} (up)" for c in changes.moved_up]
    lines += [f"{c['ref']}: {c['old']} to {c['new']} (down)" for c in changes.moved_down]
    lines += [f"{c['ref']}: newly overdue" for c in changes.new_overdue]
    lines += [f"{c['ref']}: overdue and unchanged for three snapshots" for c in changes.stuck]
    lines += [f"{ref}: new action" for ref in changes.new_actions]
    return {"changes": lines or [f"No changes since {changes.since:%d/%m/%Y}"], "changes_note": changes.line()}


# --------------------------------------------------------------------------------------------
# Training, finance, early help, audits
# --------------------------------------------------------------------------------------------


def training_context(data: BoardData, ev: figures.Evaluator) -> dict[str, Any]:
    """Events, sessions, attendees and the sector table with largest-remainder percentages."""
    sectors = figures.sector_table(data.records(schema.TRAINING), ev)
    return {
        "events": whole(ev(figures.Count(T))),
        "sessions": whole(ev(figures.Sum(T, "sessions"))),
        "attendees": whole(ev(figures.ALL_ATTENDEES)),
        "recorded_attendees": whole(ev(figures.RECORDED_ATTENDEES)),
        "sectors": [{"sector": r["sector"], "attendees": r["attendees"], "share": r["share"],
                     "percent": r["percent"], "percent_text": f"{r['percent']}%"} for r in sectors],
        "sector_attendees": sum(r["attendees"] for r in sectors),
        "percent_total": sum(r["percent"] for r in sectors),
        "percent_method": "largest remainder",
        "percent_note": PERCENT_NOTE,
    }




def finance_context(ev: figures.Evaluator) -> dict[str, Any]:
    """Income, expenditure and carry forward, as numbers and as the report prints them."""
    values = {label: ev(expr) for label, expr in figures.FINANCE_LINES}
    lines = [{"label": label, "amount": value, "display": money(value)} for label, value in values.items()]
    return {
        "brought_forward": values["Balance brought forward"],
        "contributions": values["Contributions from partners"],
        "income": values["Total income"],
        "expenditure": values["Total expenditure"],
        "carry_forward": values["Carry forward"],
        "lines": lines,
    }


EARLY_HELP_COUNTS = (
    ("CAFs received (all referral sources)", "Referral source", None),
    ("Cases presented by cluster", "Cluster", None),
    ("Cases referred back from social care (de-escalated)", "De-escalated", "Yes"),
    ("Cases closed", "Closure reason", None),
    ("Closed with needs met", "Closure reason", "Needs met"),
)
EARLY_HELP_SHARES = (
    ("Referrals from schools", "Referral source", "Schools"),
    ("Referred back from social care (de-escalated)", "De-escalated", "Yes"),
    ("Closed with needs met", "Closure reason", "Needs met"),
    ("Closed for non engagement", "Closure reason", "Non engagement"),
)


def _quarter_recorded(data: BoardData, measure: str, quarter: str) -> bool:
    """A quarter left blank for a whole measure was not recorded: show that, not a misleading 0."""
    return any(clean_text(r.get("measure")).casefold() == measure.casefold() and r.get(quarter) is not None
               for r in data.records(schema.EARLY_HELP))


def early_help_context(data: BoardData, ev: figures.Evaluator) -> dict[str, Any]:
    """Headline early-help figures: quarterly counts and the year's shares."""
    rows = []
    for label, measure, category in EARLY_HELP_COUNTS:
        quarters = []
        for q in schema.QUARTERS:
            key = q.lower()
            value = whole(ev(figures.eh_total(measure, category, key)))
            recorded = _quarter_recorded(data, measure, key)
            quarters.append({"quarter": q, "value": value if recorded else None,
                             "display": str(value) if recorded else "not recorded"})
        total = whole(ev(figures.eh_total(measure, category)))
        rows.append({"label": label, "quarters": quarters, "total": total})
    shares = []
    for label, measure, category in EARLY_HELP_SHARES:
        share = ev(figures.eh_share(measure, category))
        shares.append({"label": label, "share": share, "display": percent(share)})
    return {"quarters": list(schema.QUARTERS), "counts": rows, "shares": shares}


def audits_context(data: BoardData, ev: figures.Evaluator) -> dict[str, Any]:
    """Meetings, tasks by status, and the completed and deferred tasks (never the findings text)."""
    by_status = [{"status": s, "count": whole(ev(figures.Count(AU, (("status", s),))))}
                 for s in schema.AUDIT_STATUSES]
    counts = {row["status"]: row["count"] for row in by_status}
    listed = []
    for rec in data.records(schema.AUDITS):
        status = clean_text(rec.get("status"))
        if status.casefold() in ("completed", "deferred"):
            when = dates.parse_uk_date(rec.get("date"))
            listed.append({"meeting": as_whole(rec.get("meeting")), "date": long_date(when) if when else "",
                           "task": clean_text(rec.get("task")), "status": status})
    return {
        "meetings": whole(ev(figures.Distinct(AU, "meeting"))),
        "tasks": whole(ev(figures.Count(AU))),
        "completed": counts.get("Completed", 0),
        "deferred": counts.get("Deferred", 0),
        "by_status": by_status,
        "completed_or_deferred": listed,
    }


def caveats_context(findings: Sequence[Finding]) -> dict[str, Any]:
    """Validation errors still open, so nobody publishes a figure the engine doubts."""
    errors = [{"sheet": f.sheet, "cell": f.cell, "rule": f.rule, "message": clean_text(f.message)}
              for f in findings if f.severity == "error"]
    warnings = sum(1 for f in findings if f.severity == "warning")
    if errors:
        note = (f"{len(errors)} validation error(s) are still open in the workbook: check the figures they "
                "touch before publishing.")
    else:
        note = "No validation errors are open in the workbook."
    return {"errors": errors, "error_count": len(errors), "warning_count": warnings, "note": note}


# --------------------------------------------------------------------------------------------
# The whole context
# --------------------------------------------------------------------------------------------


def _period(settings: Mapping[str, Any]) -> dict[str, str]:
    start, end = dates.parse_uk_date(settings.get("PeriodStart")), dates.parse_uk_date(settings.get("PeriodEnd"))
    label = f"{long_date(start)} to {long_date(end)}" if start and end else "not set"
    return {"start": long_date(start), "end": long_date(end), "label": label,
            "start_iso": start.isoformat() if start else "", "end_iso": end.isoformat() if end else ""}


def build_context(data: BoardData, findings: list[Finding], as_at: dt.date | None = None) -> dict[str, Any]:
    """Everything a summary shows, as plain values; ``as_at`` defaults to the workbook's AsAt setting.

    Pure: the same records and findings always give the same context, which is what lets the
    Word, HTML and email outputs be tested against the engine's figures.
    """
    when = as_at or dates.parse_uk_date(data.settings.get("AsAt"))
    board = clean_text(data.settings.get("BoardName")) or "Local Safeguarding Children Board"
    as_at_text = long_date(when)
    ev = figures.evaluator(data.tables)  # one pass per table and filter for every figure shown
    return {
        "board": board,
        "title": f"{board}: summary as at {as_at_text}",
        "period": _period(data.settings),
        "as_at": as_at_text,
        "as_at_iso": when.isoformat() if when else "",
        "version": __version__,
        "rag_key": [rag_info(code) for code in schema.RAG_CODES],
        "actions": action_plan_context(data, when),
        "training": training_context(data, ev),
        "finance": finance_context(ev),
        "early_help": early_help_context(data, ev),
        "audits": audits_context(data, ev),
        "caveats": caveats_context(findings),
        "restricted_note": RESTRICTED_NOTE,
    }


def file_stem(context: Mapping[str, Any]) -> str:
    """A file name for attachments: 'lscb-summary-2015-02-23' (no spaces, sorts by date)."""
    return f"lscb-summary-{context.get('as_at_iso') or 'undated'}"


# --------------------------------------------------------------------------------------------
# Producing the outputs (file and template work; imported lazily so build_context stays light)
# --------------------------------------------------------------------------------------------


@dataclass
class Outputs:
    """One summary in every form, already through the leak check."""

    data: BoardData
    context: dict[str, Any]
    docx: bytes
    html: str  # the email body: no embedded chart
    text: str


def make_outputs(data: BoardData, findings: list[Finding], as_at: dt.date | None = None,
                 template: Path | None = None, secrets: Mapping[str, str] | None = None) -> Outputs:
    """Context, Word, HTML and text, refused unless none of them carries restricted text or hidden content."""
    from lscb_xl import leakcheck
    from lscb_xl.report_docx import render_docx
    from lscb_xl.report_html import render_html, render_text

    context = build_context(data, findings, as_at)
    docx = render_docx(context, template)
    html, text = render_html(context), render_text(context)
    hidden = leakcheck.check_docx(docx)
    if hidden:
        raise leakcheck.LeakFound(f"refused: the Word summary carries {', '.join(hidden)}; remove them from "
                                  "the template.")
    leakcheck.check_outgoing([context["title"], html, text, "\n".join(leakcheck.docx_texts(docx))], data,
                             ["subject", "HTML body", "plain-text body", "Word summary"], secrets)
    return Outputs(data, context, docx, html, text)


def write_html_file(outputs: Outputs, path: Path) -> Path:
    """The HTML summary as a file, with the chart embedded (checked like everything else)."""
    from lscb_xl import leakcheck
    from lscb_xl.report_html import render_html

    page = render_html(outputs.context, chart=True)
    leakcheck.check_outgoing([page], outputs.data, ["HTML summary"])
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)


def write_summaries(data: BoardData, findings: list[Finding], out_dir: Path) -> dict[str, Path]:
    """summary.docx, summary.html and summary.eml (a draft to placeholder addresses) in ``out_dir``.

    For ``lscb-xl demo`` and the ribbon's Summary button: every output without a mail server.
    Raises ReportError (one line) when the template is broken or the leak check refuses.
    """
    from lscb_xl.emailer import build_message, write_eml

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = make_outputs(data, findings)
    docx = out_dir / "summary.docx"
    docx.write_bytes(outputs.docx)
    html = write_html_file(outputs, out_dir / "summary.html")
    msg = build_message(outputs.context, outputs.html, outputs.text, outputs.docx, [DRAFT_TO], [], DRAFT_FROM,
                        outputs.context["title"])
    eml = write_eml(msg, out_dir / "summary.eml")
    return {"docx": docx, "html": html, "eml": eml}
