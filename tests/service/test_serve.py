"""``rtbf api`` really serves the gateway over HTTP with uvicorn (a subprocess on the loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = "import typer, service.cli as c; app = typer.Typer(); c.register(app); app()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_command_serves_health_and_authenticated_routes(database, make_headers):
    port = _free_port()
    headers = make_headers("acme", "tickets:read")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, "api", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "rtbf api did not start"
                time.sleep(0.2)
        assert r.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/v1/tickets", headers=headers).json()["items"] == []
        assert httpx.get(f"http://127.0.0.1:{port}/v1/tickets").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
