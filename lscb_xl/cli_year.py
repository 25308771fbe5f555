"""``lscb-xl remind`` and ``lscb-xl rollover``: the jobs of the board's year, on the command line.

Registered on the main app by one import in :mod:`lscb_xl.cli`. Mail goes through the summary's
mail layer (:mod:`lscb_xl.emailer`: Outlook drafts with X-Unsent, SMTP with STARTTLS, settings
from LSCB_SMTP_* or --smtp-config). Exit codes: 0 done, 2 unusable input, refused, or the mail
server failed (one line on stderr, never a traceback).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lscb_xl import dates
from lscb_xl.cli import app, user_errors
from lscb_xl.cli_reports import AsAtOpt, _as_at, report_errors
from lscb_xl.emailer import EmailError
from lscb_xl.safesave import RefusedError
from lscb_xl.summary import money

if TYPE_CHECKING:
    from lscb_xl.emailer import SmtpSettings
    from lscb_xl.reminders import DueAction, Reminder
    from lscb_xl.rollover import Rollover


def _slug(lead: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", lead.casefold()).strip("-") or "lead"


def _list(due: dict[str, list[DueAction]], emails: dict[str, str], days: int, when: dt.date) -> None:
    """The reminders on screen: each lead, their address (or its absence), then their actions."""
    count = len({a.ref for items in due.values() for a in items})
    typer.echo(f"{count} action(s) due within {days} days or overdue, as at {when:%d/%m/%Y}, for {len(due)} lead(s).")
    for lead, items in due.items():
        address = emails.get(lead)
        typer.echo(f"\n{lead} (email {address})" if address else f"\n{lead} (no email in the LeadPersons list)")
        for a in items:
            typer.echo(f"  {a.ref:7} {a.when:>17}  deadline {a.deadline:%d/%m/%Y}  {a.rag_label:8}  "
                       f"{a.action[:70]}")


def _write_drafts(made: list[Reminder], folder: Path) -> None:
    """One Outlook draft per lead: reminder-<lead>.eml; a lead without an address gets one with no To."""
    from lscb_xl.emailer import write_eml

    folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for r in made:
        name, n = _slug(r.lead), 2
        while name in used:
            name, n = f"{_slug(r.lead)}-{n}", n + 1
        used.add(name)
        path = write_eml(r.message, folder / f"reminder-{name}.eml")
        typer.echo(f"Wrote draft {path} ({r.count} action(s), to {r.to or 'nobody yet: Outlook will ask'}).")


def _smtp_settings(made: list[Reminder], smtp_config: Path | None) -> SmtpSettings:
    """Refuse before anything is written or sent when a lead has no address or the server is not set."""
    from lscb_xl.emailer import load_settings

    missing = [r.lead for r in made if not r.to]
    if missing:
        raise EmailError(f"cannot send: no email address for lead(s) {', '.join(missing)} in the LeadPersons list "
                         "on the Lookups sheet; add them there, or write drafts with --eml DIR. Nothing was sent.")
    return load_settings(os.environ, smtp_config)


def _send_all(made: list[Reminder], settings: SmtpSettings) -> None:
    """One message per lead; a refused recipient stops the run, saying who was not sent."""
    from lscb_xl.emailer import send

    for r in made:
        refused = send(r.message, settings)
        if refused:
            raise EmailError(f"the server refused {', '.join(refused)} (lead {r.lead}); later leads were not sent.")
        typer.echo(f"Sent {r.count} action(s) to {r.lead} <{r.to}> via {settings.describe()}.")


@app.command("remind")
def remind_cmd(
    path: Annotated[Path, typer.Argument(help="The master workbook.")],
    days: Annotated[int, typer.Option("--days", min=0, help="Remind of actions due within this many days "
                                      "(overdue ones always).")] = 14,
    eml: Annotated[Path | None, typer.Option("--eml", help="Write one Outlook draft (.eml) per lead into this "
                                             "folder.")] = None,
    send_: Annotated[bool, typer.Option("--send", help="Send one message per lead over SMTP (settings from "
                                        "LSCB_SMTP_* or --smtp-config).")] = False,
    sender: Annotated[str, typer.Option("--from", help="The sender's address (required with --send).")] = "",
    smtp_config: Annotated[Path | None, typer.Option("--smtp-config", help="TOML file with an \\[smtp] table.")] = None,
    as_at: AsAtOpt = None,
) -> None:
    """List actions due soon or overdue per lead person; or draft or send each lead their reminder."""
    from lscb_xl import leakcheck
    from lscb_xl.reader import read_workbook
    from lscb_xl.reminders import due_actions, lead_emails, reminders

    with user_errors(), report_errors():
        if send_ and not sender:
            raise EmailError("give the sender with --from ADDRESS.")
        data, _findings = read_workbook(path)
        when = _as_at(as_at, data) or dates.parse_uk_date(data.settings.get("AsAt")) or dt.date.today()
        due = due_actions(data, days, when)
        if not (eml or send_):
            _list(due, lead_emails(data), days, when)
            return
        made = reminders(data, due, days, when, sender or None, leakcheck.comment_secrets(path))
        if not made:
            typer.echo(f"No actions are due within {days} days or overdue as at {when:%d/%m/%Y}: nothing to send.")
            return
        settings = _smtp_settings(made, smtp_config) if send_ else None
        if eml:
            _write_drafts(made, eml)
        if settings is not None:
            _send_all(made, settings)


@app.command("rollover")
def rollover_cmd(
    path: Annotated[Path, typer.Argument(help="This year's master workbook (only read).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write next year's workbook (.xlsx).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists (a backup is kept).")] = False,
) -> None:
    """Start next year's workbook: period on a year, balance brought forward, open actions carried."""
    from lscb_xl.builder import build_workbook
    from lscb_xl.reader import read_workbook
    from lscb_xl.rollover import roll
    from lscb_xl.safesave import atomic_write

    with user_errors():
        if out.suffix.lower() != ".xlsx":
            raise RefusedError(f"{out.name}: the new workbook is written as .xlsx; give a name ending in .xlsx.")
        if out.exists() and out.resolve() == path.resolve():
            raise RefusedError(f"--out {out} is the workbook being rolled over; it is never changed. Give a new name.")
        if out.exists() and not force:
            raise RefusedError(f"{out} already exists; pass --force to overwrite it.")
        data, _findings = read_workbook(path)
        result = roll(data)
        if out.exists():
            atomic_write(out, lambda tmp: build_workbook(tmp, result.data), keep_backups=1)
        else:
            build_workbook(out, result.data)
    _report(out, result)


def _report(out: Path, result: Rollover) -> None:
    """What the new workbook holds, so the business manager can check it before staff use it."""
    s = result.data.settings
    typer.echo(f"Wrote {out}: period {s['PeriodStart']:%d/%m/%Y} to {s['PeriodEnd']:%d/%m/%Y}, as at "
               f"{s['AsAt']:%d/%m/%Y}.")
    typer.echo(f"Balance brought forward from {result.label}: {money(result.brought_forward)} (the carry forward "
               "computed from the year's finance lines).")
    typer.echo(f"Carried {result.carried} open action(s) with {result.history_rows} History row(s); "
               f"{result.closed} closed (B) action(s) stay in {result.label}'s workbook.")
    typer.echo("Training, Early Help, Audits and the Audit trail start empty; published figures are cleared.")
