"""The ``lscb-xl`` command line: each command is a thin wrapper over one Python function.

Exit codes: 0 no errors (warnings allowed), 1 errors found, 2 unusable input. Unusable input
prints one line on stderr and never a traceback: the users are a board's admin staff.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from lscb_xl import __version__
from lscb_xl.builder import build_workbook
from lscb_xl.errors import UnusableWorkbook
from lscb_xl.model import BoardData
from lscb_xl.safesave import RefusedError
from lscb_xl.validation import Finding, counts

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="lscb-xl: the safeguarding board's master workbook: build, validate, refresh, summarise.",
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_ERRORS, EXIT_UNUSABLE = 0, 1, 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected failures into one line on stderr and exit code 2."""
    try:
        yield
    except (UnusableWorkbook, RefusedError) as exc:
        typer.echo(f"lscb-xl: {exc}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    except PermissionError as exc:
        typer.echo(f"lscb-xl: permission denied: {exc.filename or exc}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    except OSError as exc:
        typer.echo(f"lscb-xl: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None


def _exit_for(findings: list[Finding]) -> int:
    return EXIT_ERRORS if counts(findings)["error"] else EXIT_OK


def _print_findings(
    findings: list[Finding], limit: int | None = None, echo: Callable[[str], None] = typer.echo
) -> None:
    shown = findings if limit is None else findings[:limit]
    for f in shown:
        echo(f"{f.severity.upper():7} {f.sheet}!{f.cell}  [{f.rule}] {f.message}")
    if limit is not None and len(findings) > limit:
        echo(f"... and {len(findings) - limit} more (see the Validation sheet).")


def _summary_line(findings: list[Finding]) -> str:
    c = counts(findings)
    return f"{c['error']} error(s), {c['warning']} warning(s)"


@app.command()
def new(
    path: Annotated[Path, typer.Argument(help="Where to write the workbook (.xlsx).")],
    blank: Annotated[bool, typer.Option("--blank", help="An empty copy for a new year: lookups, no records.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Build a master workbook (seeded with the demo board unless --blank)."""
    with user_errors():
        if path.exists() and not force:
            raise RefusedError(f"{path} already exists; pass --force to overwrite it.")
        build_workbook(path, BoardData.from_seed(blank=blank))
    typer.echo(f"Wrote {path} ({'blank' if blank else 'seeded with the demo board'}).")


@app.command("validate")
def validate_cmd(
    path: Annotated[Path, typer.Argument(help="The master workbook.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print findings as a JSON array.")] = False,
) -> None:
    """Check the workbook and list problems; writes nothing."""
    from lscb_xl.refresh import check

    with user_errors():
        _data, findings = check(path)
    if as_json:
        typer.echo(json.dumps([f.as_dict() for f in findings], indent=2, ensure_ascii=False))
    else:
        _print_findings(findings)
        typer.echo(_summary_line(findings))
    raise typer.Exit(_exit_for(findings))


@app.command("refresh")
def refresh_cmd(path: Annotated[Path, typer.Argument(help="The master workbook, refreshed in place.")]) -> None:
    """Recompute figures, rewrite the Validation sheet and save safely (with a backup)."""
    from lscb_xl.refresh import refresh

    with user_errors():
        result = refresh(path)
    typer.echo(f"Refreshed {path}: {_summary_line(result.findings)}.")
    for item in result.restored:
        typer.echo(f"Restored {item}.")
    if result.backup:
        typer.echo(f"Backup: {result.backup}")
    raise typer.Exit(_exit_for(result.findings))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo files.")] = Path("lscb-demo"),
) -> None:
    """The main job on the embedded seed data: build, refresh and validate the demo workbook."""
    from lscb_xl.refresh import refresh

    with user_errors():
        out.mkdir(parents=True, exist_ok=True)
        path = build_workbook(out / "lscb-master.xlsx", BoardData.from_seed())
        typer.echo(f"Built {path}")
        result = refresh(path, keep_backups=1)
    findings = result.findings
    typer.echo(f"Refreshed and validated: {_summary_line(findings)}.")
    by_rule = Counter(f.rule for f in findings)
    typer.echo("Findings by rule: " + ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())))
    mistakes = [f for f in findings if f.rule in ("published-mismatch", "percent-sum")]
    if mistakes:
        typer.echo("Mistakes in the published report:")
        _print_findings(mistakes)
    errors = [f for f in findings if f.severity == "error" and f not in mistakes]
    if errors:
        typer.echo("Other errors:")
        _print_findings(errors, limit=10)
    from lscb_xl.reader import read_workbook
    from lscb_xl.summary import ReportError, write_summaries

    try:
        data, _ = read_workbook(path)
        written = write_summaries(data, findings, out)
    except ReportError as exc:
        typer.echo(f"lscb-xl: {exc}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    for kind, file in written.items():
        typer.echo(f"Wrote {file} ({kind})")
    typer.echo(f"Open {path} in Excel or LibreOffice; the Validation sheet links each finding to its cell.")


lite_app = typer.Typer(help="xlwings Lite (Python inside Excel): export the scripts.", no_args_is_help=True)
app.add_typer(lite_app, name="lite")


@lite_app.command("export")
def lite_export(
    out: Annotated[Path, typer.Argument(help="Folder for main.py, requirements.txt and the wheel.")],
    wheel_url: Annotated[str | None, typer.Option(help="HTTPS address where you will host the wheel.")] = None,
) -> None:
    """Write the main.py and requirements.txt you paste into xlwings Lite."""
    from lscb_xl.lite import export

    with user_errors():
        files = export(out, wheel_url)
    for kind, path in files.items():
        typer.echo(f"{kind}: {path}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    public_url: Annotated[str | None, typer.Option(help="The HTTPS address Excel reaches the server at.")] = None,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (Office add-ins need HTTPS).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key.")] = None,
) -> None:
    """Serve the Office.js add-in (manifest.xml, function file, command endpoints)."""
    import uvicorn

    from lscb_xl.server import ServerSettings, create_app

    with user_errors():
        settings = ServerSettings.from_env(public_url)
        if (ssl_certfile is None) != (ssl_keyfile is None):
            raise UnusableWorkbook("Pass both --ssl-certfile and --ssl-keyfile, or neither.")
    typer.echo(f"lscb-xl serving on {'https' if ssl_certfile else 'http'}://{host}:{port}; "
               f"manifest at {settings.public_url}/manifest.xml")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None)


addin_app = typer.Typer(no_args_is_help=True,
                        help="The desktop Excel add-in: the LSCB ribbon tab (needs the xlwings add-in).")
app.add_typer(addin_app, name="addin")


@addin_app.command("build")
def addin_build(out_dir: Annotated[Path, typer.Argument(help="Folder to write LSCB.xlam into.")]) -> None:
    """Write LSCB.xlam (the LSCB ribbon tab and its one VBA module) into DIR."""
    from lscb_xl.addin import build_addin

    with user_errors():
        path = build_addin(out_dir)
    typer.echo(f"Wrote {path}")


@addin_app.command("install")
def addin_install(
    target: Annotated[Path | None, typer.Option("--target", help="Install here instead of Excel's XLSTART.")] = None,
    python: Annotated[str, typer.Option("--python", help="The Python the buttons run.")] = sys.executable,
) -> None:
    """Put LSCB.xlam in Excel's start-up folder, set up xlwings for it, and check the usual failures."""
    from lscb_xl.addin import install_addin

    with user_errors():
        steps = install_addin(target, python=python)
    for step in steps:
        typer.echo(f"- {step}")
    raise typer.Exit(EXIT_ERRORS if any(step.startswith("PROBLEM") for step in steps) else EXIT_OK)


@app.command()
def version() -> None:
    """Print the lscb-xl version."""
    typer.echo(__version__)


# Command groups in their own modules register themselves on ``app`` when imported.
import lscb_xl.cli_year  # noqa: E402,F401  (registers remind and rollover)
from lscb_xl import cli_meetings, cli_reports  # noqa: E402,F401  (snapshot, returns; summary, email)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
