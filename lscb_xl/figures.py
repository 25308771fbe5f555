"""Derived figures, defined once and evaluated twice: in Python and as live Excel formulas.

Each figure is a small expression tree (:class:`Sum`, :class:`Ratio`, ...). :func:`evaluate`
computes it over plain records; :func:`to_excel` renders the *same* tree as an Excel formula
with structured references, so the workbook keeps the figure right when staff type in Excel
without Python, and LibreOffice can check that both agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


def _leaves(expr: Expr) -> Iterator[Sum | Count]:
    if isinstance(expr, Sum | Count):
        yield expr
    elif isinstance(expr, Ratio):
        yield from _leaves(expr.num)
        yield from _leaves(expr.den)
    elif isinstance(expr, Minus):
        yield from _leaves(expr.left)
        yield from _leaves(expr.right)
    elif isinstance(expr, Plus):
        for term in expr.terms:
            yield from _leaves(term)


def early_help_row_total(rec: Mapping[str, Any]) -> float:
    """The Early Help table's calculated Total for one row: SUM of its quarters, as Excel adds them
    (numbers only; blanks and text add nothing). Whole counts stay ints."""
    values = (rec.get(q.lower()) for q in schema.QUARTERS)
    return sum(v for v in values if type(v) is int or type(v) is float)


def _sum_columns(leaf: Sum) -> tuple[str, ...]:
    if leaf.column == "total" and leaf.table == schema.EARLY_HELP.name:
        return tuple(q.lower() for q in schema.QUARTERS)  # the calculated Total column
    return (leaf.column,)


Where = tuple[tuple[str, str], ...]


def _scan(rows: Sequence[Mapping[str, Any]],
          groups: Mapping[Where, set[str]]) -> dict[Where, tuple[dict[str, float], int]]:
    """One pass over ``rows`` for every filter at once: per filter, the column sums and row count."""
    plans = [(where, [(k, v.casefold()) for k, v in where], tuple(cols)) for where, cols in groups.items()]
    sums = {where: dict.fromkeys(cols, 0.0) for where, _c, cols in plans}
    counts = dict.fromkeys(groups, 0)
    for rec in rows:
        for where, conds, cols in plans:
            for key, want in conds:
                got = rec.get(key)
                if (got.strip() if type(got) is str else str(got or "").strip()).casefold() != want:
                    break
            else:
                counts[where] += 1
                acc = sums[where]
                for col in cols:
                    value = rec.get(col)
                    if type(value) is int or type(value) is float:  # not bool: Excel's SUM skips TRUE
                        acc[col] += value
    return {where: (sums[where], counts[where]) for where in groups}


class Evaluator:
    """Evaluates many figures over the same records, scanning each table once per filter.

    The board's figures share their filters (ten sector shares all sum "recorded" rows), so
    grouping the sums by table and filter turns tens of passes over a large table into a few.
    """

    def __init__(self, records: Records) -> None:
        self.records = records
        self._sums: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, float]] = {}
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}

    def prefetch(self, exprs: Iterable[Expr]) -> Evaluator:
        wanted: dict[str, dict[Where, set[str]]] = {}
        for expr in exprs:
            for leaf in _leaves(expr):
                cols = wanted.setdefault(leaf.table, {}).setdefault(leaf.where, set())
                if isinstance(leaf, Sum):
                    cols.update(_sum_columns(leaf))
        for table, groups in wanted.items():
            todo = {}
            for where, cols in groups.items():
                known = set(self._sums.get((table, where), {}))
                if (table, where) not in self._counts or not cols <= known:
                    todo[where] = cols | known
            for where, (sums, count) in _scan(self.records[table], todo).items() if todo else ():
                self._sums[(table, where)], self._counts[(table, where)] = sums, count
        return self

    def _leaf(self, leaf: Sum | Count) -> float:
        key = (leaf.table, leaf.where)
        cols = set(_sum_columns(leaf)) if isinstance(leaf, Sum) else set()
        if key not in self._counts or not cols <= set(self._sums.get(key, {})):
            self.prefetch([leaf])
        if isinstance(leaf, Count):
            return float(self._counts[key])
        return sum(self._sums[key][c] for c in _sum_columns(leaf))

    def __call__(self, expr: Expr) -> float | None:
        """The figure's value; ``None`` where Excel would show #DIV/0!."""
        if isinstance(expr, Sum | Count):
            return self._leaf(expr)
        if isinstance(expr, Distinct):
            rows = self.records[expr.table]
            return float(len({r.get(expr.column) for r in rows if r.get(expr.column) not in (None, "")}))
        if isinstance(expr, Ratio):
            num, den = self(expr.num), self(expr.den)
            return None if num is None or not den else num / den
        if isinstance(expr, Minus):
            a, b = self(expr.left), self(expr.right)
            return None if a is None or b is None else a - b
        if isinstance(expr, Plus):
            vals = [self(t) for t in expr.terms]
            return None if any(v is None for v in vals) else sum(v for v in vals if v is not None)
        raise TypeError(f"not a figure expression: {expr!r}")


def evaluate(expr: Expr, records: Records) -> float | None:
    """One figure's value from the records (use :class:`Evaluator` for many)."""
    return Evaluator(records)(expr)


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


#: The finance summary, in the order the workbook, the refresh and the summary show it.
FINANCE_LINES: tuple[tuple[str, Expr], ...] = (
    ("Balance brought forward", BROUGHT_FORWARD),
    ("Contributions from partners", CONTRIBUTIONS),
    ("Total income", TOTAL_INCOME),
    ("Total expenditure", TOTAL_EXPENDITURE),
    ("Carry forward", CARRY_FORWARD),
)


#: The totals under the Sector summary table, in the order the sheet shows them.
TRAINING_TOTALS: tuple[tuple[str, Expr], ...] = (
    ("All attendees", ALL_ATTENDEES),
    ("Attendees at events recorded by sector", RECORDED_ATTENDEES),
    ("Training events (rows)", Count(T)),
    ("Sessions delivered", Sum(T, "sessions")),
)


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


def sector_table(training: Sequence[Mapping[str, Any]], ev: Evaluator | None = None) -> list[dict[str, Any]]:
    """Attendees by sector with exact and largest-remainder percentages, in schema order.

    ``ev``, when given, must evaluate over these same training records (it saves a pass).
    """
    ev = ev or Evaluator({T: training}).prefetch(sector_attendees(s) for s in schema.SECTORS)
    counts = {s: ev(sector_attendees(s)) or 0.0 for s in schema.SECTORS}
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


#: Every expression the workbook shows: prefetching them all costs one pass per table and filter.
SHOWN: tuple[Expr, ...] = (
    *(f.expr for f in FIGURES),
    *(sector_attendees(s) for s in schema.SECTORS),
    BROUGHT_FORWARD, CONTRIBUTIONS, TOTAL_INCOME, TOTAL_EXPENDITURE, CARRY_FORWARD,
    Count(T), Sum(T, "sessions"),
)


def evaluator(records: Records) -> Evaluator:
    """An Evaluator with every shown figure already computed."""
    return Evaluator(records).prefetch(SHOWN)
