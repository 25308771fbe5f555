"""Benchmark: validate and refresh a large master workbook, against baselines in the same run.

A workbook with 100,000 training rows and 5,000 action rows is generated, then timed:
  (a) reading every sheet with python-calamine (the fastest honest read of the same file),
  (b) a plain openpyxl load + save (what a naive refresh would cost),
  (c) ``lscb-xl validate`` (read + rules, writes nothing) and (d) ``lscb-xl refresh``.
Ratios are printed; nothing is asserted (speed is measured, not asserted).

Run: .venv/bin/python benchmarks/bench_refresh.py [--training 100000] [--actions 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gc
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl
import python_calamine as pc

from lscb_xl import dates, schema
from lscb_xl.builder import build_workbook
from lscb_xl.model import BoardData
from lscb_xl.refresh import check, refresh


def large_board(training_rows: int, action_rows: int, seed: int = 7) -> BoardData:
    """The demo board with its training and action tables grown to the given sizes."""
    rnd = random.Random(seed)
    data = BoardData.from_seed()
    base_t = data.tables[schema.TRAINING.name]
    base_a = data.tables[schema.ACTION_PLAN.name]
    keys = [schema.sector_key(s) for s in schema.SECTORS]
    training = []
    for i in range(training_rows):
        rec = copy.copy(base_t[i % 7])  # the rows recorded by sector
        counts = [rnd.randint(0, 9) for _ in keys]
        rec.update(dict(zip(keys, counts, strict=True)))
        rec["total"] = sum(counts)
        rec["date"] = dt.date(2011, 4, 1) + dt.timedelta(days=i % 365)
        rec["event"] = f"{rec['event']} #{i}"
        training.append(rec)
    actions = []
    for i in range(action_rows):
        rec = copy.copy(base_a[i % len(base_a)])
        rec["ref"] = f"X{i}"
        rec["action"] = f"{rec.get('action') or ''} ({i})"
        actions.append(rec)
    data.tables[schema.TRAINING.name] = training
    data.tables[schema.ACTION_PLAN.name] = actions
    return data


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time; caches lscb-xl keeps between calls are emptied so each run starts cold."""
    times = []
    for _ in range(repeat):
        dates.parse_target.cache_clear()
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calamine_read(path: Path) -> None:
    wb = pc.CalamineWorkbook.from_path(str(path))
    for name in wb.sheet_names:
        wb.get_sheet_by_name(name).to_python()


def openpyxl_round_trip(path: Path, out: Path) -> None:
    wb = openpyxl.load_workbook(path)
    wb.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training", type=int, default=100_000)
    parser.add_argument("--actions", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = folder / "large.xlsx"
        t0 = time.perf_counter()
        build_workbook(src, large_board(args.training, args.actions))
        print(f"built {src.name}: {src.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s "
              f"({args.training:,} training rows, {args.actions:,} action rows)")
        work = folder / "work.xlsx"
        shutil.copy(src, work)
        results = {
            "calamine read (baseline a)": timed(lambda: calamine_read(src), args.repeat),
            "openpyxl load+save (baseline b)": timed(lambda: openpyxl_round_trip(src, folder / "o.xlsx"), 1),
            "lscb-xl validate": timed(lambda: check(src), args.repeat),
            "lscb-xl refresh": timed(lambda: refresh(work, keep_backups=1), args.repeat),
        }
    width = max(len(k) for k in results)
    for name, secs in results.items():
        print(f"{name:<{width}}  {secs:7.2f} s")
    base_a = results["calamine read (baseline a)"]
    base_b = results["openpyxl load+save (baseline b)"]
    for name in ("lscb-xl validate", "lscb-xl refresh"):
        secs = results[name]
        print(f"{name}: {secs / base_a:.2f}x the calamine read (target <= 2), "
              f"{base_b / secs:.1f}x faster than openpyxl load+save (target >= 5)")


if __name__ == "__main__":
    main()
