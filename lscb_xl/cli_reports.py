"""``lscb-xl summary`` and ``lscb-xl email``: the board's summary as Word, HTML and email.

Registered on the main app by one import at the end of :mod:`lscb_xl.cli`. Every path runs the
data-protection check (:mod:`lscb_xl.leakcheck`) before anything is written for others,
attached or sent. Exit codes: 0 done, 2 unusable input, refused, or the mail server failed
(one line on stderr, never a traceback).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from lscb_xl import dates
from lscb_xl.cli import EXIT_UNUSABLE, app, user_errors
from lscb_xl.model import BoardData
from lscb_xl.summary import Outputs, ReportError, make_outputs, write_html_file, write_summaries

__all__ = ["email_cmd", "summary_cmd", "write_summaries"]


@contextmanager
def report_errors() -> Iterator[None]:
    """A refused leak check, a broken template or a failed send: one line on stderr, exit 2."""
    try:
        yield
    except ReportError as exc:
        typer.echo(f"lscb-xl: {exc}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None


# --------------------------------------------------------------------------------------------
# Reading the workbook for a command
# --------------------------------------------------------------------------------------------


def _as_at(text: str | None, data: BoardData) -> dt.date | None:
    """--as-at, else the workbook's AsAt, else today (said on stderr, so nobody is surprised)."""
    if text:
        when = dates.parse_uk_date(text)
        if when is None:
            raise ReportError(f"--as-at {text!r} is not a date; write it day first, e.g. 31/03/2015.")
        return when
    if dates.parse_uk_date(data.settings.get("AsAt")):
        return None
    typer.echo("lscb-xl: note: the workbook has no 'as at' date; using today's.", err=True)
    return dt.date.today()


def _load(path: Path, as_at: str | None, template: Path | None, note_hidden: bool = True) -> Outputs:
    """Read, validate, note hidden content in the source (unless a refusal will name it), make the outputs."""
    from lscb_xl import leakcheck
    from lscb_xl.refresh import check

    data, findings = check(path)
    hidden = leakcheck.check_workbook_file(path)
    if hidden and note_hidden:
        typer.echo(f"lscb-xl: note: {path.name} has {'; '.join(hidden)}: none of it goes into the summary.",
                   err=True)
    return make_outputs(data, findings, _as_at(as_at, data), template, leakcheck.comment_secrets(path))


def _caveat_line(outputs: Outputs) -> str:
    caveats = outputs.context["caveats"]
    return (f"Data caveats: {caveats['error_count']} validation error(s) listed in the summary"
            f"{'; check them before publishing' if caveats['error_count'] else ''}.")


TemplateOpt = Annotated[Path | None, typer.Option("--template", help="A Word template (.docx with tags) to use "
                                                  "instead of templates/summary.docx.")]
AsAtOpt = Annotated[str | None, typer.Option("--as-at", help="Report the action plan as at this date "
                                             "(day first); default: the workbook's 'as at' date.")]


