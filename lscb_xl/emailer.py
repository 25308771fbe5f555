"""Email the summary: build the MIME message, write an Outlook draft, or send it over SMTP.

The message is HTML with a plain-text alternative and the Word summary attached. A draft
(``.eml`` with ``X-Unsent: 1``) opens in Outlook ready to edit and send, which suits boards whose
staff may not send mail from scripts. Sending requires STARTTLS unless it is explicitly turned
off, because the summary and the SMTP password must not cross the network in clear.

SMTP settings never come from the workbook (anyone who can edit it could redirect the mail).
They come from environment variables::

    LSCB_SMTP_HOST       server name (required to send)
    LSCB_SMTP_PORT       port, default 587 (submission with STARTTLS)
    LSCB_SMTP_USER       user name; when set, LSCB_SMTP_PASSWORD is required too
    LSCB_SMTP_PASSWORD   password
    LSCB_SMTP_STARTTLS   on (default) or off: off only for a trusted relay on the same host or network
    LSCB_SMTP_CAFILE     PEM file of certificate authorities to trust (an in-house CA, or a test server)
    LSCB_SMTP_TIMEOUT    seconds to wait for the server, default 30

or from a TOML file passed as ``--smtp-config FILE``, whose ``[smtp]`` table uses the same names in
lower case without the prefix::

    [smtp]
    host = "smtp.example.org"
    port = 587
    user = "lscb@example.org"
    password = "..."
    starttls = true
    cafile = "/etc/ssl/board-ca.pem"

A value in the file wins over the same value in the environment, because the file was named on
the command line and the environment may be left over from something else.
"""

from __future__ import annotations

import copy
import smtplib
import socket
import ssl
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from lscb_xl.summary import ReportError, file_stem

DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
XLSM_TYPE = ("application", "vnd.ms-excel.sheet.macroEnabled.12")
SETTING_NAMES = ("host", "port", "user", "password", "starttls", "cafile", "timeout")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class EmailError(ReportError):
    """The message could not be built or sent; one line that says why and what to do."""


# --------------------------------------------------------------------------------------------
# Addresses and the message
# --------------------------------------------------------------------------------------------


def parse_addresses(values: Sequence[str], what: str) -> list[str]:
    """Addresses from repeated or comma-separated options; refuses anything that is not one."""
    out = []
    for value in values:
        if "\r" in value or "\n" in value:
            raise EmailError(f"{what} address {value!r} contains a line break.")
        for name, addr in getaddresses([value]):
            if not addr:
                continue
            local, at, domain = addr.rpartition("@")
            if not at or not local or "." not in domain:
                raise EmailError(f"{what} address {addr!r} is not an email address.")
            out.append(f"{name} <{addr}>" if name else addr)
    return out


def build_message(context: Mapping[str, Any], html: str, text: str, docx_bytes: bytes, to: Sequence[str],
                  cc: Sequence[str], sender: str, subject: str) -> EmailMessage:
    """multipart/mixed: [multipart/alternative: text/plain, text/html], the .docx summary."""
    recipients = parse_addresses(to, "To")
    if not recipients:
        raise EmailError("no recipient: give at least one --to address.")
    senders = parse_addresses([sender], "From")
    if len(senders) != 1:
        raise EmailError(f"From must be one address, not {sender!r}.")
    msg = EmailMessage()
    msg["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    msg["From"] = senders[0]
    msg["To"] = ", ".join(recipients)
    copies = parse_addresses(cc, "Cc")
    if copies:
        msg["Cc"] = ", ".join(copies)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=senders[0].rpartition("@")[2].rstrip(">"))
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    msg.add_attachment(docx_bytes, maintype=DOCX_TYPE[0], subtype=DOCX_TYPE[1],
                       filename=f"{file_stem(context)}.docx")
    msg["Content-Language"] = "en-GB"  # after the parts: adding them moves Content-* headers into the first part
    return msg


def attach_file(msg: EmailMessage, data: bytes, filename: str) -> None:
    """Attach a workbook (only after the leak check passed: see lscb_xl.leakcheck)."""
    maintype, subtype = XLSM_TYPE if filename.lower().endswith(".xlsm") else XLSX_TYPE
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)


def write_eml(msg: EmailMessage, path: Path) -> Path:
    """An Outlook draft: ``X-Unsent: 1`` makes Outlook open it editable, with a Send button."""
    draft = copy.deepcopy(msg)
    del draft["X-Unsent"]
    draft["X-Unsent"] = "1"
    path = Path(path)
    path.write_bytes(draft.as_bytes(policy=draft.policy.clone(linesep="\r\n")))
    return path


def describe(msg: EmailMessage) -> list[str]:
    """What would be sent, for --dry-run: headers, each part's type and size, attachments."""
    lines = [f"{h}: {msg[h]}" for h in ("From", "To", "Cc", "Subject") if msg[h]]
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        name = part.get_filename()
        kind = f"attachment {name}" if name else "body"
        lines.append(f"  {kind}: {part.get_content_type()}, {len(payload):,} bytes")
    return lines


