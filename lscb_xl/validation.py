"""Validation rules: pure functions from :class:`BoardData` to findings.

Each rule looks at plain records (as a reader or the seed produced them, values still raw) and
returns :class:`Finding` objects that name the sheet and cell, in words a business manager
understands. No rule reads a file, so the same rules run behind the CLI, the ribbon and the
server, and are tested on plain data.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from lscb_xl import dates, figures, schema
from lscb_xl.model import BoardData, Record, a1

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem: where it is, how bad, which rule, and what to do about it."""

    sheet: str
    cell: str
    severity: Severity
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _show(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def as_whole(value: Any) -> int | None:
    """A whole number from a cell value (12, 12.0, "12"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def as_money(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace("£", "").replace(",", "")
        try:
            return float(text)
        except ValueError:
            return None
    return None


def as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None


# --------------------------------------------------------------------------------------------
# Cell-level rules: required, types, allowed values
# --------------------------------------------------------------------------------------------


def _allowed(data: BoardData, column: schema.Column) -> list[str]:
    if column.choices == "RAG":
        return list(schema.RAG_CODES)
    return data.lookup_values(column.choices or "")


def _suspects(col: schema.Column, values: list[Any], allowed: frozenset[str]) -> list[int]:
    """Indexes of values that are blank or not plainly valid; everything else needs no check.

    A large register has a million cells and nearly all are fine, so the plain case is tested
    inline, column by column, and only the rest goes through the full (slower) checks.
    """
    low = col.minimum if col.minimum is not None else float("-inf")
    if col.type == "int":
        return [i for i, v in enumerate(values)
                if not ((type(v) is int or (type(v) is float and v.is_integer())) and v >= low)]
    if col.type == "money":
        published = col.key == "published"
        return [i for i, v in enumerate(values) if not ((type(v) is int or type(v) is float) and (v >= 0 or published))]
    if col.type == "date":
        return [i for i, v in enumerate(values) if not isinstance(v, dt.date)]
    if col.type == "choice":
        return [i for i, v in enumerate(values) if v not in allowed]
    return [i for i, v in enumerate(values) if v is None or (type(v) is str and not v.strip())]


def check_cells(data: BoardData, table: schema.Table) -> Iterator[Finding]:
    """Required fields, whole non-negative counts, money, real dates and dropdown values."""
    sheet = table.sheet
    records = data.records(table)
    for col in table.input_columns:
        if col.type == "text" and not col.required:
            continue  # free text: anything goes
        allowed = frozenset(_allowed(data, col)) if col.type == "choice" else frozenset()
        key = col.key
        values = [rec.get(key) for rec in records]
        for i in _suspects(col, values, allowed):
            value = values[i]
            cell = data.cell(table, i, key)
            if value is None or (type(value) is str and not value.strip()):
                if col.required:
                    yield Finding(sheet, cell, "error", "required", f"{col.header} is required but empty.")
            else:
                yield from _check_value(data, table, col, value, sheet, cell)


def _check_value(
    data: BoardData, table: schema.Table, col: schema.Column, value: Any, sheet: str, cell: str
) -> Iterator[Finding]:
    if col.type == "int":
        whole = as_whole(value)
        if whole is None:
            yield Finding(
                sheet, cell, "error", "whole-number", f"{col.header} must be a whole number; found {_show(value)}."
            )
        elif col.minimum is not None and whole < col.minimum:
            yield Finding(
                sheet, cell, "error", "negative", f"{col.header} cannot be less than {col.minimum:g}; found {whole}."
            )
        elif isinstance(value, str):
            yield Finding(
                sheet,
                cell,
                "warning",
                "number-as-text",
                f"{col.header} {value!r} is stored as text; retype it as a number.",
            )
    elif col.type == "money":
        amount = as_money(value)
        if amount is None:
            yield Finding(
                sheet, cell, "error", "money", f"{col.header} must be an amount in pounds; found {_show(value)}."
            )
        elif amount < 0 and table is not schema.PUBLISHED_TABLE:
            yield Finding(sheet, cell, "error", "negative", f"{col.header} cannot be negative; found £{amount:,.2f}.")
    elif col.type == "date":
        if as_date(value) is None:
            read = dates.parse_uk_date(value)
            if read is None:
                yield Finding(
                    sheet, cell, "error", "date", f"{col.header} {_show(value)} is not a date (use dd/mm/yyyy)."
                )
            else:
                yield Finding(
                    sheet,
                    cell,
                    "warning",
                    "date-as-text",
                    f"{col.header} {_show(value)} is text; read day-first as {read:%d %B %Y}. Retype it as a date.",
                )
    elif col.type == "choice":
        allowed = _allowed(data, col)
        text = str(value).strip()
        if text not in allowed:
            hint = next((a for a in allowed if a.casefold() == text.casefold()), None)
            extra = f" Did you mean {hint!r}?" if hint else f" Allowed: {', '.join(allowed)}."
            yield Finding(
                sheet, cell, "error", "allowed-value", f"{col.header} {text!r} is not in the list.{extra}"[:500]
            )


# --------------------------------------------------------------------------------------------
# Record rules
# --------------------------------------------------------------------------------------------


def check_duplicates(data: BoardData, table: schema.Table) -> Iterator[Finding]:
    """Two records with the same identifying columns: usually a row pasted twice."""
    seen: dict[tuple[Any, ...], int] = {}
    for i, rec in enumerate(data.records(table)):
        key = tuple(v.strip().casefold() if type(v) is str else v for v in (rec.get(k) for k in table.key))
        if not any(v not in (None, "") for v in key):
            continue
        if key in seen:
            first = data.cell(table, seen[key], table.key[0])
            yield Finding(
                table.sheet,
                data.cell(table, i, table.key[0]),
                "warning",
                "duplicate",
                f"This row repeats the record at {first} ({', '.join(table.column(k).header for k in table.key)}).",
            )
        else:
            seen[key] = i


def check_period(data: BoardData) -> Iterator[Finding]:
    """Training events and audit meetings dated outside the reporting period."""
    start, end = as_date(data.settings.get("PeriodStart")), as_date(data.settings.get("PeriodEnd"))
    if not start or not end:
        yield Finding(schema.HOME, "B5", "warning", "period", "The reporting period start or end is not set.")
        return
    for table in (schema.TRAINING, schema.AUDITS):
        for i, rec in enumerate(data.records(table)):
            when = dates.parse_uk_date(rec.get("date"))
            if when and not dates.in_period(when, start, end):
                yield Finding(
                    table.sheet,
                    data.cell(table, i, "date"),
                    "warning",
                    "outside-period",
                    f"{when:%d/%m/%Y} is outside the reporting period {start:%d/%m/%Y} – {end:%d/%m/%Y}.",
                )


def check_sectors(data: BoardData) -> Iterator[Finding]:
    """Each event's sector breakdown must add up to its total attended."""
    table = schema.TRAINING
    keys = [schema.sector_key(s) for s in schema.SECTORS]
    for i, rec in enumerate(data.records(table)):
        recorded = str(rec.get("sectors_recorded") or "").strip()
        values = [rec.get(k) for k in keys]
        if recorded == "Yes" and all(type(v) is float or type(v) is int for v in values):
            total_value = rec.get("total")
            if (type(total_value) is float or type(total_value) is int) and sum(values) == total_value:  # type: ignore[arg-type]
                continue  # the usual case, checked without building anything
        filled = [v for v in values if not _blank(v)]
        total = as_whole(rec.get("total"))
        if recorded == "No":
            if filled:
                yield Finding(
                    table.sheet,
                    data.cell(table, i, "sectors_recorded"),
                    "warning",
                    "sectors-not-recorded",
                    "Sectors recorded is No but some sector cells have numbers; set it to Yes or clear them.",
                )
            continue
        if recorded != "Yes":
            continue
        if not filled:
            yield Finding(
                table.sheet,
                data.cell(table, i, keys[0]),
                "error",
                "sector-sum",
                "Sectors recorded is Yes but every sector cell is empty.",
            )
            continue
        counts = [as_whole(v) for v in filled]
        if total is None or any(c is None for c in counts):
            continue  # the type rules already report these cells
        got = sum(c for c in counts if c is not None)
        if got != total:
            yield Finding(
                table.sheet,
                data.cell(table, i, "total"),
                "error",
                "sector-sum",
                f"The sector breakdown adds up to {got} but Total attended is {total} "
                f"({'over' if got > total else 'short'} by {abs(got - total)}).",
            )


def _percent_text(fraction: float, decimals: int) -> str:
    return f"{fraction * 100:.{max(decimals, 1)}f}%"


def check_published(data: BoardData, ev: figures.Evaluator | None = None) -> Iterator[Finding]:
    """Every figure the report states, reconciled with the same figure computed from the records.

    Counts and money must match exactly. A percentage is right when it equals the exact share
    rounded half-up at the printed precision; sector shares may instead carry the
    largest-remainder value, the method that makes a column add to 100.
    """
    table = schema.PUBLISHED_TABLE
    ev = ev or figures.evaluator(data.tables)
    lr = {
        schema.sector_key(r["sector"]).removeprefix("sec_"): r["percent"]
        for r in figures.sector_table(data.records(schema.TRAINING), ev)
    }
    share_total = 0.0
    share_rows: list[int] = []
    for i, rec in enumerate(data.records(table)):
        fid = str(rec.get("figure_id") or "").strip()
        cell = data.cell(table, i, "published")
        fig = figures.FIGURE_BY_ID.get(fid)
        if fig is None:
            yield Finding(
                table.sheet,
                data.cell(table, i, "figure_id"),
                "warning",
                "published-unknown",
                f"lscb-xl does not know how to compute figure {fid!r}; it is not checked.",
            )
            continue
        published = as_money(rec.get("published"))
        if published is None:
            continue
        computed = ev(fig.expr)
        unit = str(rec.get("unit") or "count")
        if unit not in schema.UNITS:
            yield Finding(table.sheet, data.cell(table, i, "unit"), "error", "allowed-value",
                          f"Unit {unit!r} is not one of {', '.join(schema.UNITS)}; the figure is not checked.")
            continue
        label = str(rec.get("label") or fid)
        area = str(rec.get("area") or "")
        if fid.startswith("training.share."):
            share_total += published
            share_rows.append(i)
        if computed is None:
            yield Finding(
                table.sheet,
                cell,
                "error",
                "published-mismatch",
                f"{label}: published {_show_figure(published, unit, rec)} but the records give no "
                f"figure to compare (nothing to divide by on {area}).",
            )
            continue
        if unit == "percent":
            decimals = as_whole(rec.get("decimals")) or 0
            half_up = figures.round_half_up(computed * 100, decimals)
            ok = math.isclose(published * 100, half_up, abs_tol=1e-6)
            lr_value = lr.get(fid.removeprefix("training.share.")) if fid.startswith("training.share.") else None
            if lr_value is not None and math.isclose(published * 100, lr_value, abs_tol=1e-6):
                ok = True
            if not ok:
                also = f"; largest remainder gives {lr_value}%" if lr_value is not None else ""
                yield Finding(
                    table.sheet,
                    cell,
                    "error",
                    "published-mismatch",
                    f"{label}: published {_show_figure(published, unit, rec)} but the {area} records give "
                    f"{_percent_text(computed, decimals)} (rounds to {half_up:g}%{also}).",
                )
        elif not math.isclose(published, computed, abs_tol=0.005):
            money = unit == "money"
            got = f"£{computed:,.2f}" if money else f"{computed:,.0f}"
            yield Finding(
                table.sheet,
                cell,
                "error",
                "published-mismatch",
                f"{label}: published {_show_figure(published, unit, rec)} but the {area} records give {got} "
                f"(difference {_signed(published - computed, money)}).",
            )
    if share_rows and not math.isclose(share_total, 1.0, abs_tol=1e-6):
        yield Finding(
            table.sheet,
            data.cell(table, share_rows[0], "published"),
            "error",
            "percent-sum",
            f"The published sector percentages add up to {share_total * 100:g}%, not 100%. lscb-xl rounds "
            "sector shares by the largest-remainder method so they always add to 100.",
        )


def _signed(value: float, money: bool) -> str:
    """+£500.00 / -£500.00 / +3: the sign before the pound sign, as people write it."""
    sign = "-" if value < 0 else "+"
    return f"{sign}£{abs(value):,.2f}" if money else f"{sign}{abs(value):,.0f}"


def _show_figure(value: float, unit: str, rec: Record) -> str:
    if unit == "percent":
        return _percent_text(value, as_whole(rec.get("decimals")) or 0).replace(".0%", "%")
    if unit == "money":
        return f"£{value:,.2f}"
    return f"{value:,.0f}"


def check_finance(data: BoardData) -> Iterator[Finding]:
    """Income and expenditure present; spending more than the income is worth a look."""
    table = schema.FINANCE
    kinds = {str(r.get("kind") or "").strip() for r in data.records(table)}
    if not data.records(table):
        return
    for kind in ("Balance brought forward", "Expenditure"):
        if kind not in kinds:
            row, col = data.origin(table)
            yield Finding(table.sheet, a1(row, col), "warning", "finance-lines", f"There is no {kind!r} line.")
    carry = figures.evaluate(figures.CARRY_FORWARD, data.tables)
    if carry is not None and carry < 0:
        row, col = data.origin(table)
        yield Finding(
            table.sheet,
            a1(row + 5, col + len(table.columns) + 1),
            "warning",
            "finance-overspend",
            f"Expenditure is more than income: carry forward is £{carry:,.2f}.",
        )


def check_early_help(data: BoardData) -> Iterator[Finding]:
    """Quarterly case counts that should agree between tables (cases by cluster vs de-escalation)."""
    table = schema.EARLY_HELP
    recs = data.records(table)
    for q in schema.QUARTERS:
        key = q.lower()
        by_cluster = figures.evaluate(figures.eh_total("Cluster", None, key), data.tables)
        by_deesc = figures.evaluate(figures.eh_total("De-escalated", None, key), data.tables)
        if not by_cluster or not by_deesc or by_cluster == by_deesc:
            continue
        idx = next(i for i, r in enumerate(recs) if str(r.get("measure")).strip() == "Cluster")
        yield Finding(
            table.sheet,
            data.cell(table, idx, key),
            "warning",
            "quarter-mismatch",
            f"{q}: cases presented by cluster add up to {by_cluster:.0f} but the de-escalation table "
            f"(Yes + No) adds up to {by_deesc:.0f}; both count the quarter's cases.",
        )


# --------------------------------------------------------------------------------------------
# Action plan rules
# --------------------------------------------------------------------------------------------

_PART_SPLIT = re.compile(r"[/,]")


def lead_tokens(text: str, known: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split a lead cell into (recognised, unrecognised) names.

    Cells hold several leads ("NL/ AC/ LSCB"), groups ("LSCB Audit Group"), and text the
    conversion wrapped ("Strategy sub-group. JW", "JW SMT"): a part is taken whole when known,
    else split at full stops, then at spaces.
    """
    known_set = {k.casefold() for k in known}
    good: list[str] = []
    bad: list[str] = []
    for part in (p.strip() for p in _PART_SPLIT.split(text)):
        if not part:
            continue
        if part.casefold() in known_set:
            good.append(part)
            continue
        for piece in (p.strip(" .") for p in re.split(r"\.\s+", part)):
            if not piece:
                continue
            if piece.casefold() in known_set:
                good.append(piece)
                continue
            words = piece.split()
            if words and all(w.casefold() in known_set for w in words):
                good.extend(words)
            else:
                bad.append(piece)
    return good, bad


def check_leads(data: BoardData) -> Iterator[Finding]:
    table = schema.ACTION_PLAN
    known = data.lookup_values("LeadPersons")
    for i, rec in enumerate(data.records(table)):
        text = rec.get("lead")
        if _blank(text):
            if not _blank(rec.get("action")):
                yield Finding(
                    table.sheet,
                    data.cell(table, i, "lead"),
                    "warning",
                    "lead-missing",
                    "This action has no lead person.",
                )
            continue
        _good, bad = lead_tokens(str(text), known)
        if bad:
            yield Finding(
                table.sheet,
                data.cell(table, i, "lead"),
                "warning",
                "lead-unknown",
                f"Lead {', '.join(repr(b) for b in bad)} is not in the LeadPersons list on Lookups "
                f"(cell reads {str(text)!r}). Add it there or correct the initials.",
            )


def check_actions(data: BoardData) -> Iterator[Finding]:
    """Ratings present, target dates readable, overdue actions and stale greens."""
    table = schema.ACTION_PLAN
    as_at = as_date(data.settings.get("AsAt"))
    for i, rec in enumerate(data.records(table)):
        rag = str(rec.get("rag") or "").strip()
        has_action = not _blank(rec.get("action"))
        if has_action and not rag:
            yield Finding(
                table.sheet, data.cell(table, i, "rag"), "error", "rag-missing", "This action has no RAG rating."
            )
        if not has_action and not rag:
            yield Finding(
                table.sheet,
                data.cell(table, i, "action"),
                "warning",
                "no-action",
                "This agency row has neither an action nor a rating.",
            )
            continue
        text = rec.get("target")
        target = dates.parse_target(None if _blank(text) else str(text), as_at)
        cell = data.cell(table, i, "target")
        if target.kind == "unknown" and not _blank(text):
            rule = "target-year" if "year" in target.note.lower() else "target-date"
            severity: Severity = "error" if rule == "target-year" else "warning"
            yield Finding(table.sheet, cell, severity, rule, f"Target {str(text)[:80]!r}: {target.note}.")
        if rag == "G" and _blank(text):
            yield Finding(
                table.sheet, cell, "warning", "stale-green", "Rated Green with no target date or evidence recorded."
            )
        if as_at and rag != "B" and dates.is_overdue(target, as_at):
            assert target.end is not None
            yield Finding(
                table.sheet,
                data.cell(table, i, "rag"),
                "warning",
                "overdue",
                f"Target {target.end:%d/%m/%Y} has passed at the as-at date {as_at:%d/%m/%Y} and the action is "
                f"not rated complete (B).",
            )
            if rag == "G":
                yield Finding(
                    table.sheet,
                    data.cell(table, i, "rag"),
                    "warning",
                    "stale-green",
                    f"Rated Green but overdue since {target.end:%d/%m/%Y}: re-rate it or record new evidence.",
                )


def check_refs(data: BoardData) -> Iterator[Finding]:
    table = schema.ACTION_PLAN
    seen: dict[str, int] = {}
    for i, rec in enumerate(data.records(table)):
        ref = str(rec.get("ref") or "").strip()
        if ref and ref in seen:
            yield Finding(
                table.sheet,
                data.cell(table, i, "ref"),
                "error",
                "duplicate-ref",
                f"Ref {ref!r} is already used at {data.cell(table, seen[ref], 'ref')}; refs must be unique.",
            )
        seen.setdefault(ref, i)


# --------------------------------------------------------------------------------------------
# All rules
# --------------------------------------------------------------------------------------------

Rule = Callable[[BoardData], Iterable[Finding]]

RULES: tuple[Rule, ...] = (
    *(lambda d, t=t: check_cells(d, t) for t in schema.ALL_TABLES),  # type: ignore[misc]
    *(lambda d, t=t: check_duplicates(d, t) for t in schema.RECORD_TABLES),  # type: ignore[misc]
    check_refs,
    check_period,
    check_sectors,
    check_finance,
    check_early_help,
    check_leads,
    check_actions,
)


def _cell_order(cell: str) -> tuple[int, int]:
    m = re.fullmatch(r"([A-Z]+)(\d+)", cell)
    if not m:
        return (0, 0)
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return (int(m.group(2)), col)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then by sheet order in the workbook, then row and column."""
    order = {name: i for i, name in enumerate(schema.SHEETS)}
    return sorted(
        findings,
        key=lambda f: (f.severity != "error", order.get(f.sheet, 99), _cell_order(f.cell), f.rule),
    )


def validate(data: BoardData, extra: Iterable[Finding] = (), ev: figures.Evaluator | None = None) -> list[Finding]:
    """Every finding for the workbook, errors first. ``extra`` carries the reader's structural findings;
    ``ev`` a figures Evaluator over the same data, when the caller has one."""
    found: list[Finding] = list(extra)
    for rule in RULES:
        found.extend(rule(data))
    found.extend(check_published(data, ev))
    return sort_findings(found)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    out = {"error": 0, "warning": 0}
    for f in findings:
        out[f.severity] += 1
    return out


def stamp_text(findings: Iterable[Finding], now: dt.datetime | None = None) -> str:
    """The "last refreshed" line for the Home sheet: when, by which version, with what result."""
    from lscb_xl import __version__

    now = now or dt.datetime.now()
    c = counts(findings)
    return f"{now:%d/%m/%Y %H:%M} by lscb-xl {__version__}: {c['error']} error(s), {c['warning']} warning(s)"
