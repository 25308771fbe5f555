"""xlwings Lite export: the scripts run the same commands through the real remote engine."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import xlwings as xw

from lscb_xl import ribbon
from lscb_xl.builder import build_workbook
from lscb_xl.lite import LITE_REQUIREMENTS, export
from lscb_xl.model import BoardData
from lscb_xl.payload import payload_from_file


def test_lite_export_scripts_match_ribbon(tmp_path: Path) -> None:
    files = export(tmp_path / "lite", wheel_url="https://lscb.example.invalid/lscb_xl.whl")
    reqs = files["requirements"].read_text().splitlines()
    assert reqs[: len(LITE_REQUIREMENTS)] == list(LITE_REQUIREMENTS)
    assert reqs[-1].startswith("https://lscb.example.invalid/lscb_xl.whl")
    with zipfile.ZipFile(files["wheel"]) as z:
        names = z.namelist()
    assert "lscb_xl/ribbon.py" in names and "lscb_xl/seed/action_plan.csv" in names
    spec = importlib.util.spec_from_file_location("lite_main", files["main"])
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    workbook = build_workbook(tmp_path / "m.xlsx", BoardData.from_seed())
    payload = payload_from_file(workbook)
    for script_name, command in (("validate", "validate"), ("refresh", "refresh"), ("rag_ratings", "rag")):
        via_lite, via_ribbon = xw.Book(json=payload), xw.Book(json=payload)
        getattr(module, script_name)(via_lite)
        ribbon.COMMANDS[command](via_ribbon)
        a, b = via_lite.json()["actions"], via_ribbon.json()["actions"]
        strip = [{k: v for k, v in x.items() if k != "values"} for x in a]
        assert strip == [{k: v for k, v in x.items() if k != "values"} for x in b]