@app.command("summary")
def summary_cmd(
    path: Annotated[Path, typer.Argument(help="The master workbook.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write the Word summary "
                                                "(default: next to the workbook, NAME-summary.docx).")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also (or only) write the HTML summary here.")] = None,
    template: TemplateOpt = None,
    as_at: AsAtOpt = None,
) -> None:
    """Write the board summary as Word (.docx) and/or HTML, ready to file or paste into a report."""
    with user_errors(), report_errors():
        outputs = _load(path, as_at, template)
        if output is None and html is None:
            output = path.with_name(f"{path.stem}-summary.docx")
        if html is not None:  # first: the page with the chart is checked as it is written
            typer.echo(f"Wrote {write_html_file(outputs, html)}")
        if output is not None:
            output.write_bytes(outputs.docx)
            typer.echo(f"Wrote {output}")
    typer.echo(_caveat_line(outputs))


def _attach_workbook(msg: Any, path: Path, data: BoardData) -> None:
    """Attach the workbook only if it hides nothing and holds no case detail; else refuse, naming it all."""
    from lscb_xl import leakcheck
    from lscb_xl.emailer import attach_file

    problems = leakcheck.check_workbook_file(path) + leakcheck.check_workbook_records(data)
    if problems:
        raise leakcheck.LeakFound(f"refused to attach {path.name}: it has {'; '.join(problems)}. Remove them from a "
                                  "copy and attach that, or leave out --attach-workbook.")
    attach_file(msg, path.read_bytes(), path.name)


@app.command("email")
def email_cmd(
    path: Annotated[Path, typer.Argument(help="The master workbook.")],
    to: Annotated[list[str] | None, typer.Option("--to", help="Recipient; repeat or separate with commas.")] = None,
    cc: Annotated[list[str] | None, typer.Option("--cc", help="Copy to; repeat or separate with commas.")] = None,
    sender: Annotated[str, typer.Option("--from", help="The sender's address.")] = "",
    subject: Annotated[str | None, typer.Option("--subject", help="Default: the summary's title.")] = None,
    eml: Annotated[Path | None, typer.Option("--eml", help="Write an Outlook draft (.eml, X-Unsent) here.")] = None,
    send_: Annotated[bool, typer.Option("--send", help="Send over SMTP (settings from LSCB_SMTP_* or "
                                        "--smtp-config; STARTTLS required unless turned off).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send and write "
                                          "nothing.")] = False,
    smtp_config: Annotated[Path | None, typer.Option("--smtp-config", help="TOML file with an \\[smtp] table.")] = None,
    attach_workbook: Annotated[bool, typer.Option("--attach-workbook", help="Also attach the workbook, after "
                                                  "checking it hides nothing and holds no case detail.")] = False,
    template: TemplateOpt = None,
    as_at: AsAtOpt = None,
) -> None:
    """Email the summary: HTML body, plain-text alternative, the Word summary attached."""
    from lscb_xl import leakcheck
    from lscb_xl.emailer import EmailError, build_message, load_settings, send, write_eml

    with user_errors(), report_errors():
        if not (eml or send_ or dry_run):
            raise EmailError("say what to do: --eml FILE (an Outlook draft), --send, or --dry-run.")
        if not sender:
            raise EmailError("give the sender with --from ADDRESS.")
        settings = load_settings(os.environ, smtp_config) if send_ and not dry_run else None
        outputs = _load(path, as_at, template, note_hidden=not attach_workbook)
        if subject:
            leakcheck.check_outgoing([subject], outputs.data, ["subject"], leakcheck.comment_secrets(path))
        msg = build_message(outputs.context, outputs.html, outputs.text, outputs.docx, to or [], cc or [], sender,
                            subject or outputs.context["title"])
        if attach_workbook:
            _attach_workbook(msg, path, outputs.data)
        if dry_run:
            _show_dry_run(msg, smtp_config, send_)
            return
        if eml:
            typer.echo(f"Wrote draft {write_eml(msg, eml)} (opens in Outlook ready to edit and send).")
        if settings is not None:
            refused = send(msg, settings)
            if refused:
                raise EmailError(f"sent, but the server refused {', '.join(refused)}.")
            typer.echo(f"Sent to {msg['To']}{' cc ' + msg['Cc'] if msg['Cc'] else ''} via {settings.describe()}.")
    typer.echo(_caveat_line(outputs))


def _show_dry_run(msg: Any, smtp_config: Path | None, send_: bool) -> None:
    from lscb_xl.emailer import describe, load_settings

    typer.echo("Dry run: nothing sent or written. The message would be:")
    for line in describe(msg):
        typer.echo(f"  {line}")
    typer.echo("  The data-protection check passed.")
    if send_:
        try:
            typer.echo(f"  It would be sent via {load_settings(os.environ, smtp_config).describe()}.")
        except ReportError as exc:
            typer.echo(f"  It could not be sent yet: {exc}")
