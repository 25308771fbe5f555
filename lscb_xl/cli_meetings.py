"""Between board meetings: ``snapshot`` and ``returns make|merge`` (registered on the main app)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from lscb_xl import dates
from lscb_xl.cli import EXIT_ERRORS, EXIT_OK, app, user_errors
from lscb_xl.errors import UnusableWorkbook

returns_app = typer.Typer(help="Partner returns: one workbook per agency out, changes merged back.",
                          no_args_is_help=True)
app.add_typer(returns_app, name="returns")


def _day_first(text: str | None) -> dt.date | None:
    if text is None:
        return None
    value = dates.parse_uk_date(text)
    if value is None:
        raise UnusableWorkbook(f"{text!r} is not a date (use day first, e.g. 31/03/2015).")
    return value


@app.command()
def snapshot(
    path: Annotated[Path, typer.Argument(help="The master workbook.")],
    as_at: Annotated[str | None, typer.Option("--as-at", help="Snapshot date, day first (default: Home)")] = None,
) -> None:
    """Record every action's rating, target and evidence in the History sheet (append-only)."""
    from lscb_xl.snapshot import take_snapshot

    with user_errors():
        result = take_snapshot(path, _day_first(as_at))
    typer.echo(f"Snapshot as at {result.as_at:%d/%m/%Y}: {result.rows} actions recorded in History.")
    typer.echo(result.changes.line())
    for label, items in (("Up", result.changes.moved_up), ("Down", result.changes.moved_down),
                         ("Completed", result.changes.completed), ("Newly overdue", result.changes.new_overdue),
                         ("Overdue and unchanged", result.changes.stuck)):
        for item in items:
            typer.echo(f"  {label}: {item['ref']} {item.get('old', '')} -> {item.get('new', '')}")


@returns_app.command("make")
def returns_make(
    path: Annotated[Path, typer.Argument(help="The master workbook.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the return workbooks.")] = Path("returns"),
) -> None:
    """Write one return workbook per agency, holding only that agency's actions."""
    from lscb_xl.returns import make_returns

    with user_errors():
        files = make_returns(path, out)
    for f in files:
        typer.echo(f"Wrote {f}")


@returns_app.command("merge")
def returns_merge(
    path: Annotated[Path, typer.Argument(help="The master workbook.")],
    returns: Annotated[list[Path], typer.Argument(help="Return workbooks sent back by agencies.")],
) -> None:
    """Merge returns into the master with an audit trail; all-or-nothing, conflicts reported."""
    from lscb_xl.returns import describe, merge_returns

    with user_errors():
        report = merge_returns(path, returns)
    for line in describe(report):
        typer.echo(line)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_ERRORS)
