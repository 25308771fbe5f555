"""Open a macro-enabled workbook in LibreOffice and print the Basic libraries it imported, as JSON.

Run with a Python that has LibreOffice's ``uno`` bridge (Debian: /usr/bin/python3 with
python3-uno), not the project's venv:

    /usr/bin/python3 tests/lo_vba_check.py BOOK.xlsm

Why: LibreOffice has its own [MS-CFB] and [MS-OVBA] readers, independent of olefile/oletools, so
a VBA project it imports module by module is a second opinion on our vbaProject.bin. The
profile is private and throw-away, and says explicitly to load VBA code as executable Basic
(Tools > Options > Load/Save > VBA Properties), so the result does not depend on defaults.

Prints ``{"libraries": {name: {module: source}}}``; exits 1 if LibreOffice could not load the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]

_REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Filter/Import/VBA">
  <prop oor:name="Load" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Filter/Import/VBA">
  <prop oor:name="Executable" oor:op="fuse"><value>true</value></prop></item>
</oor:items>
"""
ALWAYS_EXECUTE_NO_WARN = 4  # com.sun.star.document.MacroExecMode


def _prop(name: str, value: object) -> PropertyValue:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def _connect(pipe: str, deadline: float):  # -> a UNO Desktop proxy
    """The Desktop of the LibreOffice listening on *pipe*, retrying while it starts."""
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    while True:
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _libraries(doc) -> dict[str, dict[str, str]]:  # doc: a UNO document proxy
    """Every Basic library of *doc* with its modules' source."""
    libs = doc.BasicLibraries
    out: dict[str, dict[str, str]] = {}
    for name in libs.getElementNames():
        libs.loadLibrary(name)
        lib = libs.getByName(name)
        out[name] = {m: lib.getByName(m) for m in lib.getElementNames()}
    return out


def _stop(proc: subprocess.Popen) -> None:
    """End the LibreOffice we started: the soffice script and soffice.bin share its process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def main(book: str) -> int:
    with tempfile.TemporaryDirectory(prefix="lscb-lo-vba-") as profile:
        user = Path(profile, "user")
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(_REGISTRY, encoding="utf-8")
        copy = Path(profile, Path(book).name)  # its lock file then lives and dies with the profile
        shutil.copyfile(book, copy)
        pipe = f"lscb_vba_{os.getpid()}"
        proc = subprocess.Popen(
            ["soffice", f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--invisible", "--norestore",
             "--nologo", "--nodefault", "--nolockcheck", f"--accept=pipe,name={pipe};urp;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            desktop = _connect(pipe, time.monotonic() + 90)
            url = uno.systemPathToFileUrl(str(copy))
            props = (_prop("Hidden", True), _prop("MacroExecutionMode", ALWAYS_EXECUTE_NO_WARN))
            doc = desktop.loadComponentFromURL(url, "_blank", 0, props)
            if doc is None:
                print(json.dumps({"error": "LibreOffice could not load the file"}))
                return 1
            libraries = _libraries(doc)
            doc.close(True)
            with contextlib.suppress(Exception):  # the bridge drops as LibreOffice exits
                desktop.terminate()
        finally:
            _stop(proc)
    print(json.dumps({"libraries": libraries}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
