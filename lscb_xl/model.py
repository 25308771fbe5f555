"""The board's data as plain Python: what every adapter reads into and writes out of.

The domain rules (validation, figures, summaries) take a :class:`BoardData` and never touch a
file, so they are tested without Excel and run the same behind the CLI, the ribbon and the
server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lscb_xl import schema, seed

Record = dict[str, Any]


def col_letter(col: int) -> str:
    """1-based column number -> Excel letters (1 -> A, 27 -> AA)."""
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def a1(row: int, col: int) -> str:
    return f"{col_letter(col)}{row}"


def quote_sheet(name: str) -> str:
    """A sheet name as it appears in a formula or hyperlink location."""
    return "'" + name.replace("'", "''") + "'"


@dataclass
class BoardData:
    """Settings, record tables and lookups of one master workbook.

    ``origins`` gives each table's header cell (row, column), so a finding can name the exact
    cell even when staff moved a table.
    """

    settings: dict[str, Any]
    tables: dict[str, list[Record]]
    lookups: dict[str, list[Record]]
    origins: dict[str, tuple[int, int]] = field(default_factory=dict)
    sheet_names: list[str] = field(default_factory=list)
    #: Per sheet, the worksheet start tag plus everything after its cell data (rules, merges):
    #: what the reader saw, so later checks need not inflate a large sheet again.
    sheet_tails: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_seed(cls, blank: bool = False) -> BoardData:
        """The embedded demo board; ``blank`` keeps lookups and settings but no records."""
        tables = {t.name: ([] if blank and t is not schema.PUBLISHED_TABLE else seed.load_records(t))
                  for t in schema.ALL_TABLES}
        if blank:
            tables[schema.PUBLISHED_TABLE.name] = [
                {**r, "published": None} for r in seed.load_records(schema.PUBLISHED_TABLE)
            ]
        lookups = {lk.name: seed.load_lookup(lk) for lk in schema.LOOKUPS}
        settings = seed.load_settings()
        return cls(settings=settings, tables=tables, lookups=lookups, sheet_names=list(schema.SHEETS))

    def origin(self, table: schema.Table) -> tuple[int, int]:
        return self.origins.get(table.name, (table.anchor_row, table.anchor_col))

    def cell(self, table: schema.Table, index: int, key: str) -> str:
        """A1 address of record ``index`` (0-based) in column ``key`` of ``table``."""
        row, col = self.origin(table)
        return a1(row + 1 + index, col + table.keys.index(key))

    def records(self, table: schema.Table) -> list[Record]:
        return self.tables.get(table.name, [])

    def lookup_values(self, name: str) -> list[str]:
        """The first column of a lookup table: the values its dropdown offers."""
        lk = schema.LOOKUP_BY_NAME[name]
        key = lk.columns[0].key
        return [str(r[key]).strip() for r in self.lookups.get(name, []) if r.get(key) not in (None, "")]
