"""The desktop Excel add-in: ``LSCB.xlam`` with the LSCB ribbon tab, and installing it for staff.

Why an add-in of our own: the xlwings add-in gives Excel ``RunPython`` but no LSCB buttons. Our
``LSCB.xlam`` carries the ribbon (``customUI/customUI14.xml``) and one VBA module
(``macros/LSCB.bas``) whose single callback passes the pressed button's tag to
``lscb_xl.ribbon.dispatch`` through xlwings. We write the package with ``zipfile`` because
openpyxl refuses ``.xlam`` and would drop the ribbon's relationship anyway (FIELD-NOTES), and the
VBA project with :mod:`lscb_xl.vba` because no library writes one.

:func:`install_addin` puts ``LSCB.xlam`` in Excel's start-up folder (XLSTART: a trusted
location, so Windows does not block its macros), makes sure the matching xlwings add-in is
there too, points xlwings at this Python, and checks the usual failures before staff meet
them: ``ModuleNotFoundError``, an xlwings add-in whose version differs from the package, and
the Mac's ``xlwings runpython install`` step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lscb_xl.safesave import RefusedError
from lscb_xl.vba import build_vba_project
from lscb_xl.vba.project import read_modules

__all__ = [
    "ADDIN_NAME", "MACROS_DIR", "RIBBON_COMMANDS", "build_addin", "build_xlsm", "install_addin", "xlstart_dir",
]

ADDIN_NAME = "LSCB.xlam"
XLWINGS_ADDIN = "xlwings.xlam"
#: The shipped VBA and ribbon XML (outside the package, beside README, so reviewers find them).
MACROS_DIR = Path(__file__).resolve().parent.parent / "macros"
#: Every ribbon button's tag: the command names ``lscb_xl.ribbon.dispatch`` receives.
RIBBON_COMMANDS = ("validate", "refresh", "summary", "email", "snapshot", "returns_make", "returns_merge", "help")

#: xlwings' VBA reads its settings file in the ANSI code page on Windows ("mbcs" to Python).
_CONF_ENCODING = "mbcs" if sys.platform == "win32" else "utf-8"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources build the same bytes
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_REL_RIBBON = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"  # customUI14 uses it too
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_CONTENT_MAIN = {
    ".xlam": "application/vnd.ms-excel.addin.macroEnabled.main+xml",
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
}


# ---------------------------------------------------------------------------------------------
# The package parts
# ---------------------------------------------------------------------------------------------


def _macro(name: str) -> str:
    """Read a shipped macro file; a clear error when the source tree is not beside the package."""
    path = MACROS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the add-in is built from the macros/ folder of the lscb-xl source")
    return path.read_text(encoding="utf-8")


def _content_types(main_type: str) -> str:
    """[Content_Types].xml: the main part's type is what makes Excel treat the file as an add-in."""
    over = {
        "/xl/workbook.xml": main_type,
        "/xl/worksheets/sheet1.xml": "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml",
        "/xl/styles.xml": "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml",
        "/docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
        "/docProps/app.xml": "application/vnd.openxmlformats-officedocument.extended-properties+xml",
    }
    overrides = "".join(f'<Override PartName="{k}" ContentType="{v}"/>' for k, v in over.items())
    return (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
        f"{overrides}</Types>"
    )


def _rels(rels: list[tuple[str, str]]) -> str:
    """A relationships part: (type, target) pairs numbered rId1, rId2, ..."""
    body = "".join(f'<Relationship Id="rId{i}" Type="{t}" Target="{target}"/>' for i, (t, target) in enumerate(rels, 1))
    return f'{_XML}<Relationships xmlns="{_NS_PKG_REL}">{body}</Relationships>'


def _root_rels(with_ribbon: bool) -> str:
    """_rels/.rels: the package's entry points, the ribbon among them."""
    rels = [
        (f"{_REL}/officeDocument", "xl/workbook.xml"),
        ("http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties", "docProps/core.xml"),
        (f"{_REL}/extended-properties", "docProps/app.xml"),
    ]
    if with_ribbon:  # Office finds the ribbon only through this package-level relationship
        rels.append((_REL_RIBBON, "customUI/customUI14.xml"))
    return _rels(rels)


