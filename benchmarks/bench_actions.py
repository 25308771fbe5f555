"""Benchmark: how many xlwings actions (round trips into Excel) each ribbon command emits.

Runs every command through the real xlwings remote engine on the seeded workbook and on a large
one (5,000 actions), and prints the action counts next to the target (refresh <= 25 actions on
the large workbook). Action counts are machine-independent, so they are the measure of live
speed; wall-clock times are printed for information only.

Run: XLWINGS_LICENSE_KEY=noncommercial .venv/bin/python benchmarks/bench_actions.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import xlwings as xw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_refresh import large_board

from lscb_xl import ribbon
from lscb_xl.builder import build_workbook
from lscb_xl.model import BoardData
from lscb_xl.payload import payload_from_file

COMMANDS = ("validate", "refresh", "rag")
TARGET_REFRESH = 25


def count_actions(path: Path) -> dict[str, tuple[int, Counter[str], float]]:
    payload = payload_from_file(path)
    out = {}
    for name in COMMANDS:
        book = xw.Book(json=payload)
        start = time.perf_counter()
        ribbon.COMMANDS[name](book)
        actions = book.json()["actions"]
        out[name] = (len(actions), Counter(a["func"] for a in actions), time.perf_counter() - start)
    return out


def main() -> None:
    if not os.environ.get("XLWINGS_LICENSE_KEY"):
        sys.exit("Set XLWINGS_LICENSE_KEY (e.g. noncommercial, if that licence fits your use).")
    with tempfile.TemporaryDirectory() as tmp:
        seeded = build_workbook(Path(tmp) / "seeded.xlsx", BoardData.from_seed())
        large = build_workbook(Path(tmp) / "large.xlsx", large_board(2_000, 5_000))
        for label, path in (("seeded", seeded), ("5,000 actions", large)):
            for name, (n, kinds, secs) in count_actions(path).items():
                detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
                print(f"{label:>14} {name:<9} {n:3d} actions ({detail}) in {secs:.2f} s")
        n_refresh = count_actions(large)["refresh"][0]
        verdict = "within" if n_refresh <= TARGET_REFRESH else "OVER"
        print(f"refresh on the 5,000-action workbook: {n_refresh} actions, {verdict} the target of {TARGET_REFRESH}")


if __name__ == "__main__":
    main()
