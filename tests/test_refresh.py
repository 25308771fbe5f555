"""Refresh on a workbook the user changed in LibreOffice: nothing of theirs lost, our figures right."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
from lo import require_soffice, soffice_convert

from lscb_xl import schema
from lscb_xl.builder import build_workbook
from lscb_xl.model import BoardData
from lscb_xl.refresh import refresh

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


def tiny_png() -> bytes:
    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * 8 for _ in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _has_uno() -> bool:
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


@pytest.fixture(scope="module")
def user_edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded workbook after a member of staff added a chart, an image and comments in LibreOffice."""
    require_soffice()
    if not _has_uno():
        pytest.fail("LibreOffice's Python bridge (python3-uno) is needed to make the user edits")
    folder = tmp_path_factory.mktemp("edited")
    src = build_workbook(folder / "built.xlsx", BoardData.from_seed())
    image = folder / "pic.png"
    image.write_bytes(tiny_png())
    out = folder / "master.xlsx"
    subprocess.run(
        [SYSTEM_PYTHON, str(HERE / "lo_user_edits.py"), str(src), str(out), str(image), str(folder / "profile")],
        check=True, timeout=180, capture_output=True,
    )
    return out


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_refresh_keeps_every_part_it_does_not_own(user_edited: Path, tmp_path: Path) -> None:
    work = tmp_path / "master.xlsx"
    shutil.copy(user_edited, work)
    before = _parts(work)
    for kind in ("xl/charts/", "xl/media/", "xl/comments", "xl/drawings/"):
        assert any(n.startswith(kind) for n in before), f"LibreOffice did not write {kind}"
    result = refresh(work)
    after = _parts(work)
    assert set(after) == set(before)
    changed = {n for n in before if before[n] != after[n]}
    with zipfile.ZipFile(work) as z:
        wb_xml = z.read("xl/workbook.xml")
    assert b"Notes" in wb_xml
    owned_sheets = {schema.HOME, schema.SECTOR_SUMMARY, schema.FINANCE.sheet, schema.EARLY_HELP.sheet,
                    schema.PUBLISHED, schema.VALIDATION}
    from lscb_xl.ooxml import Package

    parts = Package.open(work).sheet_parts()
    allowed = {parts[s] for s in owned_sheets} | {"xl/workbook.xml"}
    assert changed <= allowed, changed - allowed
    for name in before:
        if name.startswith(("xl/charts/", "xl/media/", "xl/comments", "xl/drawings/", "xl/tables/")):
            assert hashlib.sha256(before[name]).digest() == hashlib.sha256(after[name]).digest(), name
    assert result.backup and result.backup.read_bytes() == user_edited.read_bytes()
    # the comment on the Home sheet (a sheet refresh rewrites) is still attached
    home_rels = parts[schema.HOME].replace("worksheets/", "worksheets/_rels/") + ".rels"
    assert b"comments" in after[home_rels]
    assert b"<legacyDrawing" in after[parts[schema.HOME]]


def test_refreshed_figures_agree_with_libreoffice(user_edited: Path, tmp_path: Path) -> None:
    work = tmp_path / "master.xlsx"
    shutil.copy(user_edited, work)
    # staff correct a figure in the records with a tool that leaves no cached values
    refresh(work)
    lo = soffice_convert(work, tmp_path / "lo", "xlsx")
    ours = openpyxl.load_workbook(work, data_only=True)
    theirs = openpyxl.load_workbook(lo, data_only=True)
    formulas = openpyxl.load_workbook(work)
    checked = 0
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type != "f":
                    continue
                a, b = ours[ws.title][c.coordinate].value, theirs[ws.title][c.coordinate].value
                if isinstance(a, int | float) or isinstance(b, int | float):
                    assert a == pytest.approx(b, abs=1e-9), (ws.title, c.coordinate, c.value)
                    checked += 1
    assert checked > 100
    fin = theirs[schema.FINANCE.sheet]
    assert fin["G9"].value == 27684
    stamp = ours[schema.HOME]["B9"].value
    assert "lscb-xl" in stamp and "error" in stamp


def test_validation_sheet_links_each_finding(tmp_path: Path) -> None:
    work = build_workbook(tmp_path / "m.xlsx", BoardData.from_seed())
    result = refresh(work)
    ws = openpyxl.load_workbook(work)[schema.VALIDATION]
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    assert len(rows) == len(result.findings)
    assert rows[0][0] == "error"
    first = ws["C5"]
    assert first.hyperlink is not None and first.hyperlink.location == f"'{rows[0][1]}'!{rows[0][2]}"
    severities = [r[0] for r in rows]
    assert severities == sorted(severities, key=lambda s: s != "error")


def test_refresh_fixes_stale_cached_values(tmp_path: Path) -> None:
    """Records changed by a tool that leaves stale caches: refresh writes the right figures."""
    data = BoardData.from_seed()
    path = build_workbook(tmp_path / "m.xlsx", data)
    wb = openpyxl.load_workbook(path)
    ws = wb[schema.FINANCE.sheet]
    ws["C16"] = 1062 + 500  # "Items to be investigated" grows by £500
    wb.save(path)  # openpyxl drops every cached value
    refresh(path)
    fin = openpyxl.load_workbook(path, data_only=True)[schema.FINANCE.sheet]
    assert fin["G8"].value == 83238 + 500
    assert fin["G9"].value == 27684 - 500


def test_validate_json_keys(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lscb_xl.cli import app

    work = build_workbook(tmp_path / "m.xlsx", BoardData.from_seed())
    res = CliRunner().invoke(app, ["validate", str(work), "--json"])
    assert res.exit_code == 1
    items = json.loads(res.stdout)
    assert items and all(set(i) == {"sheet", "cell", "severity", "rule", "message"} for i in items)


def test_refresh_restores_lost_dropdowns_and_rag_colours(tmp_path: Path) -> None:
    path = build_workbook(tmp_path / "m.xlsx", BoardData.from_seed())
    wb = openpyxl.load_workbook(path)
    ap = wb[schema.ACTION_PLAN.sheet]
    ap.data_validations.dataValidation = []  # as if staff pasted over the column
    ap.conditional_formatting = openpyxl.formatting.formatting.ConditionalFormattingList()
    wb.save(path)
    result = refresh(path)
    assert any("RAG" in r for r in result.restored) and any("Agency" in r for r in result.restored)
    ap = openpyxl.load_workbook(path)[schema.ACTION_PLAN.sheet]
    lists = {dv.formula1 for dv in ap.data_validations.dataValidation}
    assert {"list_RAG", "list_Agencies"} <= lists
    rules = [r for cf in ap.conditional_formatting for r in cf.rules]
    assert sorted(r.formula[0] for r in rules) == sorted(f'"{c}"' for c in schema.RAG_CODES)
    assert refresh(path).restored == []  # nothing more to restore; the sheet is left alone