def _workbook() -> str:
    """xl/workbook.xml: one sheet (a workbook needs at least one; an add-in hides it)."""
    return (
        f'{_XML}<workbook xmlns="{_NS_MAIN}" xmlns:r="{_REL}">'
        '<workbookPr codeName="ThisWorkbook"/>'  # ties the workbook to the ThisWorkbook document module
        '<bookViews><workbookView/></bookViews>'
        '<sheets><sheet name="About" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )


def _sheet() -> str:
    """The one sheet, its code name matching the Sheet1 document module, with a note for the curious."""
    note = "LSCB add-in: the LSCB ribbon tab. Built by lscb-xl; see macros/ in its source."
    return (
        f'{_XML}<worksheet xmlns="{_NS_MAIN}" xmlns:r="{_REL}">'
        '<sheetPr codeName="Sheet1"/><dimension ref="A1"/>'
        f'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>{note}</t></is></c></row></sheetData>'
        "</worksheet>"
    )


def _styles() -> str:
    """A minimal styles part: one font, the two fills the format requires, one border, one cell format."""
    return (
        f'{_XML}<styleSheet xmlns="{_NS_MAIN}">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    )


def _doc_props() -> dict[str, str]:
    """docProps: a title and creator, so File > Info says what the add-in is."""
    core = (
        f'{_XML}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>LSCB add-in</dc:title>'
        "<dc:creator>lscb-xl</dc:creator></cp:coreProperties>"
    )
    app = (
        f'{_XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        "<Application>Microsoft Excel</Application></Properties>"
    )
    return {"docProps/core.xml": core, "docProps/app.xml": app}


def _parts(suffix: str, with_ribbon: bool) -> dict[str, str | bytes]:
    """Every part of the package, in the order they are zipped (content types first)."""
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": _content_types(_CONTENT_MAIN[suffix]),
        "_rels/.rels": _root_rels(with_ribbon),
        "xl/workbook.xml": _workbook(),
        "xl/_rels/workbook.xml.rels": _rels([
            (f"{_REL}/worksheet", "worksheets/sheet1.xml"),
            (f"{_REL}/styles", "styles.xml"),
            ("http://schemas.microsoft.com/office/2006/relationships/vbaProject", "vbaProject.bin"),
        ]),
        "xl/worksheets/sheet1.xml": _sheet(),
        "xl/styles.xml": _styles(),
        "xl/vbaProject.bin": build_vba_project({"LSCB": _macro("LSCB.bas")}),
        **_doc_props(),
    }
    if with_ribbon:
        parts["customUI/customUI14.xml"] = _macro("customUI14.xml")
    return parts


def _write_package(path: Path, parts: dict[str, str | bytes]) -> Path:
    """Zip *parts* into *path* through a temporary file, so a failure never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in parts.items():
                info = zipfile.ZipInfo(name, _ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; an add-in is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def build_addin(out_dir: Path) -> Path:
    """Write ``LSCB.xlam`` (ribbon + VBA) into *out_dir* and return its path."""
    return _write_package(Path(out_dir) / ADDIN_NAME, _parts(".xlam", with_ribbon=True))


def build_xlsm(path: Path) -> Path:
    """Write a macro-enabled workbook holding the same VBA project (for checks where no .xlam loads)."""
    path = Path(path)
    if path.suffix.lower() != ".xlsm":
        raise ValueError(f"{path.name}: a macro-enabled workbook must end in .xlsm")
    return _write_package(path, _parts(".xlsm", with_ribbon=True))


# ---------------------------------------------------------------------------------------------
# Installing for staff
# ---------------------------------------------------------------------------------------------


def xlstart_dir() -> Path | None:
    """Excel's per-user start-up folder on this computer, or None where there is no desktop Excel."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "Microsoft" / "Excel" / "XLSTART"
    if sys.platform == "darwin":
        return (Path.home() / "Library" / "Group Containers" / "UBF8T346G9.Office" / "User Content.localized"
                / "Startup.localized" / "Excel")
    return None


def _user_config(target_dir: Path) -> Path:
    """Where the xlwings add-in reads its user settings (xlwings.USER_CONFIG_FILE); beside *target_dir* elsewhere."""
    if sys.platform == "win32":
        return Path.home() / ".xlwings" / "xlwings.conf"
    if sys.platform == "darwin":  # Excel is sandboxed on the Mac: the add-in reads its container
        return Path.home() / "Library" / "Containers" / "com.microsoft.Excel" / "Data" / "xlwings.conf"
    return target_dir / "xlwings.conf"


_PROBE = """
import json, os
out = {}
try:
    import xlwings
    out["xlwings"], out["xlwings_dir"] = xlwings.__version__, os.path.dirname(xlwings.__file__)
except Exception as exc:
    out["xlwings_error"] = f"{type(exc).__name__}: {exc}"
try:
    import lscb_xl.ribbon
except Exception as exc:
    out["lscb_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def _probe(python: str, pythonpath: str) -> dict[str, str]:
    """Ask *python*, with our PYTHONPATH as xlwings will set it, what it can import.

    Keys: ``xlwings`` and ``xlwings_dir`` (or ``xlwings_error``), and ``lscb_error`` when
    ``import lscb_xl.ribbon`` (what every button runs first) fails. ``error`` when Python did not run.
    """
    env = {**os.environ, "PYTHONPATH": pythonpath}
    try:
        proc = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=180, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {proc.returncode}"}


def _read_conf(path: Path) -> dict[str, str]:
    """The ``"KEY","VALUE"`` lines of an xlwings.conf (keys upper-cased), keeping their order."""
    if not path.is_file():
        return {}
    conf: dict[str, str] = {}
    for line in path.read_text(encoding=_CONF_ENCODING, errors="replace").splitlines():
        values = re.findall(r'"([^"]*)"', line)
        if len(values) >= 2:
            conf[values[0].upper()] = values[1]
    return conf


def _write_config(path: Path, python: str, pythonpath: str) -> list[str]:
    """Point xlwings at *python* and our package, keeping the user's other settings; say what changed."""
    conf = _read_conf(path)
    key = "INTERPRETER_WIN" if sys.platform == "win32" else "INTERPRETER_MAC"
    steps = []
    if conf.get(key) and conf[key] != python:
        steps.append(f"xlwings used {conf[key]}; it now uses {python} for every xlwings workbook.")
    conf[key] = python
    paths = [p for p in conf.get("PYTHONPATH", "").split(";") if p]
    if pythonpath not in paths:
        paths.append(pythonpath)
    conf["PYTHONPATH"] = ";".join(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f'"{k}","{v}"\n' for k, v in conf.items()), encoding=_CONF_ENCODING)
    steps.append(f"Wrote the xlwings settings to {path}: {key} = {python}; PYTHONPATH includes {pythonpath}.")
    return steps


