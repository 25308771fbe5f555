"""Emailing the summary: the MIME message, the Outlook draft, and real SMTP servers on loopback.

aiosmtpd serves on 127.0.0.1 with and without STARTTLS; the certificate is self-signed, made in
the test, and trusted through LSCB_SMTP_CAFILE. ``lscb-xl email --send`` runs through the CLI.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from typer.testing import CliRunner

from lscb_xl.builder import build_workbook
from lscb_xl.cli import app
from lscb_xl.emailer import EmailError, SmtpSettings, build_message, load_settings, write_eml
from lscb_xl.model import BoardData
from lscb_xl.report_docx import render_docx
from lscb_xl.report_html import render_html, render_text
from lscb_xl.summary import build_context
from lscb_xl.validation import validate

USER, PASSWORD = "clerk", "correct horse"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
runner = CliRunner()


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("wb") / "master.xlsx", BoardData.from_seed())


@pytest.fixture(scope="module")
def message() -> EmailMessage:
    data = BoardData.from_seed()
    context = build_context(data, validate(data))
    return build_message(context, render_html(context), render_text(context), render_docx(context),
                         ["Chair <chair@example.org>", "member@example.org"], ["clerk@example.org"],
                         "lscb@example.org", context["title"])


# --------------------------------------------------------------------------------------------
# A self-signed certificate and loopback SMTP servers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cert, key) PEM files for 127.0.0.1 / localhost, made with cryptography (or openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        import subprocess

        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    public = private.public_key()
    built = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


class Inbox:
    """Records what the server accepted, and whether the session was encrypted and logged in."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.sessions: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        self.sessions.append({"tls": session.ssl is not None, "authenticated": bool(session.authenticated)})
        return "250 Message accepted for delivery"

    def message(self) -> EmailMessage:
        assert len(self.envelopes) == 1
        content = self.envelopes[0].original_content or self.envelopes[0].content
        return email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[return-value]


def authenticator(server: Any, session: Session, envelope: Envelope, mechanism: str, auth: Any) -> AuthResult:
    ok = isinstance(auth, LoginPassword) and auth.login == USER.encode() and auth.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    """STARTTLS required, login required (only after TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            auth_required=True, authenticator=authenticator)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    """No STARTTLS offered, no login: a relay on a trusted network."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def smtp_env(port: int, **extra: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {f"LSCB_SMTP_{k}": None for k in
                                  ("HOST", "PORT", "USER", "PASSWORD", "STARTTLS", "CAFILE", "TIMEOUT")}
    env.update({"LSCB_SMTP_HOST": "127.0.0.1", "LSCB_SMTP_PORT": str(port), "LSCB_SMTP_TIMEOUT": "10"})
    env.update({f"LSCB_SMTP_{k}": v for k, v in extra.items()})
    return env


def send_args(workbook: Path, *more: str) -> list[str]:
    return ["email", str(workbook), "--to", "Chair <chair@example.org>, member@example.org",
            "--cc", "clerk@example.org", "--from", "LSCB <lscb@example.org>", *more]


