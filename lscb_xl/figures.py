"""Derived figures, defined once and evaluated twice: in Python and as live Excel formulas.

Each figure is a small expression tree (:class:`Sum`, :class:`Ratio`, ...). :func:`evaluate`
computes it over plain records; :func:`to_excel` renders the *same* tree as an Excel formula
with structured references, so the workbook keeps the figure right when staff type in Excel
without Python, and LibreOffice can check that both agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lscb_xl import schema

Records = Mapping[str, Sequence[Mapping[str, Any]]]  # table name -> records


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sum:
    """Sum of a numeric column over the records matching ``where`` (column key -> value)."""

    table: str
    column: str
    where: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Count:
    """Number of records matching ``where``."""

    table: str
    where: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Distinct:
    """Number of distinct non-blank values in a column (e.g. audit meetings)."""

    table: str
    column: str


@dataclass(frozen=True)
class Ratio:
    num: Expr
    den: Expr


@dataclass(frozen=True)
class Minus:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Plus:
    terms: tuple[Expr, ...] = field(default_factory=tuple)


Expr = Sum | Count | Distinct | Ratio | Minus | Plus


def _matches(rec: Mapping[str, Any], where: tuple[tuple[str, str], ...]) -> bool:
    return all(str(rec.get(k) or "").strip().casefold() == v.casefold() for k, v in where)


def _number(value: Any) -> float:
    """Numbers count; blanks and text count as 0, as Excel's SUM treats them."""
    if isinstance(value, bool) or value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    return 0.0


def evaluate(expr: Expr, records: Records) -> float | None:
    """The figure's value from the records; ``None`` where Excel would show #DIV/0!."""
    if isinstance(expr, Sum):
        if expr.column == "total" and expr.table == schema.EARLY_HELP.name:
            return sum(
                sum(_number(r.get(q.lower())) for q in schema.QUARTERS)
                for r in records[expr.table]
                if _matches(r, expr.where)
            )
        return sum(_number(r.get(expr.column)) for r in records[expr.table] if _matches(r, expr.where))
    if isinstance(expr, Count):
        return float(sum(1 for r in records[expr.table] if _matches(r, expr.where)))
    if isinstance(expr, Distinct):
        return float(len({r.get(expr.column) for r in records[expr.table] if r.get(expr.column) is not None}))
    if isinstance(expr, Ratio):
        num, den = evaluate(expr.num, records), evaluate(expr.den, records)
        if num is None or not den:
            return None
        return num / den
    if isinstance(expr, Minus):
        a, b = evaluate(expr.left, records), evaluate(expr.right, records)
        return None if a is None or b is None else a - b
    if isinstance(expr, Plus):
        vals = [evaluate(t, records) for t in expr.terms]
        return None if any(v is None for v in vals) else sum(v for v in vals if v is not None)
    raise TypeError(f"not a figure expression: {expr!r}")


def col_ref(table: str, column_key: str) -> str:
    """A structured reference ``Table[Header]`` with Excel's escapes (' before ' [ ] #)."""
    header = schema.TABLE_BY_NAME[table].column(column_key).header
    escaped = "".join("'" + ch if ch in "'[]#" else ch for ch in header)
    return f"{table}[{escaped}]"


def _criteria(table: str, where: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f'{col_ref(table, k)},"{v}"' for k, v in where)


def to_excel(expr: Expr) -> str:
    """The expression as an Excel formula body (no leading ``=``)."""
    if isinstance(expr, Sum):
        ref = col_ref(expr.table, expr.column)
        return f"SUMIFS({ref},{_criteria(expr.table, expr.where)})" if expr.where else f"SUM({ref})"
    if isinstance(expr, Count):
        if expr.where:
            return f"COUNTIFS({_criteria(expr.table, expr.where)})"
        first = schema.TABLE_BY_NAME[expr.table].columns[0].key
        return f"ROWS({col_ref(expr.table, first)})"
    if isinstance(expr, Distinct):
        ref = col_ref(expr.table, expr.column)
        return f'SUMPRODUCT(({ref}<>"")/COUNTIF({ref},{ref}&""))'
    if isinstance(expr, Ratio):
        den = to_excel(expr.den)
        return f'IF(({den})=0,"",({to_excel(expr.num)})/({den}))'
    if isinstance(expr, Minus):
        return f"({to_excel(expr.left)})-({to_excel(expr.right)})"
    if isinstance(expr, Plus):
        return "+".join(f"({to_excel(t)})" for t in expr.terms)
    raise TypeError(f"not a figure expression: {expr!r}")


# --------------------------------------------------------------------------------------------
# The board's figures
# --------------------------------------------------------------------------------------------

T, F, EH, AU = schema.TRAINING.name, schema.FINANCE.name, schema.EARLY_HELP.name, schema.AUDITS.name
RECORDED = (("sectors_recorded", "Yes"),)

ALL_ATTENDEES = Sum(T, "total")
RECORDED_ATTENDEES = Sum(T, "total", RECORDED)
BROUGHT_FORWARD = Sum(F, "amount", (("kind", "Balance brought forward"),))
CONTRIBUTIONS = Sum(F, "amount", (("kind", "Contribution"),))
TOTAL_INCOME = Plus((BROUGHT_FORWARD, CONTRIBUTIONS))
TOTAL_EXPENDITURE = Sum(F, "amount", (("kind", "Expenditure"),))
CARRY_FORWARD = Minus(TOTAL_INCOME, TOTAL_EXPENDITURE)