def _addin_version(path: Path) -> str | None:
    """The version an xlwings add-in file says it is (its XLWINGS_VERSION constant), or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            sources = read_modules(zf.read("xl/vbaProject.bin"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    found = re.search(r'XLWINGS_VERSION\s+As\s+String\s*=\s*"([^"]+)"', sources.get("Main", ""))
    return found.group(1) if found else None


def _install_xlwings_addin(target: Path, python: str, found: dict[str, str]) -> list[str]:
    """Make *target* hold the xlwings add-in of the same version as *python*'s xlwings package."""
    fix = f'close Excel, then run:  "{python}" -m xlwings.cli addin install'
    if "xlwings" not in found:
        why = found.get("xlwings_error") or found.get("error", "")
        return [f"PROBLEM: xlwings is not installed for {python} ({why}). Install lscb-xl into that Python."]
    version, folder = found["xlwings"], found["xlwings_dir"]
    installed = target / XLWINGS_ADDIN
    have = _addin_version(installed) if installed.is_file() else None
    if have == version:
        return [f"OK: the xlwings add-in in {target} is version {version}, the same as the xlwings package."]
    try:
        shutil.copyfile(Path(folder) / "addin" / XLWINGS_ADDIN, installed)
    except OSError as exc:
        return [f"PROBLEM: could not copy the xlwings {version} add-in into {target} ({exc}); {fix}"]
    now = _addin_version(installed)
    if now != version:
        return [f"PROBLEM: the xlwings add-in in {target} says {now}, the package is {version}; {fix}"]
    was = f" (it was {have})" if have else ""
    return [f"Installed the xlwings {version} add-in into {target}{was}, matching the xlwings package."]


def _mac_runpython(python: str) -> list[str]:
    """The Mac needs xlwings' AppleScript in Excel's script folder before RunPython can start Python."""
    if sys.platform != "darwin":
        return ["(Mac only: 'xlwings runpython install' is not needed on this computer.)"]
    command = [python, "-m", "xlwings.cli", "runpython", "install"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    if proc.returncode == 0:
        return ["Ran 'xlwings runpython install': Excel may now start Python."]
    why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return [f"PROBLEM: 'xlwings runpython install' failed ({why}); run it in Terminal:  \"{python}\" -m xlwings.cli "
            "runpython install"]


def install_addin(target_dir: Path | None = None, python: str = sys.executable) -> list[str]:
    """Install LSCB.xlam for the current user; return the steps taken and checks made, in plain English.

    *target_dir* defaults to Excel's start-up folder (:func:`xlstart_dir`); on a computer without
    desktop Excel (Linux) it is required, and everything, including ``xlwings.conf``, goes there.
    """
    target = Path(target_dir) if target_dir is not None else xlstart_dir()
    if target is None:
        raise RefusedError("there is no desktop Excel on this computer: pass --target DIR to write the add-in there.")
    pythonpath = str(Path(__file__).resolve().parent.parent)
    target.mkdir(parents=True, exist_ok=True)
    try:
        path = build_addin(target)
    except PermissionError:
        raise RefusedError(f"{target / ADDIN_NAME} is in use: close Excel and run this again.", target) from None
    steps = [f"Wrote {path}. Excel opens it at start-up from this trusted folder, so its macros are not blocked."]
    found = _probe(python, pythonpath)
    steps += _install_xlwings_addin(target, python, found)
    if "lscb_error" in found or "error" in found:
        why = found.get("lscb_error") or found["error"]
        steps.append(f"PROBLEM: {python} cannot import lscb_xl.ribbon ({why}), so every button would fail with "
                     "that error. Install lscb-xl into that Python, or pass the Python that has it. "
                     "The xlwings settings were left as they were.")
    else:
        steps += _write_config(_user_config(target), python, pythonpath)
        steps.append(f"OK: {python} imports lscb_xl and xlwings {found.get('xlwings')}.")
    steps += _mac_runpython(python)
    steps.append("Restart Excel: the LSCB tab appears on the ribbon.")
    return steps
