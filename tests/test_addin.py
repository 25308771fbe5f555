"""The desktop add-in: LSCB.xlam's package, ribbon and VBA, the LibreOffice check, and installing.

No Excel here, so the add-in is checked by the independent readers we have: oletools' olevba
(the VBA source must come back exactly as macros/LSCB.bas has it) and LibreOffice, which
imports the same VBA project from an .xlsm through its own compound-file and VBA readers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xlwings
from lo import need

from lscb_xl import addin
from lscb_xl.safesave import RefusedError
from lscb_xl.vba import build_vba_project
from lscb_xl.vba.project import read_modules

HERE = Path(__file__).resolve().parent
MACROS = HERE.parent / "macros"
SYSTEM_PYTHON = "/usr/bin/python3"
CUSTOMUI_NS = "http://schemas.microsoft.com/office/2009/07/customui"
RIBBON_REL = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
VBA_REL = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"




def lf(text: str) -> str:
    return text.replace("\r\n", "\n")


@pytest.fixture(scope="module")
def xlam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return addin.build_addin(tmp_path_factory.mktemp("addin"))


# ---------------------------------------------------------------------------------------------
# The ribbon XML and the VBA module as shipped
# ---------------------------------------------------------------------------------------------


def _buttons(xml: bytes | str) -> list[ET.Element]:
    root = ET.fromstring(xml)
    assert root.tag == f"{{{CUSTOMUI_NS}}}customUI"
    tabs = root.findall(f".//{{{CUSTOMUI_NS}}}tab")
    assert [t.get("label") for t in tabs] == ["LSCB"]
    return root.findall(f".//{{{CUSTOMUI_NS}}}button")


def test_ribbon_has_one_button_per_command_all_on_one_callback() -> None:
    buttons = _buttons((MACROS / "customUI14.xml").read_bytes())
    assert [b.get("tag") for b in buttons] == list(addin.RIBBON_COMMANDS)
    assert len({b.get("id") for b in buttons}) == len(buttons)
    labels = {b.get("tag"): b.get("label") for b in buttons}
    assert labels["email"] == "Email draft" and labels["returns_merge"] == "Merge returns"
    for b in buttons:
        assert b.get("onAction") == "LSCB_OnAction", b.get("id")
        assert b.get("imageMso"), b.get("id")
        assert len(b.get("screentip", "")) > 5 and len(b.get("supertip", "")) > 20, b.get("id")


def test_every_tag_is_a_safe_python_name() -> None:
    """The VBA puts the tag inside a Python string literal and refuses anything but a-z and _."""
    for command in addin.RIBBON_COMMANDS:
        assert set(command) <= set("abcdefghijklmnopqrstuvwxyz_") and command.isidentifier()


def test_vba_module_calls_xlwings_through_application_run() -> None:
    source = (MACROS / "LSCB.bas").read_text(encoding="utf-8")
    assert source.startswith('Attribute VB_Name = "LSCB"\n')
    assert "Public Sub LSCB_OnAction(control As IRibbonControl)" in source
    assert 'Private Const XLWINGS_ADDIN As String = "xlwings.xlam"' in source
    assert ('Application.Run XLWINGS_ADDIN & "!RunPython", "import lscb_xl.ribbon as r; r.dispatch(\'" & cmd & "\')"'
            in source)
    assert "Sub LSCB_Help()" in source and "lscb-xl addin install" in source
    source.encode("cp1252")  # the project's code page must hold every character


# ---------------------------------------------------------------------------------------------
# The built LSCB.xlam
# ---------------------------------------------------------------------------------------------


def test_xlam_package_is_complete_and_well_formed(xlam: Path) -> None:
    with zipfile.ZipFile(xlam) as zf:
        names = zf.namelist()
        assert names[0] == "[Content_Types].xml"
        for name in names:
            if name.endswith((".xml", ".rels")):
                ET.fromstring(zf.read(name))
        types = ET.fromstring(zf.read("[Content_Types].xml"))
        overrides = {o.get("PartName"): o.get("ContentType") for o in types if o.tag.endswith("Override")}
        defaults = {d.get("Extension"): d.get("ContentType") for d in types if d.tag.endswith("Default")}
        rels = {r.get("Type"): r.get("Target") for r in ET.fromstring(zf.read("_rels/.rels"))}
        book_rels = {r.get("Type"): r.get("Target") for r in ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))}
        assert zf.read("customUI/customUI14.xml") == (MACROS / "customUI14.xml").read_bytes()
        assert b'codeName="ThisWorkbook"' in zf.read("xl/workbook.xml")
        assert b'codeName="Sheet1"' in zf.read("xl/worksheets/sheet1.xml")
    assert overrides["/xl/workbook.xml"] == "application/vnd.ms-excel.addin.macroEnabled.main+xml"
    assert defaults["bin"] == "application/vnd.ms-office.vbaProject"
    assert rels[RIBBON_REL] == "customUI/customUI14.xml"
    assert book_rels[VBA_REL] == "vbaProject.bin"
    for target in [*rels.values()]:
        assert target in names
    for target in book_rels.values():
        assert f"xl/{target}" in names


def test_olevba_reads_lscb_bas_exactly(xlam: Path) -> None:
    olevba = need("oletools.olevba")
    code = {Path(name).stem: text for _, _, name, text in olevba.VBA_Parser(str(xlam)).extract_macros()}
    assert set(code) == {"LSCB", "ThisWorkbook", "Sheet1"}
    assert lf(code["LSCB"]) == lf((MACROS / "LSCB.bas").read_text(encoding="utf-8"))


def test_builds_are_byte_for_byte_reproducible(xlam: Path, tmp_path: Path) -> None:
    assert addin.build_addin(tmp_path).read_bytes() == xlam.read_bytes()


def test_xlsm_holds_the_same_project(xlam: Path, tmp_path: Path) -> None:
    xlsm = addin.build_xlsm(tmp_path / "LSCB.xlsm")
    with zipfile.ZipFile(xlsm) as a, zipfile.ZipFile(xlam) as b:
        assert a.read("xl/vbaProject.bin") == b.read("xl/vbaProject.bin")
        assert b"application/vnd.ms-excel.sheet.macroEnabled.main+xml" in a.read("[Content_Types].xml")
    with pytest.raises(ValueError, match=r"\.xlsm"):
        addin.build_xlsm(tmp_path / "LSCB.xlsx")


def _require_lo_uno() -> None:
    """LibreOffice and its Python bridge: skip without them, fail under CI."""
    problem = None
    if not (shutil.which("soffice") or shutil.which("libreoffice")):
        problem = "LibreOffice (soffice) is not installed"
    elif subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True, check=False).returncode:
        problem = f"{SYSTEM_PYTHON} has no LibreOffice 'uno' bridge (apt-get install python3-uno)"
    if problem and os.environ.get("CI"):
        pytest.fail(f"{problem}; it is required under CI")
    if problem:
        pytest.skip(problem)


def test_libreoffice_imports_the_vba_project(tmp_path: Path) -> None:
    _require_lo_uno()
    xlsm = addin.build_xlsm(tmp_path / "LSCB.xlsm")
    proc = subprocess.run([SYSTEM_PYTHON, str(HERE / "lo_vba_check.py"), str(xlsm)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    libraries = json.loads(proc.stdout)["libraries"]
    project = libraries.get("LSCBAddin")  # LibreOffice names the library after the VBA project
    assert project is not None and set(project) == {"LSCB", "ThisWorkbook", "Sheet1"}, libraries
    source = project["LSCB"]
    assert "Public Sub LSCB_OnAction(control As IRibbonControl)" in source
    body = lf((MACROS / "LSCB.bas").read_text(encoding="utf-8")).split("\n", 1)[1]  # LibreOffice drops Attribute lines
    assert body in source


# ---------------------------------------------------------------------------------------------
# Installing (Linux: into a folder we name; the same steps run on Windows and the Mac)
# ---------------------------------------------------------------------------------------------


def test_install_writes_everything_and_checks_it(tmp_path: Path) -> None:
    steps = addin.install_addin(tmp_path, python=sys.executable)
    text = "\n".join(steps)
    assert (tmp_path / "LSCB.xlam").is_file()
    assert addin._addin_version(tmp_path / "xlwings.xlam") == xlwings.__version__
    conf = addin._read_conf(tmp_path / "xlwings.conf")
    assert conf["INTERPRETER_MAC"] == sys.executable
    assert conf["PYTHONPATH"] == str(Path(addin.__file__).resolve().parent.parent)
    assert "PROBLEM" not in text, text
    assert f"OK: {sys.executable} imports lscb_xl and xlwings {xlwings.__version__}" in text
    assert "Mac only" in text and "Restart Excel" in steps[-1]


def test_install_keeps_other_settings_and_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "xlwings.conf").write_text('"LICENSE_KEY","abc"\n"PYTHONPATH","C:\\mine"\n"INTERPRETER_MAC","/old"\n')
    steps = addin.install_addin(tmp_path)
    addin.install_addin(tmp_path)
    conf = addin._read_conf(tmp_path / "xlwings.conf")
    ours = str(Path(addin.__file__).resolve().parent.parent)
    assert conf["LICENSE_KEY"] == "abc"
    assert conf["PYTHONPATH"] == f"C:\\mine;{ours}"
    assert any("xlwings used /old" in s for s in steps)


def test_install_replaces_an_xlwings_addin_of_another_version(tmp_path: Path) -> None:
    old = build_vba_project({"Main": 'Public Const XLWINGS_VERSION As String = "0.1.0"\n'}, "xlwings")
    with zipfile.ZipFile(tmp_path / "xlwings.xlam", "w") as zf:
        zf.writestr("xl/vbaProject.bin", old)
    assert addin._addin_version(tmp_path / "xlwings.xlam") == "0.1.0"
    steps = addin.install_addin(tmp_path)
    assert any(f"Installed the xlwings {xlwings.__version__} add-in" in s and "it was 0.1.0" in s for s in steps)
    assert addin._addin_version(tmp_path / "xlwings.xlam") == xlwings.__version__
    assert any("OK: the xlwings add-in" in s for s in addin.install_addin(tmp_path))


def test_install_reports_a_python_without_our_packages(tmp_path: Path) -> None:
    """The classic ModuleNotFoundError, found at install time rather than on a button press."""
    if subprocess.run([SYSTEM_PYTHON, "-c", "import xlwings"], capture_output=True, check=False).returncode == 0:
        pytest.skip(f"{SYSTEM_PYTHON} has xlwings, so it cannot stand in for a bare Python")
    addin.install_addin(tmp_path)
    before = (tmp_path / "xlwings.conf").read_bytes()
    text = "\n".join(addin.install_addin(tmp_path, python=SYSTEM_PYTHON))
    assert f"PROBLEM: xlwings is not installed for {SYSTEM_PYTHON}" in text
    assert f"PROBLEM: {SYSTEM_PYTHON} cannot import lscb_xl" in text and "ModuleNotFoundError" in text
    assert (tmp_path / "xlwings.conf").read_bytes() == before, "a Python that cannot run the buttons is not set"
    assert (tmp_path / "LSCB.xlam").is_file()


def test_install_without_excel_needs_a_target() -> None:
    if addin.xlstart_dir() is not None:
        pytest.skip("this computer has a desktop Excel start-up folder")
    with pytest.raises(RefusedError, match="--target"):
        addin.install_addin()


def test_built_addin_module_source_round_trips_through_our_reader(xlam: Path) -> None:
    with zipfile.ZipFile(xlam) as zf:
        modules = read_modules(zf.read("xl/vbaProject.bin"))
    assert lf(modules["LSCB"]) == lf((MACROS / "LSCB.bas").read_text(encoding="utf-8"))
