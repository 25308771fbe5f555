"""Run LibreOffice from tests: the independent spreadsheet that opens and recalculates our files.

``soffice_convert`` runs ``soffice --headless --convert-to`` with a private, throw-away profile
whose settings make Calc recalculate every formula on load (OOXMLRecalcMode=0 and
ODFRecalcMode=0, "always recalculate"). Without that LibreOffice trusts the cached values in the
file, so a formula written without a cached value (xlsxwriter, openpyxl) or a stale cache
would go unchecked. The private profile also keeps tests away from any user's own profile and
lets several conversions run at once.

``require_soffice`` skips a test when LibreOffice is missing, except under CI (``CI`` set),
where a missing LibreOffice is a broken machine and fails the test.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

#: Seconds one conversion may take before it is killed.
SOFFICE_TIMEOUT = 120

_REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice_path() -> str | None:
    """The LibreOffice executable, or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def require_soffice() -> str:
    """Return the soffice executable; skip the test without it (fail it under CI)."""
    exe = soffice_path()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice is required under CI")
        pytest.skip("LibreOffice (soffice) is not installed")
    return exe


def soffice_convert(src: Path, outdir: Path, fmt: str = "xlsx") -> Path:
    """Convert *src* into *outdir* with headless LibreOffice (recalculating on load).

    *fmt* is anything ``--convert-to`` takes: ``"xlsx"``, ``"csv"``, ``"pdf"``, or a format
    with a filter such as ``"csv:Text - txt - csv (StarCalc):44,34,76"``. Returns the output
    path; raises ``RuntimeError`` when LibreOffice fails or produces nothing.
    """
    exe = require_soffice()
    src = Path(src).resolve()
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / f"{src.stem}.{fmt.split(':', 1)[0]}"
    if out == src:
        raise ValueError(f"converting {src} into its own folder would overwrite it")
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="lscb-lo-profile-") as profile:
        user = Path(profile, "user")
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(_REGISTRY, encoding="utf-8")
        cmd = [
            exe, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--invisible",
            "--norestore", "--nolockcheck", "--nologo", "--nodefault",
            "--convert-to", fmt, "--outdir", str(outdir), str(src),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=SOFFICE_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            # soffice starts soffice.bin as a child: kill the whole group we started
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(
                f"LibreOffice took more than {SOFFICE_TIMEOUT}s converting {src.name}"
            ) from exc
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(
            f"LibreOffice could not convert {src.name} to {fmt} (exit {proc.returncode}):\n"
            f"{stdout.decode(errors='replace')}{stderr.decode(errors='replace')}"
        )
    return out


def need(module: str) -> ModuleType:
    """Import a checking tool; skip without it, except under CI where a missing tool is a failure."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is required under CI (pip install -e '.[test]')")
        pytest.skip(f"{module} is not installed")
