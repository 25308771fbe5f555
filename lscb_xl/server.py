"""``lscb-xl serve``: the HTTP side of the Office.js add-in (Excel on the web, Windows, Mac).

The add-in's buttons post the xlwings client payload (the workbook's values, tables and names)
to ``POST /xlwings/{command}``; the server rebuilds the workbook with the xlwings remote engine,
runs the same ribbon command as desktop Excel and the CLI, and answers with the actions the
client applies. No workbook is stored: what arrives is processed in memory and dropped.

Access: every request must carry ``Authorization: Bearer <token>`` (the token from the
``LSCB_SERVER_TOKEN`` environment variable); clients can be limited to networks in
``LSCB_ALLOWED_CLIENTS`` (comma-separated CIDRs); bodies over ``LSCB_MAX_PAYLOAD_MB`` (default 25)
are refused with 413 before they are parsed.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
import struct
import time
import zlib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import xlwings as xw
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from lscb_xl import __version__, ribbon
from lscb_xl.errors import UnusableWorkbook

#: Commands the web add-in may run; "summary" answers with a one-time download link.
WEB_COMMANDS = ("validate", "refresh", "rag", "summary")
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#: Seconds a summary waits to be downloaded (once) before it is dropped from memory.
DOWNLOAD_TTL = 600
REQUIRED_KEYS = ("client", "version", "book", "names", "sheets")


@dataclass(frozen=True)
class ServerSettings:
    token: str
    max_bytes: int = 25 * 1024 * 1024
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default_factory=tuple)
    public_url: str = "https://localhost:8000"

    @classmethod
    def from_env(cls, public_url: str | None = None) -> ServerSettings:
        token = os.environ.get("LSCB_SERVER_TOKEN", "")
        if len(token) < 16:
            raise UnusableWorkbook("Set LSCB_SERVER_TOKEN to a secret of at least 16 characters before serving.")
        nets = tuple(ipaddress.ip_network(n.strip(), strict=False)
                     for n in os.environ.get("LSCB_ALLOWED_CLIENTS", "").split(",") if n.strip())
        mb = float(os.environ.get("LSCB_MAX_PAYLOAD_MB", "25"))
        return cls(token=token, max_bytes=int(mb * 1024 * 1024), allowed=nets,
                   public_url=public_url or os.environ.get("LSCB_PUBLIC_URL", "https://localhost:8000"))


def _client_allowed(settings: ServerSettings, host: str | None) -> bool:
    if not settings.allowed:
        return True
    try:
        addr = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(addr in net for net in settings.allowed)


def _authorised(settings: ServerSettings, header: str | None) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    given = value if scheme.lower() == "bearer" else header
    return hmac.compare_digest(given.strip().encode(), settings.token.encode())


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"Payload too large: the limit is {limit // (1024 * 1024)} MB.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"Payload too large: the limit is {limit // (1024 * 1024)} MB.")
    return bytes(body)


def _payload(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"The request is not valid JSON ({exc.__class__.__name__}).") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "The request must be a JSON object.")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise HTTPException(422, f"The request is not an xlwings client payload: missing {', '.join(missing)}.")
    return data


class Downloads:
    """Summaries waiting to be fetched: in memory only, each once, for a few minutes.

    The web add-in has no file system, so the Word summary is offered as a link holding a
    random 256-bit token; nothing is written to disk and nothing outlives the server process.
    """

    def __init__(self, ttl: float = DOWNLOAD_TTL) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, str, bytes]] = {}

    def put(self, name: str, data: bytes) -> str:
        self._drop_expired()
        token = secrets.token_urlsafe(32)
        self._items[token] = (time.monotonic() + self.ttl, name, data)
        return token

    def take(self, token: str) -> tuple[str, bytes] | None:
        self._drop_expired()
        item = self._items.pop(token, None)
        return None if item is None else (item[1], item[2])

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for token in [t for t, (expires, _n, _d) in self._items.items() if expires < now]:
            del self._items[token]


def _book(payload: dict[str, Any]) -> xw.Book:
    try:
        return xw.Book(json=payload)
    except Exception as exc:
        raise HTTPException(422, f"The workbook in the request could not be read ({exc.__class__.__name__}).") from None


def run_command(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one ribbon command on the payload's workbook; returns ``{"actions": [...]}``."""
    book = _book(payload)
    try:
        ribbon.COMMANDS[command](book)
    except UnusableWorkbook as exc:
        raise HTTPException(422, str(exc)) from None
    return book.json()


def run_summary(payload: dict[str, Any], downloads: Downloads, base_url: str) -> dict[str, Any]:
    """The Word summary, kept for one download; the answer is an alert with its link."""
    from lscb_xl.summary import ReportError, make_outputs
    from lscb_xl.validation import validate

    book = _book(payload)
    try:
        data, structural = ribbon.read_book(book)
        outputs = make_outputs(data, validate(data, structural))
    except (UnusableWorkbook, ReportError) as exc:
        raise HTTPException(422, str(exc)) from None
    token = downloads.put("summary.docx", outputs.docx)
    book.app.alert(f"{base_url.rstrip('/')}/download/{token}", title="lscb-xl: summary ready")
    return book.json()


def create_app(settings: ServerSettings) -> FastAPI:
    """The FastAPI app; tests and ``lscb-xl serve`` both build it here."""
    app = FastAPI(title="lscb-xl", version=__version__, docs_url=None, redoc_url=None)
    downloads = Downloads()

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        if not _client_allowed(settings, request.client.host if request.client else None):
            return PlainTextResponse("This computer is not allowed to use lscb-xl.", status_code=403)
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post("/xlwings/{command}")
    async def xlwings_command(command: str, request: Request) -> JSONResponse:
        if not _authorised(settings, request.headers.get("authorization")):
            return JSONResponse({"detail": "Sign-in required: missing or wrong token."}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        if command not in WEB_COMMANDS:
            raise HTTPException(404, f"No command {command!r}; the web add-in offers {', '.join(WEB_COMMANDS)}.")
        payload = _payload(await _read_body(request, settings.max_bytes))
        if command == "summary":
            return JSONResponse(run_summary(payload, downloads, settings.public_url))
        return JSONResponse(run_command(command, payload))

    @app.get("/download/{token}")
    async def download(token: str) -> Response:
        item = downloads.take(token)
        if item is None:
            raise HTTPException(404, "This link has been used or has expired; press Summary again.")
        name, data = item
        return Response(data, media_type=DOCX_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    @app.get("/icon-{size}.png")
    async def icon(size: int) -> Response:
        if size not in (16, 32, 64, 80):
            raise HTTPException(404, "No such icon.")
        return Response(square_png(size), media_type="image/png")

    @app.get("/manifest.xml")
    async def manifest() -> Response:
        return Response(render_static("manifest.xml", settings.public_url), media_type="application/xml")

    @app.get("/commands.html")
    async def commands_html() -> Response:
        return Response(render_static("commands.html", settings.public_url), media_type="text/html")

    @app.get("/commands.js")
    async def commands_js() -> Response:
        return Response(render_static("commands.js", settings.public_url), media_type="text/javascript")

    return app


def square_png(size: int, rgb: tuple[int, int, int] = (0x1F, 0x38, 0x64)) -> bytes:
    """A plain navy square: the ribbon icon, made here so the add-in needs no image files."""
    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def render_static(name: str, public_url: str) -> str:
    """An Office add-in file with the server's public HTTPS address filled in."""
    text = resources.files("lscb_xl").joinpath("officejs", name).read_text(encoding="utf-8")
    return text.replace("{{BASE_URL}}", public_url.rstrip("/")).replace("{{VERSION}}", __version__)
