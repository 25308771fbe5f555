"""RAG history: snapshots of the action plan and what changed between them (pure functions).

A board asks every quarter "what moved since last time, and what is late?". A snapshot records
each action's rating, target and deadline as at a date in the append-only History table; the
comparison below answers the question from plain records.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lscb_xl import dates, schema
from lscb_xl.errors import RefusedError
from lscb_xl.model import BoardData, Record


def snapshot_rows(data: BoardData, as_at: dt.date, taken: dt.datetime) -> list[Record]:
    """One History row per action, as at ``as_at``."""
    rows = []
    for rec in data.records(schema.ACTION_PLAN):
        target = dates.parse_target(str(rec.get("target") or "") or None, as_at)
        rag = str(rec.get("rag") or "").strip()
        overdue = rag != "B" and dates.is_overdue(target, as_at)
        rows.append({
            "snapshot": as_at,
            "taken": taken.strftime("%d/%m/%Y %H:%M"),
            "ref": str(rec.get("ref") or ""),
            "agency": rec.get("agency"),
            "lead": rec.get("lead"),
            "rag": rag or None,
            "target": rec.get("target"),
            "deadline": target.end,
            "overdue": "Yes" if overdue else "No",
        })
    return rows


@dataclass
class Changes:
    """What moved between a baseline snapshot and now."""

    since: dt.date | None
    now: dt.date | None
    moved_up: list[dict[str, Any]] = field(default_factory=list)
    moved_down: list[dict[str, Any]] = field(default_factory=list)
    completed: list[dict[str, Any]] = field(default_factory=list)
    new_overdue: list[dict[str, Any]] = field(default_factory=list)
    stuck: list[dict[str, Any]] = field(default_factory=list)
    new_actions: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.moved_up or self.moved_down or self.completed or self.new_overdue or self.stuck
                    or self.new_actions)

    def line(self) -> str:
        """One line for the Home sheet."""
        if self.since is None:
            return "No earlier snapshot to compare with."
        return (f"Since {self.since:%d/%m/%Y}: {len(self.moved_up)} rating(s) up, {len(self.moved_down)} down, "
                f"{len(self.completed)} completed, {len(self.new_overdue)} newly overdue, "
                f"{len(self.stuck)} overdue and unchanged for 3+ snapshots.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.strftime("%d/%m/%Y") if self.since else None,
            "now": self.now.strftime("%d/%m/%Y") if self.now else None,
            "moved_up": self.moved_up, "moved_down": self.moved_down, "completed": self.completed,
            "new_overdue": self.new_overdue, "stuck": self.stuck, "new_actions": self.new_actions,
            "line": self.line(),
        }


def _by_snapshot(history: Sequence[Record]) -> dict[dt.date, dict[str, Record]]:
    out: dict[dt.date, dict[str, Record]] = defaultdict(dict)
    for row in history:
        when = dates.parse_uk_date(row.get("snapshot"))
        if when is not None and row.get("ref"):
            out[when][str(row["ref"])] = row
    return dict(sorted(out.items()))


@dataclass
class Snapshot:
    """A snapshot about to be recorded: its date, its new History rows, and what changed."""

    as_at: dt.date
    rows: list[Record]
    changes: Changes


def plan_snapshot(data: BoardData, as_at: dt.date | None = None, now: dt.datetime | None = None) -> Snapshot:
    """The History rows a new snapshot adds (also appended to ``data``) and the changes they show.

    Defaults to the Home as-at date. History is append-only, so a second snapshot for the same
    date is refused rather than mixed in; both the file route and the ribbon write what this plans.
    """
    as_at = as_at or dates.parse_uk_date(data.settings.get("AsAt")) or dt.date.today()
    history = list(data.records(schema.HISTORY))
    if any(dates.parse_uk_date(r.get("snapshot")) == as_at for r in history):
        raise RefusedError(f"History already has a snapshot as at {as_at:%d/%m/%Y}; snapshots are never overwritten.")
    rows = snapshot_rows(data, as_at, now or dt.datetime.now())
    data.tables[schema.HISTORY.name] = history + rows
    return Snapshot(as_at=as_at, rows=rows, changes=compare(data, as_at))


def compare(data: BoardData, as_at: dt.date | None = None) -> Changes:
    """Changes between the latest snapshot taken before ``as_at`` and the records now.

    When a snapshot was just taken as at ``as_at`` this is "since the previous snapshot"; ratings
    unchanged in each of the last three snapshots (and now) while overdue count as stuck.
    """
    as_at = as_at or dates.parse_uk_date(data.settings.get("AsAt")) or dt.date.today()
    snaps = _by_snapshot(data.records(schema.HISTORY))
    earlier = [d for d in snaps if d < as_at]
    if not earlier:
        return Changes(since=None, now=as_at)
    base_date = earlier[-1]
    base = snaps[base_date]
    changes = Changes(since=base_date, now=as_at)
    current = snapshot_rows(data, as_at, dt.datetime.combine(as_at, dt.time()))
    for row in current:
        ref = row["ref"]
        item = {"ref": ref, "agency": row.get("agency"), "lead": row.get("lead"), "target": row.get("target")}
        before = base.get(ref)
        if before is None:
            changes.new_actions.append(ref)
            continue
        old, new = str(before.get("rag") or ""), str(row.get("rag") or "")
        item.update(old=old, new=new)
        if old != new and new == "B":
            changes.completed.append(item)
        elif old in schema.RAG_ORDER and new in schema.RAG_ORDER and old != new:
            (changes.moved_up if schema.RAG_ORDER[new] > schema.RAG_ORDER[old] else changes.moved_down).append(item)
        if row["overdue"] == "Yes" and str(before.get("overdue")) != "Yes":
            changes.new_overdue.append(item)
        recent = [snaps[d].get(ref) for d in earlier[-3:]]
        if row["overdue"] == "Yes" and len(recent) == 3 and all(r and str(r.get("rag") or "") == new for r in recent):
            changes.stuck.append(item)
    return changes
