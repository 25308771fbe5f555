"""``lscb-xl snapshot``: append the action plan's ratings to the History sheet, safely."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from lscb_xl import ooxml as ox
from lscb_xl import schema
from lscb_xl.builder import cell_of_setting
from lscb_xl.history import Changes, plan_snapshot
from lscb_xl.reader import read_workbook
from lscb_xl.safesave import atomic_write
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
    snap = plan_snapshot(data, as_at, now)
    pkg = ox.Package.open(path)
    out: dict[str, bytes] = {}
    rewrite_table(pkg, data, schema.HISTORY, data.records(schema.HISTORY), out)
    home = pkg.sheet_parts()[schema.HOME]
    out[home] = ox.set_cells(pkg.read(home), {cell_of_setting("SnapshotChanges"): snap.changes.line()})
    backup = atomic_write(path, lambda tmp: ox.write_package(path, tmp, out),
                          verify=lambda tmp: ox.verify_package(path, tmp, out))
    return SnapshotResult(as_at=snap.as_at, rows=len(snap.rows), changes=snap.changes, backup=backup)
