"""The master workbook shipped in workbook/ is what the builder makes today."""

from __future__ import annotations

import zipfile
from pathlib import Path

from lscb_xl.builder import build_workbook
from lscb_xl.model import BoardData

SHIPPED = Path(__file__).resolve().parents[1] / "workbook" / "lscb-master.xlsx"
VOLATILE = {"docProps/core.xml"}  # holds the build time


def _contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n not in VOLATILE}


def test_shipped_workbook_is_up_to_date(tmp_path: Path) -> None:
    fresh = build_workbook(tmp_path / "fresh.xlsx", BoardData.from_seed())
    assert SHIPPED.exists(), "run: lscb-xl new workbook/lscb-master.xlsx --force"
    shipped, built = _contents(SHIPPED), _contents(fresh)
    stale = sorted(n for n in set(shipped) | set(built) if shipped.get(n) != built.get(n))
    assert not stale, f"workbook/ is out of date in {stale[:5]}; run: lscb-xl new workbook/lscb-master.xlsx --force"