# --------------------------------------------------------------------------------------------
# SMTP settings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    cafile: str | None = None
    timeout: float = 30.0

    def describe(self) -> str:
        """Where and how mail would go, without the password."""
        tls = "STARTTLS required" if self.starttls else "STARTTLS OFF (plain text)"
        who = f", as {self.user}" if self.user else ", without logging in"
        return f"{self.host}:{self.port} ({tls}{who})"


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise EmailError(f"{name} must be on or off, not {value!r}.")


def _number(value: Any, name: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise EmailError(f"{name} must be a number, not {value!r}.") from None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("smtp", {})
    except FileNotFoundError:
        raise EmailError(f"SMTP config {path} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EmailError(f"SMTP config {path} is not valid TOML: {exc}.") from None
    if not isinstance(table, dict):
        raise EmailError(f"SMTP config {path}: [smtp] must be a table.")
    unknown = sorted(set(table) - set(SETTING_NAMES))
    if unknown:
        raise EmailError(f"SMTP config {path}: unknown setting(s) {', '.join(unknown)}; "
                         f"use {', '.join(SETTING_NAMES)}.")
    return table


def load_settings(env: Mapping[str, str], config: Path | None = None) -> SmtpSettings:
    """Settings from LSCB_SMTP_* variables, overridden by the [smtp] table of ``config``."""
    raw: dict[str, Any] = {k: env[f"LSCB_SMTP_{k.upper()}"] for k in SETTING_NAMES
                           if env.get(f"LSCB_SMTP_{k.upper()}") not in (None, "")}
    if config is not None:
        raw.update(_read_config(config))
    host = str(raw.get("host") or "").strip()
    if not host:
        raise EmailError("no SMTP server: set LSCB_SMTP_HOST, or host in the [smtp] table of --smtp-config.")
    user = str(raw["user"]) if raw.get("user") else None
    password = str(raw["password"]) if raw.get("password") else None
    if bool(user) != bool(password):
        raise EmailError("give both the SMTP user and password (LSCB_SMTP_USER, LSCB_SMTP_PASSWORD), or neither.")
    return SmtpSettings(
        host=host,
        port=_number(raw.get("port", 587), "SMTP port", int),
        user=user,
        password=password,
        starttls=_flag(raw.get("starttls", True), "LSCB_SMTP_STARTTLS"),
        cafile=str(raw["cafile"]) if raw.get("cafile") else None,
        timeout=_number(raw.get("timeout", 30.0), "SMTP timeout", float),
    )


# --------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------


def _secure(smtp: smtplib.SMTP, settings: SmtpSettings) -> None:
    """STARTTLS, verified against the system CAs (or LSCB_SMTP_CAFILE), or refuse."""
    smtp.ehlo()
    if not settings.starttls:
        return
    if not smtp.has_extn("starttls"):
        raise EmailError(f"the SMTP server {settings.host}:{settings.port} does not offer STARTTLS, so the "
                         "message and password would travel unencrypted; refused. Use a server that offers it, "
                         "or set LSCB_SMTP_STARTTLS=off for a trusted relay.")
    try:
        context = ssl.create_default_context(cafile=settings.cafile)
    except (OSError, ssl.SSLError) as exc:
        raise EmailError(f"cannot load the CA file {settings.cafile}: {exc}.") from None
    smtp.starttls(context=context)
    smtp.ehlo()


def _deliver(msg: EmailMessage, settings: SmtpSettings) -> dict[str, Any]:
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        _secure(smtp, settings)
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        return smtp.send_message(msg)


def send(msg: EmailMessage, settings: SmtpSettings) -> list[str]:
    """Send ``msg``; returns recipients the server refused (others were accepted). Raises EmailError."""
    where = f"{settings.host}:{settings.port}"
    try:
        refused = _deliver(msg, settings)
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailError(f"the SMTP server {where} rejected the user name or password "
                         f"({exc.smtp_code} {_said(exc.smtp_error)}).") from None
    except smtplib.SMTPNotSupportedError:
        raise EmailError(f"the SMTP server {where} does not accept a login here; check the port and "
                         "whether it needs STARTTLS first.") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise EmailError(f"the SMTP server {where} refused every recipient: {', '.join(exc.recipients)}.") from None
    except smtplib.SMTPSenderRefused as exc:
        raise EmailError(f"the SMTP server {where} refused the sender {exc.sender} "
                         f"({exc.smtp_code} {_said(exc.smtp_error)}).") from None
    except smtplib.SMTPResponseException as exc:
        raise EmailError(f"the SMTP server {where} answered {exc.smtp_code} {_said(exc.smtp_error)}.") from None
    except ssl.SSLCertVerificationError as exc:
        raise EmailError(f"the SMTP server {where} has a certificate that cannot be trusted ({exc.verify_message}); "
                         "set LSCB_SMTP_CAFILE to your organisation's CA file if it uses its own.") from None
    except ssl.SSLError as exc:
        raise EmailError(f"the secure connection to {where} failed: {exc.reason or exc}.") from None
    except smtplib.SMTPServerDisconnected as exc:
        raise EmailError(f"the SMTP server {where} closed the connection: {exc or 'no reason given'}.") from None
    except socket.gaierror:
        raise EmailError(f"cannot find the SMTP server {settings.host!r}: check LSCB_SMTP_HOST.") from None
    except (TimeoutError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise EmailError(f"cannot reach the SMTP server {where}: {reason}.") from None
    return sorted(refused)


def _said(reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())
