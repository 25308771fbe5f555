"""A new year's workbook from last year's: what carries over and what starts again.

:func:`next_year` is pure. The reporting period moves on one year; the finance table opens with
one line, the balance brought forward, whose amount is the carry forward *computed from the
year's records* by the engine's own figure (:data:`lscb_xl.figures.CARRY_FORWARD`), never the
figure a report printed (the demo board's report prints 27,184 where its lines give 27,684).
Open actions carry over with their History rows, so the RAG history of work still under way is
not lost; closed actions (rated B) stay in last year's workbook. The year's training, early help,
audits and audit trail start empty, and the published figures are kept as rows to fill in.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
from dataclasses import dataclass

from lscb_xl import dates, figures, schema
from lscb_xl.errors import UnusableWorkbook
from lscb_xl.model import BoardData, Record
from lscb_xl.summary import clean_text

EMPTIED = (schema.TRAINING, schema.EARLY_HELP, schema.AUDITS, schema.AUDIT_TRAIL)


def one_year_on(day: dt.date) -> dt.date:
    """The same day next year; 29 February becomes 28 February, so a period ending on it still ends a month."""
    year = day.year + 1
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def period_label(start: dt.date, end: dt.date) -> str:
    """'2011/12' for a financial year, '2011' for a calendar year, else both dates."""
    if end.year == start.year + 1:
        return f"{start.year}/{end.year % 100:02d}"
    if start.year == end.year and (start.month, start.day, end.month, end.day) == (1, 1, 12, 31):
        return str(start.year)
    return f"{start:%d/%m/%Y} to {end:%d/%m/%Y}"


def _period(data: BoardData) -> tuple[dt.date, dt.date]:
    """The year being closed; without it there is no next year to start."""
    start = dates.parse_uk_date(data.settings.get("PeriodStart"))
    end = dates.parse_uk_date(data.settings.get("PeriodEnd"))
    if start is None or end is None or end < start:
        raise UnusableWorkbook("cannot start the next year: set the reporting period's start and end dates on the "
                               "Home sheet (day first, e.g. 01/04/2011 and 31/03/2012).")
    return start, end


def is_closed(rec: Record) -> bool:
    """Rated B (Blue): complete, so it stays in the year it was finished."""
    return clean_text(rec.get("rag")).upper() == "B"


def brought_forward(data: BoardData) -> Record:
    """The new year's only finance line: last year's carry forward as the records compute it."""
    start, end = _period(data)
    amount = round(figures.evaluate(figures.CARRY_FORWARD, data.tables) or 0.0, 2)
    return {"kind": "Balance brought forward", "item": f"Balance brought forward from {period_label(start, end)}",
            "amount": amount, "note": "Carry forward computed from the year's finance lines by lscb-xl rollover"}


def _settings(data: BoardData) -> dict[str, object]:
    start, end = _period(data)
    new_start = one_year_on(start)
    return {**data.settings, "PeriodStart": new_start, "PeriodEnd": one_year_on(end), "AsAt": new_start,
            "LastRefreshed": None, "SnapshotChanges": None}


def next_year(data: BoardData) -> BoardData:
    """Next year's board data; ``data`` is left as it was. Raises UnusableWorkbook without a period."""
    tables = copy.deepcopy(data.tables)
    open_actions = [r for r in tables.get(schema.ACTION_PLAN.name, []) if not is_closed(r)]
    open_refs = {clean_text(r.get("ref")) for r in open_actions}
    tables[schema.ACTION_PLAN.name] = open_actions
    tables[schema.HISTORY.name] = [r for r in tables.get(schema.HISTORY.name, [])
                                   if clean_text(r.get("ref")) in open_refs]
    tables[schema.FINANCE.name] = [brought_forward(data)]
    tables.update({t.name: [] for t in EMPTIED})
    tables[schema.PUBLISHED_TABLE.name] = [{**r, "published": None}
                                           for r in tables.get(schema.PUBLISHED_TABLE.name, [])]
    return BoardData(settings=_settings(data), tables=tables, lookups=copy.deepcopy(data.lookups),
                     sheet_names=list(schema.SHEETS))


@dataclass(frozen=True)
class Rollover:
    """What a rollover carried, for the command's report."""

    data: BoardData
    label: str
    carried: int
    closed: int
    history_rows: int
    brought_forward: float


def roll(data: BoardData) -> Rollover:
    """:func:`next_year` with the counts the user is told."""
    start, end = _period(data)
    new = next_year(data)
    actions = data.records(schema.ACTION_PLAN)
    return Rollover(new, period_label(start, end), len(new.records(schema.ACTION_PLAN)),
                    sum(1 for r in actions if is_closed(r)), len(new.records(schema.HISTORY)),
                    new.records(schema.FINANCE)[0]["amount"])
