"""The Office.js add-in's server over real HTTP on loopback."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
import uvicorn
from excel_client import client_actions

from lscb_xl import schema
from lscb_xl.builder import build_workbook
from lscb_xl.model import BoardData
from lscb_xl.payload import payload_from_file
from lscb_xl.server import ServerSettings, create_app

TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(settings: ServerSettings) -> Iterator[str]:
    """A real uvicorn server on a free loopback port for the duration of the block."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    settings = ServerSettings(token=TOKEN, max_bytes=2 * 1024 * 1024, public_url="https://lscb.example.invalid")
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = build_workbook(tmp_path_factory.mktemp("srv") / "master.xlsx", BoardData.from_seed())
    return payload_from_file(path)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("command", ["validate", "refresh", "rag"])
def test_good_payload_gets_actions(base_url: str, payload: dict, command: str) -> None:
    res = httpx.post(f"{base_url}/xlwings/{command}", json=payload, headers=auth(), timeout=60)
    assert res.status_code == 200, res.text
    actions = res.json()["actions"]
    assert {a["func"] for a in actions} <= client_actions()
    if command != "rag":
        block = next(a for a in actions if a["sheet_position"] == schema.SHEETS.index(schema.VALIDATION))
        assert block["values"][0][0] == "error"


def test_unauthenticated_gets_401(base_url: str, payload: dict) -> None:
    assert httpx.post(f"{base_url}/xlwings/validate", json=payload, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.post(f"{base_url}/xlwings/validate", json=payload, headers=wrong, timeout=30).status_code == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (json.dumps({"client": "Office.js"}).encode(), 422),
    ],
)
def test_bad_payloads_get_clear_4xx(base_url: str, body: bytes, status: int) -> None:
    headers = {**auth(), "Content-Type": "application/json"}
    res = httpx.post(f"{base_url}/xlwings/validate", content=body, headers=headers)
    assert res.status_code == status
    assert res.json()["detail"]


def test_not_our_workbook_gets_422(base_url: str, payload: dict) -> None:
    other = json.loads(json.dumps(payload))
    other["sheets"] = [s for s in other["sheets"] if s["name"] != schema.TRAINING.sheet]
    res = httpx.post(f"{base_url}/xlwings/refresh", json=other, headers=auth(), timeout=30)
    assert res.status_code == 422
    assert "Training" in res.json()["detail"]


def test_oversized_payload_gets_413(base_url: str) -> None:
    big = b'{"pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    headers = {**auth(), "Content-Type": "application/json"}
    res = httpx.post(f"{base_url}/xlwings/validate", content=big, headers=headers)
    assert res.status_code == 413


def test_unknown_command_404(base_url: str, payload: dict) -> None:
    assert httpx.post(f"{base_url}/xlwings/delete", json=payload, headers=auth()).status_code == 404


def test_manifest_and_function_file(base_url: str) -> None:
    res = httpx.get(f"{base_url}/manifest.xml")
    assert res.status_code == 200
    root = ElementTree.fromstring(res.content)
    ns = {"ov": "http://schemas.microsoft.com/office/taskpaneappversionoverrides"}
    functions = {f.text for f in root.iter(f"{{{ns['ov']}}}FunctionName")}
    assert functions == {"validate", "refresh", "rag", "summary"}
    assert "https://lscb.example.invalid/commands.html" in res.text and "{{" not in res.text
    js = httpx.get(f"{base_url}/commands.js").text
    for name in functions:
        assert f'Office.actions.associate("{name}"' in js
    assert httpx.get(f"{base_url}/icon-32.png").content.startswith(b"\x89PNG")


def test_function_file_is_valid_javascript(base_url: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    path = tmp_path / "commands.js"
    path.write_text(httpx.get(f"{base_url}/commands.js").text)
    subprocess.run([node, "--check", str(path)], check=True)


def test_allow_list_refuses_other_clients(payload: dict) -> None:
    outside = ServerSettings(token=TOKEN, allowed=(ipaddress.ip_network("10.9.8.0/24"),))
    with serving(outside) as url:  # we call from 127.0.0.1, which is not in the list
        assert httpx.get(f"{url}/health").status_code == 403
        assert httpx.post(f"{url}/xlwings/validate", json=payload, headers=auth()).status_code == 403
    inside = ServerSettings(token=TOKEN, allowed=(ipaddress.ip_network("127.0.0.0/8"),))
    with serving(inside) as url:
        assert httpx.get(f"{url}/health").status_code == 200


def test_summary_is_offered_as_a_one_time_download(base_url: str, payload: dict) -> None:
    res = httpx.post(f"{base_url}/xlwings/summary", json=payload, headers=auth(), timeout=120)
    assert res.status_code == 200, res.text
    alert = next(a for a in res.json()["actions"] if a["func"] == "alert")
    link = alert["args"][0]
    assert link.startswith("https://lscb.example.invalid/download/")
    path = link.removeprefix("https://lscb.example.invalid")
    first = httpx.get(f"{base_url}{path}")
    assert first.status_code == 200 and first.content[:2] == b"PK"
    assert "attachment" in first.headers["content-disposition"]
    assert httpx.get(f"{base_url}{path}").status_code == 404  # once only
