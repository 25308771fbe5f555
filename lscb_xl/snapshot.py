"""``lscb-xl snapshot``: append the action plan's ratings to the History sheet, safely."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from lscb_xl import dates, schema
from lscb_xl import ooxml as ox
from lscb_xl.builder import cell_of_setting
from lscb_xl.history import Changes, compare, snapshot_rows
from lscb_xl.reader import read_workbook
from lscb_xl.safesave import RefusedError, atomic_write
from lscb_xl.tablewrite import rewrite_table


@dataclass
class SnapshotResult:
    as_at: dt.date
    rows: int
    changes: Changes
    backup: Path | None


def take_snapshot(path: Path, as_at: dt.date | None = None, now: dt.datetime | None = None) -> SnapshotResult:
    """Record every action's rating, target and deadline as at ``as_at`` (default: the Home as-at date)."""
    path = Path(path)
    data, _ = read_workbook(path)
    as_at = as_at or dates.parse_uk_date(data.settings.get("AsAt")) or dt.date.today()
    history = list(data.records(schema.HISTORY))
    if any(dates.parse_uk_date(r.get("snapshot")) == as_at for r in history):
        raise RefusedError(f"History already has a snapshot as at {as_at:%d/%m/%Y}; snapshots are never overwritten.")
    new_rows = snapshot_rows(data, as_at, now or dt.datetime.now())
    data.tables[schema.HISTORY.name] = history + new_rows
    changes = compare(data, as_at)
    pkg = ox.Package.open(path)
    out: dict[str, bytes] = {}
    rewrite_table(pkg, data, schema.HISTORY, history + new_rows, out)
    home = pkg.sheet_parts()[schema.HOME]
    out[home] = ox.set_cells(pkg.read(home), {cell_of_setting("SnapshotChanges"): changes.line()})
    backup = atomic_write(path, lambda tmp: ox.write_package(path, tmp, out),
                          verify=lambda tmp: ox.verify_package(path, tmp, out))
    return SnapshotResult(as_at=as_at, rows=len(new_rows), changes=changes, backup=backup)
