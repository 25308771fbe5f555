"""The embedded demo data: the seed documents' tables, transcribed to CSV (see README.md here).

Values are typed by the schema: ``int`` for counts, ``float`` for money, :class:`datetime.date`
for dates (stored ISO in the CSV), ``None`` for an empty cell ("not recorded").
"""

from __future__ import annotations

import csv
import datetime as dt
from importlib import resources
from typing import Any

from lscb_xl import schema

Record = dict[str, Any]


def seed_path(name: str) -> Any:
    """A traversable for one seed file inside the installed package."""
    return resources.files(__name__).joinpath(name)


def _convert(col: schema.Column, raw: str) -> Any:
    text = raw.strip()
    if text == "":
        return None
    if col.type == "int":
        return int(text)
    if col.type == "money":
        return float(text)
    if col.type == "date":
        return dt.date.fromisoformat(text)
    return raw


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of a seed CSV as strings, exactly as stored."""
    with seed_path(name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_records(table: schema.Table) -> list[Record]:
    """The seed rows of one table, typed by the schema; computed columns are left out."""
    rows = read_csv(table.seed)
    cols = [c for c in table.columns if not c.computed]
    missing = [c.key for c in cols if rows and c.key not in rows[0]]
    if missing:
        raise ValueError(f"seed file {table.seed} lacks columns {missing}")
    return [{c.key: _convert(c, row[c.key]) for c in cols} for row in rows]


def load_lookup(lookup: schema.Lookup) -> list[Record]:
    """A lookup table's rows: from its seed file, or from the schema's fixed list."""
    if lookup.name == "RAG":
        return [{"code": c, "rating": w, "meaning": m} for c, w, m, _, _ in schema.RAG_RATINGS]
    if lookup.seed is None:
        key = lookup.columns[0].key
        return [{key: v} for v in lookup.fixed]
    rows = read_csv(lookup.seed)
    return [{c.key: _convert(c, row.get(c.key, "")) for c in lookup.columns} for row in rows]


def load_settings() -> dict[str, Any]:
    """Home-sheet settings (board name, period, as-at date) from ``board.csv``."""
    values = {row["name"]: row["value"] for row in read_csv("board.csv")}
    out: dict[str, Any] = {}
    for name, _label, kind in schema.SETTINGS:
        raw = values.get(name, "")
        out[name] = dt.date.fromisoformat(raw) if kind == "date" and raw else (raw or None)
    return out
