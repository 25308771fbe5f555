"""lscb_xl.ooxml: we edit only the parts we own and every other byte of the workbook survives.

The workbooks here are real: XlsxWriter builds one with a chart, a picture, a text box, a
comment, a table, defined names, validation, conditional formatting, page setup, an external
and internal hyperlinks, a hidden sheet and a custom property; LibreOffice re-saves it (a second,
very different writer); a ribbon part is injected the way a ribbon add-in file holds one; and
xlwings' own .xlsm/.xlam templates (real VBA made by Excel) are used when xlwings is installed.
Results are read back by openpyxl, python-calamine and LibreOffice.
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from lo import require_soffice, soffice_convert
from lxml import etree
from python_calamine import CalamineWorkbook

import lscb_xl.ooxml as ooxml
from lscb_xl.ooxml import (
    Package,
    TableInfo,
    calc_on_load,
    column_index,
    column_letter,
    replace_sheet_rows,
    set_cells,
    set_table_ref,
    split_ref,
    write_package,
)

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
N = {"m": NS}

# --------------------------------------------------------------------------------------------
# Building real workbooks
# --------------------------------------------------------------------------------------------


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + b"\xc0\x00\x00" * 2 for _ in range(2))  # 2x2 red, filter 0
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


def build_master(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    wb.set_custom_property("lscb-xl-schema", "1")
    link = wb.add_format({"font_color": "blue", "underline": 1})

    ap = wb.add_worksheet("Action Plan")
    ap.add_table("A1:E4", {
        "name": "ActionPlan",
        "columns": [{"header": h} for h in ("Ref", "Action", "Owner", "RAG", "Target")],
        "data": [["1.1", "Audit", "Police", "G", "Jun-15"],
                 ["1.2", "Train", "Health", "A", "summer term 2015"],
                 ["1.3", "Report", "LA", "R", "March '15 and ongoing"]],
    })
    ap.write_comment("B2", "Check with the police lead")
    ap.insert_image("G2", "key.png", {"image_data": io.BytesIO(tiny_png()), "description": "RAG key"})
    ap.insert_textbox("G10", "Board notes")
    ap.data_validation("D2:D100", {"validate": "list", "source": ["R", "A", "G", "B"]})

    su = wb.add_worksheet("Summary")
    su.write("A1", "Open actions")
    su.write_formula("B1", "=COUNTA('Action Plan'!A2:A100)", None, 3)
    su.write("A2", "Total")
    su.write_formula("B2", "=SUM(C5:C7)", None, 6)
    su.write("A3", "Level")
    su.write_formula("B3", '=IF(B2>10,"High","Low")', None, "Low")
    su.write_column("C5", [1, 2, 3])
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=Summary!$C$5:$C$7"})
    su.insert_chart("E2", chart)
    wb.define_name("OpenActions", "=Summary!$B$1")
    wb.define_name("Summary!Local", "=Summary!$A$1")

    iss = wb.add_worksheet("Issues")
    iss.write_row("A1", ["Issue", "Action", "Link"])
    iss.write_url("D1", "https://example.org/guide", string="Guide")
    iss.write_row("A2", ["Old issue", "1.1"])
    iss.write_url("C2", "internal:'Action Plan'!A2", link, "Go")
    iss.write_row("A3", ["Old issue 2", "1.2"])
    iss.write_url("C3", "internal:'Action Plan'!A3", link, "Go")
    iss.conditional_format("A2:A50", {"type": "text", "criteria": "containing", "value": "Late",
                                      "format": link})
    iss.data_validation("B2:B50", {"validate": "length", "criteria": "<", "value": 50})
    iss.set_landscape()
    iss.print_area("A1:D50")
    iss.print_row_col_headers()
    iss.set_header("&CIssues")

    notes = wb.add_worksheet("Notes")
    notes.write("A1", "free text")
    notes.hide()
    wb.close()
    return path


CUSTOM_UI = (b'<customUI xmlns="http://schemas.microsoft.com/office/2009/07/customui">'
             b'<ribbon><tabs><tab id="lscbTab" label="LSCB"><group id="board" label="Board">'
             b'<button id="refresh" label="Refresh" onAction="LscbDispatch"/>'
             b"</group></tab></tabs></ribbon></customUI>")
UI_REL = (b'<Relationship Id="rIdLscbUI" '
          b'Type="http://schemas.microsoft.com/office/2007/relationships/ui/extensibility" '
          b'Target="customUI/customUI14.xml"/>')


def inject_ribbon(src: Path, dst: Path) -> Path:
    """Add customUI/customUI14.xml and its package relationship: what a ribbon file holds.

    Written at compression level 1, so an edit that recompressed the parts it should copy
    (at zlib's usual level 6) would show up as changed bytes.
    """
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "_rels/.rels":
                data = data.replace(b"</Relationships>", UI_REL + b"</Relationships>")
            zout.writestr(info, data, zipfile.ZIP_DEFLATED, compresslevel=1)
        zout.writestr("customUI/customUI14.xml", CUSTOM_UI)
    return dst


def xlwings_file(name: str) -> Path:
    spec = importlib.util.find_spec("xlwings")
    if spec is None or spec.origin is None:
        pytest.skip("xlwings is not installed")
    path = Path(spec.origin).parent / name
    if not path.exists():
        pytest.skip(f"xlwings ships no {name}")
    return path


# --------------------------------------------------------------------------------------------
# Independent zip inspection (not the code under test)
# --------------------------------------------------------------------------------------------


def raw_stream(path: Path, info: zipfile.ZipInfo) -> bytes:
    """The compressed bytes of one entry, read straight from its local header."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
        assert header[:4] == b"PK\x03\x04"
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        return f.read(info.compress_size)


def assert_untouched(src: Path, dst: Path, changed: set[str]) -> None:
    """Same entries in the same order; every unchanged entry bit-identical, compressed or not."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst) as b:
        assert b.testzip() is None
        assert a.namelist() == b.namelist()
        for ia in a.infolist():
            ib = b.getinfo(ia.filename)
            if ia.filename in changed:
                continue
            assert b.read(ib) == a.read(ia), ia.filename
            assert (ib.CRC, ib.compress_type, ib.compress_size, ib.file_size, ib.date_time) == (
                ia.CRC, ia.compress_type, ia.compress_size, ia.file_size, ia.date_time), ia.filename
            assert raw_stream(dst, ib) == raw_stream(src, ia), ia.filename


def sheet_cell(path: Path, sheet: str, ref: str) -> etree._Element | None:
    pkg = Package.open(path)
    root = etree.fromstring(pkg.read(pkg.sheet_parts()[sheet]))
    return root.find(f".//m:c[@r='{ref}']", N)


# --------------------------------------------------------------------------------------------
# The edits every real workbook goes through
# --------------------------------------------------------------------------------------------

EVIL = ['=HYPERLINK("http://evil")', "+1", "-2", "@SUM(A1)", "=cmd|' /C calc'!A0",
        "\t=1+1", "\r=1+1", "\n=1+1"]

SUMMARY_CELLS = {
    "C5": 10, "C6": 20.5, "C7": 3,      # constants the SUM formula reads
    "B2": 999,                          # the SUM's cached value, deliberately stale
    "B3": "High",                       # a formula's string result
    "E1": "new cell in an existing row",
    "A1": None,                         # empties a shared-string cell
    "F20": True,
    "D10": EVIL[0], "A12": EVIL[1], "A13": EVIL[2], "A14": EVIL[3],
}
ISSUE_ROWS = [
    ["Late report", EVIL[4], "Go to 1.1"],
    [EVIL[2], EVIL[3], "Go to 1.2"],
    [EVIL[5], 7, None],
    [EVIL[6], 2.5, True],
    [EVIL[7], None, "last"],
]
LINK_STYLE = 2
LINKS = [("C2", "'Action Plan'!A2", "Go to 1.1"), ("C3", "'Action Plan'!A3", "Go to 1.2")]


def apply_edits(src: Path, dst: Path) -> set[str]:
    pkg = Package.open(src)
    parts = pkg.sheet_parts()
    replacements = {
        parts["Summary"]: set_cells(pkg.read(parts["Summary"]), SUMMARY_CELLS),
        parts["Issues"]: replace_sheet_rows(pkg.read(parts["Issues"]), 2, ISSUE_ROWS,
                                            styles=[None, None, LINK_STYLE], hyperlinks=LINKS),
        pkg.workbook_part: calc_on_load(pkg.read(pkg.workbook_part)),
    }
    write_package(src, dst, replacements)
    return set(replacements)


@pytest.fixture(scope="module")
def master(tmp_path_factory) -> Path:
    return build_master(tmp_path_factory.mktemp("xlsxwriter") / "master.xlsx")


@pytest.fixture(scope="module")
def lo_master(master, tmp_path_factory) -> Path:
    require_soffice()
    return soffice_convert(master, tmp_path_factory.mktemp("libreoffice"))


@pytest.fixture(scope="module")
def ribbon_master(master, tmp_path_factory) -> Path:
    return inject_ribbon(master, tmp_path_factory.mktemp("ribbon") / "master.xlsx")


@pytest.fixture(scope="module", params=["xlsxwriter", "libreoffice", "ribbon"])
def edited(request, tmp_path_factory) -> tuple[Path, Path, set[str]]:
    src = request.getfixturevalue({"xlsxwriter": "master", "libreoffice": "lo_master",
                                   "ribbon": "ribbon_master"}[request.param])
    dst = tmp_path_factory.mktemp(f"edited-{request.param}") / "master.xlsx"
    return src, dst, apply_edits(src, dst)


# --------------------------------------------------------------------------------------------
# Whole-workbook tests
# --------------------------------------------------------------------------------------------


def test_everything_we_do_not_own_is_bit_identical(edited):
    src, dst, changed = edited
    assert_untouched(src, dst, changed)
    before, after = Package.open(src), Package.open(dst)
    assert after.tables() == before.tables()
    assert after.defined_names() == before.defined_names()
    assert after.custom_properties() == before.custom_properties() == {"lscb-xl-schema": "1"}
    assert after.sheet_parts() == before.sheet_parts()
    assert (after.has_vba, after.has_custom_ui) == (before.has_vba, before.has_custom_ui)
    # sharedStrings.xml is never touched: strings go inline
    assert not any("sharedStrings" in part for part in changed)


def test_openpyxl_reads_the_new_values(edited):
    _, dst, _ = edited
    wb = openpyxl.load_workbook(dst)
    su = wb["Summary"]
    assert [su["C5"].value, su["C6"].value, su["C7"].value] == [10, 20.5, 3]
    assert su["B2"].value == "=SUM(C5:C7)" and su["B2"].data_type == "f"
    assert su["B3"].value == '=IF(B2>10,"High","Low")'
    assert su["E1"].value == "new cell in an existing row"
    assert su["A1"].value is None
    assert su["F20"].value is True
    for ref in ("D10", "A12", "A13", "A14"):
        assert su[ref].value == SUMMARY_CELLS[ref] and su[ref].data_type == "s", ref
    cached = openpyxl.load_workbook(dst, data_only=True)["Summary"]
    assert cached["B2"].value == 999 and cached["B3"].value == "High"

    iss = wb["Issues"]
    assert [c.value for c in iss[1][:3]] == ["Issue", "Action", "Link"]
    for i, row in enumerate(ISSUE_ROWS):
        got = [iss.cell(2 + i, j + 1).value for j in range(3)]
        assert got == list(row), i
    assert iss.max_row == 1 + len(ISSUE_ROWS)
    assert iss["C2"].hyperlink.location == "'Action Plan'!A2"
    assert iss["C3"].hyperlink.location == "'Action Plan'!A3"
    assert iss["C4"].hyperlink is None
    assert iss["D1"].hyperlink.target == "https://example.org/guide"  # the header's link is kept
    # a styled blank where the value is None: same style as the styled cells of that column
    assert iss["C4"].style_id == iss["C6"].style_id == iss["C2"].style_id
    assert iss.dimensions == "A1:D6"

    # what openpyxl itself could lose is still there
    assert len(wb["Summary"]._charts) == 1
    assert len(wb["Action Plan"]._images) == 1
    assert wb["Action Plan"]["B2"].comment.text.startswith("Check with the police lead")
    assert wb["Notes"].sheet_state == "hidden"


def test_calamine_reads_the_new_values(edited):
    _, dst, _ = edited
    book = CalamineWorkbook.from_path(str(dst))
    su = book.get_sheet_by_name("Summary").to_python()
    assert su[1][1] == 999 and su[2][1] == "High"
    assert [su[4][2], su[5][2], su[6][2]] == [10, 20.5, 3]
    assert su[9][3] == EVIL[0] and [su[11][0], su[12][0], su[13][0]] == EVIL[1:4]
    iss = book.get_sheet_by_name("Issues").to_python()
    assert iss[1][:3] == ["Late report", EVIL[4], "Go to 1.1"]
    assert iss[2][:3] == [*EVIL[2:4], "Go to 1.2"]
    assert iss[3][:2] == [EVIL[5], 7]
    assert iss[4][:3] == [EVIL[6], 2.5, True]
    assert iss[5][0] == EVIL[7]


def test_formula_looking_text_is_stored_as_text(edited):
    _, dst, _ = edited
    for sheet, ref in [("Summary", "D10"), ("Summary", "A12"), ("Summary", "A13"),
                       ("Summary", "A14"), ("Issues", "B2"), ("Issues", "A3"), ("Issues", "B3"),
                       ("Issues", "A4"), ("Issues", "A5"), ("Issues", "A6")]:
        c = sheet_cell(dst, sheet, ref)
        assert c is not None, ref
        assert c.get("t") == "inlineStr", ref
        assert c.find("m:f", N) is None, ref


def test_libreoffice_opens_and_recalculates(edited, tmp_path):
    _, dst, _ = edited
    require_soffice()
    out = soffice_convert(dst, tmp_path / "lo")
    wb = openpyxl.load_workbook(out, data_only=True)
    su = wb["Summary"]
    assert su["B2"].value == pytest.approx(33.5)  # recalculated, not the stale 999
    assert su["B3"].value == "High"
    assert su["D10"].value == EVIL[0]
    assert [su["A12"].value, su["A13"].value, su["A14"].value] == EVIL[1:4]
    iss = wb["Issues"]
    assert [iss["A2"].value, iss["B2"].value, iss["C2"].value] == ["Late report", EVIL[4], "Go to 1.1"]
    assert [iss["A3"].value, iss["B3"].value] == EVIL[2:4]
    assert iss["A4"].value == EVIL[5] and iss["B4"].value == 7
    assert iss["C2"].hyperlink.location == "'Action Plan'!A2"
    formulas = openpyxl.load_workbook(out)
    for sheet, ref in [("Summary", "D10"), ("Issues", "B2"), ("Issues", "B3")]:
        assert formulas[sheet][ref].data_type == "s", (sheet, ref)


def test_libreoffice_reads_csv(edited, tmp_path):
    _, dst, _ = edited
    require_soffice()
    out = soffice_convert(dst, tmp_path / "csv", "csv")  # the first sheet
    text = out.read_text(encoding="utf-8", errors="replace")
    assert "Audit" in text and "1.3" in text


def test_real_vba_workbook_keeps_its_macros(tmp_path):
    src = xlwings_file("quickstart.xlsm")
    pkg = Package.open(src)
    assert pkg.has_vba and not pkg.has_custom_ui
    part = pkg.sheet_parts()["Sheet1"]
    dst = tmp_path / "refreshed.xlsm"
    write_package(src, dst, {part: set_cells(pkg.read(part), {"A1": "refreshed", "B2": 42})})
    assert_untouched(src, dst, {part})
    wb = openpyxl.load_workbook(dst, keep_vba=True)
    assert wb["Sheet1"]["A1"].value == "refreshed" and wb["Sheet1"]["B2"].value == 42
    require_soffice()
    out = soffice_convert(dst, tmp_path / "lo", "xlsx")
    assert openpyxl.load_workbook(out)["Sheet1"]["A1"].value == "refreshed"


def test_real_ribbon_addin_keeps_vba_and_ribbon(tmp_path):
    src = xlwings_file("quickstart_addin_ribbon.xlam")
    pkg = Package.open(src)
    assert pkg.has_vba and pkg.has_custom_ui
    (name, part), = pkg.sheet_parts().items()
    dst = tmp_path / "addin.xlam"
    write_package(src, dst, {part: set_cells(pkg.read(part), {"C30": "lscb"})})
    assert_untouched(src, dst, {part})
    book = CalamineWorkbook.from_path(str(dst))
    assert book.get_sheet_by_name(name).to_python()[29][2] == "lscb"


# --------------------------------------------------------------------------------------------
# Package
# --------------------------------------------------------------------------------------------


def test_package_reads_the_workbook(master):
    pkg = Package.open(master)
    assert pkg.names[0] == "[Content_Types].xml"
    assert pkg.workbook_part == "xl/workbook.xml"
    assert list(pkg.sheet_parts()) == ["Action Plan", "Summary", "Issues", "Notes"]
    assert pkg.tables() == {"ActionPlan": TableInfo(
        "ActionPlan", "Action Plan", "A1:E4", ["Ref", "Action", "Owner", "RAG", "Target"],
        "xl/tables/table1.xml")}
    assert pkg.defined_names() == {"OpenActions": "Summary!$B$1", "Summary!Local": "Summary!$A$1",
                                   "Issues!_xlnm.Print_Area": "Issues!$A$1:$D$50"}
    assert pkg.custom_properties() == {"lscb-xl-schema": "1"}
    assert not pkg.has_vba and not pkg.has_custom_ui
    assert pkg.read("/xl/workbook.xml") == pkg.read("XL/Workbook.xml")  # part names ignore case
    assert "xl/styles.xml" in pkg and "xl/nothing.xml" not in pkg
    with pytest.raises(KeyError):
        pkg.read("xl/nothing.xml")


def test_package_without_custom_properties(tmp_path):
    path = tmp_path / "plain.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("Only")
    wb.close()
    pkg = Package.open(path)
    assert pkg.custom_properties() == {} and pkg.tables() == {} and pkg.defined_names() == {}
    assert pkg.sheet_parts() == {"Only": "xl/worksheets/sheet1.xml"}


def test_ribbon_injection_is_detected(ribbon_master):
    pkg = Package.open(ribbon_master)
    assert pkg.has_custom_ui and not pkg.has_vba
    assert pkg.read("customUI/customUI14.xml") == CUSTOM_UI


def test_absolute_relationship_targets(master, tmp_path):
    pkg = Package.open(master)
    wb_rels = pkg.read("xl/_rels/workbook.xml.rels").replace(
        b'Target="worksheets/', b'Target="/xl/worksheets/')
    sheet_rels = pkg.read("xl/worksheets/_rels/sheet1.xml.rels").replace(
        b'Target="../tables/', b'Target="/xl/tables/')
    assert b"/xl/worksheets/" in wb_rels and b"/xl/tables/" in sheet_rels
    dst = tmp_path / "absolute.xlsx"
    write_package(master, dst, {"xl/_rels/workbook.xml.rels": wb_rels,
                                "xl/worksheets/_rels/sheet1.xml.rels": sheet_rels})
    absolute = Package.open(dst)
    assert absolute.sheet_parts() == pkg.sheet_parts()
    assert absolute.tables() == pkg.tables()
    assert openpyxl.load_workbook(dst)["Action Plan"]["B3"].value == "Train"


def test_package_refuses_to_mix_versions(tmp_path, master):
    path = tmp_path / "m.xlsx"
    path.write_bytes(master.read_bytes())
    pkg = Package.open(path)
    pkg.read("xl/workbook.xml")
    os.utime(path, ns=(1, 1))  # as if someone saved it again
    with pytest.raises(RuntimeError, match="changed on disk"):
        pkg.read("xl/styles.xml")
    assert pkg.read("xl/workbook.xml")  # already read: served from the cache


# --------------------------------------------------------------------------------------------
# set_cells on hand-written XML: what Excel itself writes
# --------------------------------------------------------------------------------------------

EXCEL_SHEET = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" \
xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x14ac xr xr2 xr3" \
xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" \
xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision" \
xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2" \
xmlns:xr3="http://schemas.microsoft.com/office/spreadsheetml/2016/revision3" \
xr:uid="{00000000-0001-0000-0000-000000000000}"><dimension ref="A1:C4"/><sheetViews>\
<sheetView tabSelected="1" workbookViewId="0"/></sheetViews>\
<sheetFormatPr defaultRowHeight="15" x14ac:dyDescent="0.25"/><sheetData>\
<row r="1" spans="1:3" x14ac:dyDescent="0.25"><c r="A1" s="1" t="s"><v>0</v></c>\
<c r="C1" t="str"><f>"a"&amp;"b"</f><v>ab</v></c></row>\
<row r="2" spans="1:3" x14ac:dyDescent="0.25"><c r="A2" s="3"><v>1</v></c>\
<c r="B2" s="2"><f>A2*2</f><v>2</v></c><c r="C2"><f t="shared" ref="C2:C4" si="0">A2+1</f><v>2</v></c></row>\
<row r="4" spans="1:3" x14ac:dyDescent="0.25"><c r="C4"><f t="shared" si="0"/><v>1</v></c></row>\
</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>\
</worksheet>"""


def cells_of(xml: bytes) -> dict[str, etree._Element]:
    return {c.get("r"): c for c in etree.fromstring(xml).iterfind(".//m:c", N)}


@pytest.fixture(params=["bytes", "tree"])
def path_kind(request, monkeypatch):
    """Run a test through the byte-level fast path and through the whole-tree fallback."""
    if request.param == "tree":
        monkeypatch.setattr(ooxml, "_scan_sheet", lambda data: None)
    return request.param


def test_set_cells_keeps_prefixes_and_untouched_markup(path_kind):
    out = set_cells(EXCEL_SHEET, {"B2": 5})
    assert b'mc:Ignorable="x14ac xr xr2 xr3"' in out
    assert b'xr:uid="{00000000-0001-0000-0000-000000000000}"' in out
    assert out.count(b'x14ac:dyDescent="0.25"') == 4
    assert b"ns0" not in out and b"xmlns:x14ac=" in out
    assert out.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')
    assert etree.tostring(etree.fromstring(out).find("m:pageMargins", N)) == etree.tostring(
        etree.fromstring(EXCEL_SHEET).find("m:pageMargins", N))


def test_set_cells_creates_rows_and_cells_in_order(path_kind):
    out = set_cells(EXCEL_SHEET, {"B1": "x", "D2": 1, "A3": 2, "E6": 3.5, "B5": None, "A4": "y"})
    root = etree.fromstring(out)
    rows = root.findall(".//m:row", N)
    assert [r.get("r") for r in rows] == ["1", "2", "3", "4", "6"]  # B5=None creates nothing
    assert [c.get("r") for c in rows[0]] == ["A1", "B1", "C1"]
    assert [c.get("r") for c in rows[1]] == ["A2", "B2", "C2", "D2"]
    assert [c.get("r") for c in rows[3]] == ["A4", "C4"]
    assert rows[1].get("spans") == "1:4"
    assert root.find("m:dimension", N).get("ref") == "A1:E6"
    c = cells_of(out)
    assert c["B1"].get("t") == "inlineStr" and c["B1"].findtext("m:is/m:t", namespaces=N) == "x"
    assert c["B1"].find("m:is/m:t", N).get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
    assert c["E6"].findtext("m:v", namespaces=N) == "3.5" and c["E6"].get("t") is None


def test_set_cells_formula_cells_keep_formula_and_get_cached_value(path_kind):
    out = set_cells(EXCEL_SHEET, {"C1": 7, "B2": "text", "C2": None, "C4": True})
    c = cells_of(out)
    assert c["C1"].findtext("m:f", namespaces=N) == '"a"&"b"' and c["C1"].get("t") is None
    assert c["C1"].findtext("m:v", namespaces=N) == "7"
    assert c["B2"].findtext("m:f", namespaces=N) == "A2*2" and c["B2"].get("t") == "str"
    assert [e.tag.split("}")[1] for e in c["B2"]] == ["f", "v"]
    assert c["B2"].findtext("m:v", namespaces=N) == "text" and c["B2"].get("s") == "2"
    assert c["C2"].find("m:f", N).get("t") == "shared" and c["C2"].find("m:v", N) is None
    assert c["C2"].get("t") is None
    assert c["C4"].get("t") == "b" and c["C4"].findtext("m:v", namespaces=N) == "1"
    assert c["C4"].find("m:f", N).get("si") == "0"


def test_set_cells_plain_cells_keep_style(path_kind):
    out = set_cells(EXCEL_SHEET, {"A1": "now inline", "A2": False})
    c = cells_of(out)
    assert c["A1"].get("s") == "1" and c["A1"].get("t") == "inlineStr"
    assert c["A1"].find("m:v", N) is None and c["A1"].findtext("m:is/m:t", namespaces=N) == "now inline"
    assert c["A2"].get("s") == "3" and c["A2"].get("t") == "b"
    emptied = cells_of(set_cells(EXCEL_SHEET, {"A2": None}))["A2"]
    assert emptied.get("s") == "3" and len(emptied) == 0 and emptied.get("t") is None


def test_set_cells_text_escaping(path_kind):
    text = "a <b> & c\r\nd\ttab _x0041_ bell\x07"
    c = cells_of(set_cells(EXCEL_SHEET, {"A1": text}))["A1"]
    stored = c.findtext("m:is/m:t", namespaces=N)
    assert stored == "a <b> & c\r\nd\ttab _x005F_x0041_ bell_x0007_"  # Excel's own escaping
    assert ooxml._unescape_text(stored) == text


def test_set_cells_untouched_rows_keep_their_bytes():
    row4 = b'<row r="4" spans="1:3" x14ac:dyDescent="0.25"><c r="C4"><f t="shared" si="0"/><v>1</v></c></row>'
    out = set_cells(EXCEL_SHEET, {"A1": 1})
    assert row4 in out


def test_set_cells_without_row_numbers_falls_back():
    xml = (b'<worksheet xmlns="' + NS.encode() + b'"><sheetData><row><c><v>1</v></c><c><v>2</v></c>'
           b"</row><row><c><v>3</v></c></row></sheetData></worksheet>")
    out = set_cells(xml, {"B2": 9, "A2": 8})
    rows = etree.fromstring(out).findall(".//m:row", N)
    assert [r.get("r") for r in rows] == ["1", "2"]  # implicit row numbers made explicit
    assert [(c.get("r"), c.findtext("m:v", namespaces=N)) for c in rows[0]] == [(None, "1"), (None, "2")]
    assert [(c.get("r"), c.findtext("m:v", namespaces=N)) for c in rows[1]] == [("A2", "8"), ("B2", "9")]


def test_set_cells_with_a_prefixed_namespace(path_kind):
    xml = (b'<x:worksheet xmlns:x="' + NS.encode() + b'"><x:dimension ref="A1"/><x:sheetData>'
           b'<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row></x:sheetData></x:worksheet>')
    out = set_cells(xml, {"B3": "hi", "A1": 2})
    assert b"<x:row r=\"3\"><x:c r=\"B3\" t=\"inlineStr\"><x:is>" in out
    assert b"xmlns=" not in out and b"ns0" not in out
    out2 = replace_sheet_rows(xml, 2, [["z", 1]], hyperlinks=[("A2", "Sheet1!A1", "")])
    assert b'<x:row r="2"><x:c r="A2" t="inlineStr">' in out2 and b"<x:hyperlinks>" in out2


def test_set_cells_rejects_what_excel_cannot_hold():
    with pytest.raises(ValueError):
        set_cells(EXCEL_SHEET, {"A0": 1})
    with pytest.raises(ValueError):
        set_cells(EXCEL_SHEET, {"XFE1": 1})
    with pytest.raises(ValueError):
        set_cells(EXCEL_SHEET, {"A1": float("nan")})
    with pytest.raises(ValueError):
        set_cells(EXCEL_SHEET, {"A1": "x" * 32_768})
    with pytest.raises(TypeError):
        set_cells(EXCEL_SHEET, {"A1": object()})
    with pytest.raises(ValueError, match="not a worksheet"):
        set_cells(b'<chartsheet xmlns="' + NS.encode() + b'"/>', {"A1": 1})


def test_set_cells_emptying_missing_cells_changes_nothing():
    assert set_cells(EXCEL_SHEET, {"H9": None}) == EXCEL_SHEET


def test_a1_helpers():
    assert [column_letter(i) for i in (1, 26, 27, 702, 703, 16384)] == ["A", "Z", "AA", "ZZ", "AAA", "XFD"]
    assert all(column_index(column_letter(i)) == i for i in range(1, 16385))
    assert split_ref("$B$3") == (2, 3) and split_ref("xfd1048576") == (16384, 1048576)


# --------------------------------------------------------------------------------------------
# replace_sheet_rows
# --------------------------------------------------------------------------------------------

FULL_SHEET = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="{NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<dimension ref="A1:C9"/><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>
<c r="C1" t="s"><v>1</v></c></row><row r="2"><c r="A2"><v>1</v></c></row>
<row r="9"><c r="C9"><f>A2</f><v>1</v></c></row></sheetData>
<mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells>
<conditionalFormatting sqref="A2:A9"><cfRule type="cellIs" dxfId="0" priority="1" operator="equal">\
<formula>1</formula></cfRule></conditionalFormatting>
<dataValidations count="1"><dataValidation type="list" sqref="B2:B9"><formula1>"R,A,G"</formula1>\
</dataValidation></dataValidations>
<hyperlinks><hyperlink ref="C1" r:id="rId1"/><hyperlink ref="A2" location="Other!A1"/>\
<hyperlink ref="A1:A3" location="Other!A2"/></hyperlinks>
<printOptions gridLines="1"/><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" \
footer="0.3"/><pageSetup orientation="landscape"/><drawing r:id="rId2"/><tableParts count="0"/>
</worksheet>""".replace("{NS}", NS).encode()


def children(xml: bytes) -> list[str]:
    return [etree.QName(e).localname for e in etree.fromstring(xml) if isinstance(e.tag, str)]


def test_replace_sheet_rows_replaces_rows_and_links(path_kind):
    out = replace_sheet_rows(FULL_SHEET, 2, [["a", 1, None], [None, None, None], ["=1+1", True, 2.5]],
                             styles=[4, None, 6], hyperlinks=[("A2", "'Action Plan'!G5", "Go to 5")])
    root = etree.fromstring(out)
    rows = root.findall(".//m:row", N)
    assert [r.get("r") for r in rows] == ["1", "2", "3", "4"]
    c = cells_of(out)
    assert list(c) == ["A1", "C1", "A2", "B2", "C2", "A3", "C3", "A4", "B4", "C4"]
    assert c["C1"].get("t") == "s"  # the kept header row is untouched
    assert c["A2"].get("s") == "4" and c["A2"].findtext("m:is/m:t", namespaces=N) == "a"
    assert c["B2"].get("s") is None and c["B2"].findtext("m:v", namespaces=N) == "1"
    assert c["C2"].get("s") == "6" and len(c["C2"]) == 0  # styled blank
    assert c["A4"].get("t") == "inlineStr" and c["A4"].find("m:f", N) is None
    assert c["B4"].get("t") == "b" and c["C4"].findtext("m:v", namespaces=N) == "2.5"
    assert "C9" not in c  # old rows below first_row are gone, formulas and all
    assert root.find("m:dimension", N).get("ref") == "A1:C4"
    links = root.findall("m:hyperlinks/m:hyperlink", N)
    assert [(h.get("ref"), h.get("location"), h.get("display")) for h in links] == [
        ("C1", None, None), ("A2", "'Action Plan'!G5", "Go to 5")]
    assert links[0].get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id") == "rId1"
    assert children(out) == ["dimension", "sheetData", "mergeCells", "conditionalFormatting",
                             "dataValidations", "hyperlinks", "printOptions", "pageMargins",
                             "pageSetup", "drawing", "tableParts"]


@pytest.mark.parametrize("drop, after", [
    ("dataValidations", "conditionalFormatting"),
    ("conditionalFormatting|dataValidations", "mergeCells"),
    ("conditionalFormatting|dataValidations|mergeCells", "sheetData"),
])
def test_replace_sheet_rows_puts_hyperlinks_in_schema_order(drop, after, path_kind):
    root = etree.fromstring(FULL_SHEET)
    for name in [*drop.split("|"), "hyperlinks"]:
        root.remove(root.find(f"m:{name}", N))
    xml = etree.tostring(root)
    out = replace_sheet_rows(xml, 2, [["x"]], hyperlinks=[("A2", "Other!A1", "go")])
    names = children(out)
    assert names[names.index("hyperlinks") - 1] == after
    assert names[names.index("hyperlinks") + 1] == "printOptions"


def test_replace_sheet_rows_appends_hyperlinks_when_nothing_follows(path_kind):
    xml = b'<worksheet xmlns="' + NS.encode() + b'"><sheetData/></worksheet>'
    out = replace_sheet_rows(xml, 1, [["a"]], hyperlinks=[("A1", "S!A1", "d")])
    assert children(out) == ["dimension", "sheetData", "hyperlinks"]
    assert etree.fromstring(out).find("m:dimension", N).get("ref") == "A1"


def test_replace_sheet_rows_drops_an_empty_hyperlinks_element(path_kind):
    out = replace_sheet_rows(FULL_SHEET, 1, [])
    assert "hyperlinks" not in children(out)
    assert etree.fromstring(out).find("m:dimension", N).get("ref") == "A1"
    assert etree.fromstring(out).find("m:sheetData", N) is not None


def test_replace_sheet_rows_rejects_bad_input():
    with pytest.raises(ValueError):
        replace_sheet_rows(FULL_SHEET, 0, [])
    with pytest.raises(ValueError):
        replace_sheet_rows(FULL_SHEET, 1_048_576, [[1], [2]])
    with pytest.raises(ValueError):
        replace_sheet_rows(FULL_SHEET, 2, [[1]], styles=[-1])
    with pytest.raises(ValueError):
        replace_sheet_rows(FULL_SHEET, 2, [[1]], hyperlinks=[("nowhere", "A1", "")])
    with pytest.raises(TypeError):
        replace_sheet_rows(FULL_SHEET, 2, [[{"a": 1}]])


def test_fast_and_tree_paths_agree(master, lo_master):
    def canon(xml: bytes) -> bytes:
        return etree.tostring(etree.fromstring(xml), method="c14n")

    for path in (master, lo_master):
        pkg = Package.open(path)
        for part in pkg.sheet_parts().values():
            xml = pkg.read(part)
            assert ooxml._scan_sheet(xml) is not None, part
            fast = (set_cells(xml, SUMMARY_CELLS),
                    replace_sheet_rows(xml, 2, ISSUE_ROWS, [None, 1], LINKS))
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(ooxml, "_scan_sheet", lambda data: None)
                slow = (set_cells(xml, SUMMARY_CELLS),
                        replace_sheet_rows(xml, 2, ISSUE_ROWS, [None, 1], LINKS))
            assert [canon(x) for x in fast] == [canon(x) for x in slow], part


def test_scan_refuses_what_it_cannot_be_sure_of():
    assert ooxml._scan_sheet(EXCEL_SHEET) is not None
    commented = EXCEL_SHEET.replace(b"<sheetData>", b"<sheetData><!-- <row r=\"9\"> -->")
    assert ooxml._scan_sheet(commented) is None
    unordered = EXCEL_SHEET.replace(b'<row r="4"', b'<row r="0"')
    assert ooxml._scan_sheet(unordered) is None
    assert ooxml._scan_sheet(b'<worksheet xmlns="' + NS.encode() + b'"><sheetData/></worksheet>') is None
    # and the result is still right through the fallback
    c = cells_of(set_cells(commented, {"A9": 1}))
    assert "A9" in c and "C4" in c


# --------------------------------------------------------------------------------------------
# calc_on_load and set_table_ref
# --------------------------------------------------------------------------------------------


def test_calc_on_load_sets_existing_calcpr(master, lo_master):
    for path in (master, lo_master):
        pkg = Package.open(path)
        out = calc_on_load(pkg.read(pkg.workbook_part))
        calc = etree.fromstring(out).find("m:calcPr", N)
        assert calc.get("fullCalcOnLoad") == "1"
    lo_out = calc_on_load(Package.open(lo_master).read("xl/workbook.xml"))
    assert b'iterateCount="100"' in lo_out and b"loext:extCalcPr" in lo_out


def test_calc_on_load_creates_calcpr_in_schema_order():
    xml = (b'<workbook xmlns="' + NS.encode() + b'" xmlns:r="http://schemas.openxmlformats.org/'
           b'officeDocument/2006/relationships"><workbookPr/><bookViews><workbookView/></bookViews>'
           b'<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets><definedNames>'
           b'<definedName name="X">S!$A$1</definedName></definedNames><oleSize ref="A1"/>'
           b"<extLst/></workbook>")
    out = calc_on_load(xml)
    assert children(out) == ["workbookPr", "bookViews", "sheets", "definedNames", "calcPr",
                             "oleSize", "extLst"]
    no_names = calc_on_load(xml.replace(b'<definedNames><definedName name="X">S!$A$1</definedName>'
                                        b"</definedNames>", b""))
    assert children(no_names)[3] == "calcPr"


def test_set_table_ref(master):
    xml = Package.open(master).read("xl/tables/table1.xml")
    out = etree.fromstring(set_table_ref(xml, "A1:E9"))
    assert out.get("ref") == "A1:E9" and out.find("m:autoFilter", N).get("ref") == "A1:E9"
    with pytest.raises(ValueError):
        set_table_ref(xml, "A1:F9")


# --------------------------------------------------------------------------------------------
# write_package
# --------------------------------------------------------------------------------------------


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors (flag bit 3)."""

    def __init__(self, sink: io.BytesIO):
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        return self.sink.write(b)


def odd_zip(path: Path) -> Path:
    """Entries stored, deflated at levels 1 and 9 (a recompression would change their bytes),
    with data descriptors, comments and attributes."""
    text = b"".join(b"row %d of the refresh, value %d\n" % (i, i * 7 % 13) for i in range(3000))
    sink = io.BytesIO()
    with zipfile.ZipFile(_Unseekable(sink), "w") as zf:
        zf.comment = b"archive comment"
        for name, method, level in [("[Content_Types].xml", zipfile.ZIP_DEFLATED, 9),
                                    ("stored.bin", zipfile.ZIP_STORED, None),
                                    ("fast.xml", zipfile.ZIP_DEFLATED, 1),
                                    ("best.xml", zipfile.ZIP_DEFLATED, 9),
                                    ("ünïcode/naïve.xml", zipfile.ZIP_DEFLATED, 1)]:
            info = zipfile.ZipInfo(name, (2015, 6, 30, 12, 34, 56))
            info.compress_type = method
            info.comment = b"entry comment"
            info.external_attr = 0o644 << 16
            zf.writestr(info, text + name.encode(), compresslevel=level)
    path.write_bytes(sink.getvalue())
    return path


def test_write_package_copies_raw_streams(tmp_path):
    src = odd_zip(tmp_path / "odd.zip")
    with zipfile.ZipFile(src) as zf:
        assert all(i.flag_bits & 0x08 for i in zf.infolist())  # data descriptors present
        fast = zf.read("fast.xml")
    # a recompression would not reproduce these streams
    assert zlib.compress(fast, 6)[2:-4] != raw_stream(src, zipfile.ZipFile(src).getinfo("fast.xml"))
    dst = tmp_path / "out.zip"
    write_package(src, dst, {"best.xml": b"new content"})
    assert_untouched(src, dst, {"best.xml"})
    with zipfile.ZipFile(dst) as zf:
        assert zf.read("best.xml") == b"new content"
        assert zf.comment == b"archive comment"
        info = zf.getinfo("stored.bin")
        assert info.compress_type == zipfile.ZIP_STORED and info.comment == b"entry comment"
        assert info.external_attr == 0o644 << 16
        assert zf.getinfo("best.xml").date_time == (2015, 6, 30, 12, 34, 56)
        assert zf.getinfo("ünïcode/naïve.xml").flag_bits & 0x800


def test_write_package_new_parts_and_errors(tmp_path, master):
    dst = tmp_path / "out.xlsx"
    write_package(master, dst, {}, new_parts={"customUI/customUI14.xml": CUSTOM_UI})
    with zipfile.ZipFile(dst) as zf:
        assert zf.namelist()[-1] == "customUI/customUI14.xml"
        assert zf.read("customUI/customUI14.xml") == CUSTOM_UI
    with zipfile.ZipFile(master) as a, zipfile.ZipFile(dst) as b:
        assert b.namelist()[:-1] == a.namelist()
        assert all(raw_stream(dst, b.getinfo(i.filename)) == raw_stream(master, i) for i in a.infolist())
    with pytest.raises(KeyError):
        write_package(master, tmp_path / "typo.xlsx", {"xl/worksheets/Sheet9.xml": b"<x/>"})
    with pytest.raises(ValueError):
        write_package(master, tmp_path / "clash.xlsx", {}, new_parts={"XL/Workbook.xml": b"<x/>"})
    with pytest.raises(ValueError):
        write_package(master, master, {})
    with pytest.raises(TypeError):
        write_package(master, tmp_path / "str.xlsx", {"xl/workbook.xml": "text"})
    assert not (tmp_path / "typo.xlsx").exists() and not (tmp_path / "str.xlsx").exists()


def test_write_package_removes_a_partial_file(tmp_path, master, monkeypatch):
    def boom(data: bytes) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(ooxml, "_deflate", boom)
    dst = tmp_path / "partial.xlsx"
    with pytest.raises(OSError, match="disk full"):
        write_package(master, dst, {"xl/workbook.xml": b"<x/>"})
    assert not dst.exists()


def test_write_package_unchanged_copy_is_identical(tmp_path, master):
    dst = tmp_path / "copy.xlsx"
    write_package(master, dst, {})
    assert_untouched(master, dst, set())


# --------------------------------------------------------------------------------------------
# the LibreOffice helper
# --------------------------------------------------------------------------------------------


def test_require_soffice_skips_or_fails(monkeypatch):
    import lo

    monkeypatch.setattr(lo.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        lo.require_soffice()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI"):
        lo.require_soffice()


def test_verify_package_catches_a_changed_copy(tmp_path: Path) -> None:
    """verify_package passes an honest copy and catches a part changed behind its back."""
    import zipfile as _zf

    from lscb_xl.builder import build_workbook
    from lscb_xl.model import BoardData
    from lscb_xl.ooxml import Package, set_cells, verify_package, write_package

    src = build_workbook(tmp_path / "src.xlsx", BoardData.from_seed())
    home = Package.open(src).sheet_parts()["Home"]
    new = {home: set_cells(Package.open(src).read(home), {"B9": "stamp"})}
    good = tmp_path / "good.xlsx"
    write_package(src, good, new)
    verify_package(src, good, new)
    bad = tmp_path / "bad.xlsx"
    with _zf.ZipFile(good) as zin, _zf.ZipFile(bad, "w", _zf.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/styles.xml":
                data = data.replace(b"Arial", b"Arimo")
            zout.writestr(info, data)
    with pytest.raises(_zf.BadZipFile, match="styles"):
        verify_package(src, bad, new)