def assert_one_line_failure(result: Any, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.startswith("lscb-xl: ") and len(result.stderr.strip().splitlines()) == 1
    assert text in result.stderr, result.stderr


def assert_summary_message(msg: EmailMessage) -> None:
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = msg.get_payload()  # type: ignore[misc]
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html = alternative.get_payload()
    assert plain.get_content_type() == "text/plain" and "ACTION PLAN" in plain.get_content()
    assert html.get_content_type() == "text/html" and '<html lang="en-GB">' in html.get_content()
    assert attachment.get_content_type() == DOCX
    assert attachment.get_filename() == "lscb-summary-2015-02-23.docx"
    assert attachment.get_content().startswith(b"PK")
    assert msg["Content-Language"] == "en-GB"


# --------------------------------------------------------------------------------------------
# The message and the draft
# --------------------------------------------------------------------------------------------


def test_message_parts_and_headers(message: EmailMessage) -> None:
    assert_summary_message(message)
    assert message["To"] == "Chair <chair@example.org>, member@example.org"
    assert message["Cc"] == "clerk@example.org"
    assert message["Subject"] == "Thurrock Local Safeguarding Children Board: summary as at 23 February 2015"
    assert message["Message-ID"].endswith("@example.org>")
    assert "X-Unsent" not in message


def test_draft_opens_unsent_in_outlook(message: EmailMessage, tmp_path: Path) -> None:
    path = write_eml(message, tmp_path / "draft.eml")
    raw = path.read_bytes()
    assert b"\r\nX-Unsent: 1\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["X-Unsent"] == "1"
    assert_summary_message(parsed)  # type: ignore[arg-type]
    assert "X-Unsent" not in message  # the message itself is untouched


@pytest.mark.parametrize("bad", ["not-an-address", "a@b", "evil@example.org\r\nBcc: x@example.org"])
def test_bad_addresses_are_refused(message: EmailMessage, bad: str) -> None:
    with pytest.raises(EmailError):
        build_message({"as_at_iso": ""}, "<p>x</p>", "x", b"PK", [bad], [], "lscb@example.org", "s")


def test_settings_from_env_and_toml(tmp_path: Path) -> None:
    env = {"LSCB_SMTP_HOST": "env.example.org", "LSCB_SMTP_USER": "u", "LSCB_SMTP_PASSWORD": "s3cret-pw"}
    assert load_settings(env) == SmtpSettings(host="env.example.org", user="u", password="s3cret-pw")
    config = tmp_path / "smtp.toml"
    config.write_text('[smtp]\nhost = "file.example.org"\nport = 2525\nstarttls = false\n', encoding="utf-8")
    settings = load_settings(env, config)
    assert (settings.host, settings.port, settings.starttls, settings.user) == ("file.example.org", 2525, False, "u")
    assert "s3cret" not in settings.describe() and "STARTTLS OFF" in settings.describe()
    with pytest.raises(EmailError, match="LSCB_SMTP_HOST"):
        load_settings({})
    with pytest.raises(EmailError, match="on or off"):
        load_settings({"LSCB_SMTP_HOST": "h", "LSCB_SMTP_STARTTLS": "maybe"})
    with pytest.raises(EmailError, match="both"):
        load_settings({"LSCB_SMTP_HOST": "h", "LSCB_SMTP_USER": "u"})
    config.write_text("[smtp\n", encoding="utf-8")
    with pytest.raises(EmailError, match="not valid TOML"):
        load_settings(env, config)


# --------------------------------------------------------------------------------------------
# Through the command line
# --------------------------------------------------------------------------------------------


def test_cli_writes_draft(workbook: Path, tmp_path: Path) -> None:
    draft = tmp_path / "summary.eml"
    result = runner.invoke(app, send_args(workbook, "--eml", str(draft)), env=smtp_env(1))
    assert result.exit_code == 0, result.output
    parsed = email.message_from_bytes(draft.read_bytes(), policy=email.policy.default)
    assert parsed["X-Unsent"] == "1" and parsed["From"] == "LSCB <lscb@example.org>"
    assert_summary_message(parsed)  # type: ignore[arg-type]


def test_cli_dry_run_sends_and_writes_nothing(workbook: Path, tmp_path: Path,
                                              plain_server: tuple[Inbox, int]) -> None:
    inbox, port = plain_server
    draft = tmp_path / "summary.eml"
    result = runner.invoke(app, send_args(workbook, "--send", "--dry-run", "--eml", str(draft)), env=smtp_env(port))
    assert result.exit_code == 0, result.output
    assert "attachment lscb-summary-2015-02-23.docx" in result.stdout
    assert "text/html" in result.stdout and "text/plain" in result.stdout
    assert f"127.0.0.1:{port} (STARTTLS required" in result.stdout
    assert not draft.exists() and inbox.envelopes == []


def test_cli_needs_something_to_do(workbook: Path) -> None:
    assert_one_line_failure(runner.invoke(app, send_args(workbook)), "--eml FILE")


def test_send_with_starttls_and_login(workbook: Path, certificate: tuple[Path, Path],
                                      tls_server: tuple[Inbox, int]) -> None:
    inbox, port = tls_server
    env = smtp_env(port, USER=USER, PASSWORD=PASSWORD, CAFILE=str(certificate[0]))
    result = runner.invoke(app, send_args(workbook, "--send"), env=env)
    assert result.exit_code == 0, result.output
    assert f"via 127.0.0.1:{port} (STARTTLS required, as {USER})" in result.stdout
    assert inbox.sessions == [{"tls": True, "authenticated": True}]
    envelope = inbox.envelopes[0]
    assert envelope.mail_from == "lscb@example.org"
    assert sorted(envelope.rcpt_tos) == ["chair@example.org", "clerk@example.org", "member@example.org"]
    msg = inbox.message()
    assert_summary_message(msg)
    assert msg["Cc"] == "clerk@example.org" and "Bcc" not in msg and "X-Unsent" not in msg


def test_send_through_relay_with_starttls_explicitly_off(workbook: Path, tmp_path: Path,
                                                         plain_server: tuple[Inbox, int]) -> None:
    inbox, port = plain_server
    config = tmp_path / "smtp.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\n', encoding="utf-8")
    result = runner.invoke(app, send_args(workbook, "--send", "--smtp-config", str(config)), env=smtp_env(1))
    assert result.exit_code == 0, result.output
    assert inbox.sessions == [{"tls": False, "authenticated": False}]
    assert_summary_message(inbox.message())


def test_send_refused_when_server_lacks_starttls(workbook: Path, plain_server: tuple[Inbox, int]) -> None:
    inbox, port = plain_server
    result = runner.invoke(app, send_args(workbook, "--send"), env=smtp_env(port))
    assert_one_line_failure(result, "does not offer STARTTLS")
    assert inbox.envelopes == []


def test_wrong_password(workbook: Path, certificate: tuple[Path, Path], tls_server: tuple[Inbox, int]) -> None:
    inbox, port = tls_server
    env = smtp_env(port, USER=USER, PASSWORD="wrong", CAFILE=str(certificate[0]))
    assert_one_line_failure(runner.invoke(app, send_args(workbook, "--send"), env=env),
                            "rejected the user name or password")
    assert inbox.envelopes == []


def test_untrusted_certificate(workbook: Path, tls_server: tuple[Inbox, int]) -> None:
    inbox, port = tls_server
    env = smtp_env(port, USER=USER, PASSWORD=PASSWORD)
    assert_one_line_failure(runner.invoke(app, send_args(workbook, "--send"), env=env), "cannot be trusted")
    assert inbox.envelopes == []


def test_unreachable_host(workbook: Path) -> None:
    result = runner.invoke(app, send_args(workbook, "--send"), env=smtp_env(free_port()))
    assert_one_line_failure(result, "cannot reach the SMTP server 127.0.0.1:")


def test_missing_smtp_settings(workbook: Path) -> None:
    env = smtp_env(25)
    env["LSCB_SMTP_HOST"] = None
    assert_one_line_failure(runner.invoke(app, send_args(workbook, "--send"), env=env), "LSCB_SMTP_HOST")
