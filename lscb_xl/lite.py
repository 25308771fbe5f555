"""``lscb-xl lite export DIR``: the files a user pastes into xlwings Lite (Python inside Excel).

xlwings Lite runs Pyodide in Excel's task pane: ``main.py`` holds scripts (functions taking a
``Book``), ``requirements.txt`` lists packages to install. lscb-xl is not on PyPI, so the export
also builds the lscb-xl wheel into DIR: host it at an HTTPS address Lite can reach (for example
with ``lscb-xl serve``, or on the board's SharePoint) and pass that address as ``--wheel-url``.
The scripts are the same ribbon commands that run in desktop Excel and behind the server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lscb_xl import __version__
from lscb_xl.errors import UnusableWorkbook

#: Packages lscb-xl's ribbon commands import that Pyodide/xlwings Lite can install
#: (pure Python or built for Pyodide). python-calamine and typer are not needed in Lite.
LITE_REQUIREMENTS = ("xlsxwriter", "lxml", "jinja2", "python-docx", "docxtpl", "matplotlib")

MAIN_PY = '''"""lscb-xl for xlwings Lite: the board's ribbon commands as scripts (lscb-xl {version})."""

import xlwings as xw
from xlwings import script

from lscb_xl import ribbon


@script
def validate(book: xw.Book):
    """List problems on the Validation sheet; offending cells light up."""
    ribbon.validate_book(book)


@script
def refresh(book: xw.Book):
    """Re-check, restore any figure typed over, and stamp the Home sheet."""
    ribbon.refresh_book(book)


@script
def rag_ratings(book: xw.Book):
    """Turn ratings typed as words ("green") into their letters ("G")."""
    ribbon.rag_book(book)
'''


def export(out_dir: Path, wheel_url: str | None = None) -> dict[str, Path]:
    """Write main.py, requirements.txt and the lscb-xl wheel into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(out_dir)
    main = out_dir / "main.py"
    main.write_text(MAIN_PY.format(version=__version__), encoding="utf-8")
    reqs = out_dir / "requirements.txt"
    source = wheel_url or wheel.name
    lines = [*LITE_REQUIREMENTS, f"{source}  # lscb-xl: host this wheel where xlwings Lite can fetch it"]
    reqs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"main": main, "requirements": reqs, "wheel": wheel}


def build_wheel(out_dir: Path) -> Path:
    """Build lscb-xl's wheel from the installed source tree (pip fetches the build backend if missing)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").exists():
        raise UnusableWorkbook("lite export needs lscb-xl installed from its source folder (pip install -e .).")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out_dir),
           str(root)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise UnusableWorkbook(f"building the lscb-xl wheel failed: {done.stderr.strip().splitlines()[-1:]}")
    wheels = sorted(out_dir.glob(f"lscb_xl-{__version__}-*.whl"))
    if not wheels:
        raise UnusableWorkbook("building the lscb-xl wheel produced no file.")
    return wheels[-1]