def sector_attendees(sector: str) -> Sum:
    return Sum(T, schema.sector_key(sector), RECORDED)


def sector_share(sector: str) -> Ratio:
    return Ratio(sector_attendees(sector), RECORDED_ATTENDEES)


def eh_total(measure: str, category: str | None = None, quarter: str = "total") -> Sum:
    where = (("measure", measure),) + ((("category", category),) if category else ())
    return Sum(EH, quarter, where)


def eh_share(measure: str, category: str, quarter: str = "total") -> Ratio:
    return Ratio(eh_total(measure, category, quarter), eh_total(measure, None, quarter))


@dataclass(frozen=True)
class Figure:
    """A figure the board publishes: its id in ``published.csv`` and how to compute it."""

    id: str
    expr: Expr


def _slug(text: str) -> str:
    return schema.sector_key(text).removeprefix("sec_")


REFERRAL_SOURCES = (
    "Adolescent Team",
    "3rd Sector provider",
    "CFCS",
    "Children with Disabilities Team",
    "Children's Centre",
    "Connexions",
    "Education Welfare Team",
    "Family Support Team",
    "Health Visitor",
    "Initial Response Team",
    "Nursery (TBC or private)",
    "PCT",
    "Pupil Referral Unit",
    "Schools",
    "Traveller Support Team",
    "Youth Offending Service",
)

FIGURES: tuple[Figure, ...] = (
    Figure("finance.total_income", TOTAL_INCOME),
    Figure("finance.total_expenditure", TOTAL_EXPENDITURE),
    Figure("finance.carry_forward", CARRY_FORWARD),
    Figure("training.total_attendees", ALL_ATTENDEES),
    Figure("training.recorded_in_sectors", RECORDED_ATTENDEES),
    Figure("training.level2_sessions", Sum(T, "sessions", (("event", "Level 2 Child Protection"),))),
    Figure(
        "training.online_sessions", Sum(T, "sessions", (("event", "Online Exploitation of Children & Young People"),))
    ),
    Figure("training.set_briefings_sessions", Sum(T, "sessions", (("event", "Revised SET Procedures Briefings x 3"),))),
    Figure("training.set_briefings_attendees", Sum(T, "total", (("event", "Revised SET Procedures Briefings x 3"),))),
    *(Figure(f"training.share.{_slug(s)}", sector_share(s)) for s in schema.SECTORS),
    Figure("audits.meetings", Distinct(AU, "meeting")),
    *(Figure(f"early_help.referrals.{_slug(s)}", eh_total("Referral source", s)) for s in REFERRAL_SOURCES),
    Figure("early_help.schools_share", eh_share("Referral source", "Schools")),
    Figure("early_help.deescalated_share_q3", eh_share("De-escalated", "Yes", "q3")),
    Figure("early_help.deescalated_share_q4", eh_share("De-escalated", "Yes", "q4")),
    Figure("early_help.white_british_share", eh_share("Ethnicity", "White British")),
    Figure("early_help.black_british_share", eh_share("Ethnicity", "Black British")),
    Figure("early_help.asian_british_referrals", eh_total("Ethnicity", "Asian British")),
    Figure("early_help.needs_met_share", eh_share("Closure reason", "Needs met")),
    Figure("early_help.non_engagement_share", eh_share("Closure reason", "Non engagement")),
)
FIGURE_BY_ID = {f.id: f for f in FIGURES}


# --------------------------------------------------------------------------------------------
# Rounding
# --------------------------------------------------------------------------------------------


def round_half_up(value: float, decimals: int = 0) -> float:
    """School rounding (2.5 -> 3), as readers of a report expect; Python's round() is banker's."""
    factor = 10**decimals
    return math.floor(value * factor + 0.5 + 1e-9) / factor


def largest_remainder(counts: Mapping[str, float], total: int = 100) -> dict[str, int]:
    """Whole percentages that add up to exactly ``total`` (Hamilton's largest-remainder method).

    Plain rounding of ten sector shares can add up to 99 or 101; the board's table must add to
    100, so each share gets its floor and the leftover points go to the largest remainders
    (ties broken by the larger count, then by order).
    """
    whole = sum(counts.values())
    if whole <= 0:
        return {k: 0 for k in counts}
    exact = {k: v * total / whole for k, v in counts.items()}
    floors = {k: math.floor(x) for k, x in exact.items()}
    left = total - sum(floors.values())
    order = sorted(counts, key=lambda k: (-(exact[k] - floors[k]), -counts[k], list(counts).index(k)))
    for k in order[:left]:
        floors[k] += 1
    return floors


def sector_table(training: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Attendees by sector with exact and largest-remainder percentages, in schema order."""
    records = {T: training}
    counts = {s: evaluate(sector_attendees(s), records) or 0.0 for s in schema.SECTORS}
    rounded = largest_remainder(counts)
    whole = sum(counts.values())
    return [
        {
            "sector": s,
            "attendees": int(counts[s]),
            "share": (counts[s] / whole) if whole else 0.0,
            "percent": rounded[s],
        }
        for s in schema.SECTORS
    ]
