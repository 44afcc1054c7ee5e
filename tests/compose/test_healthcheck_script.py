"""deploy/docker/healthcheck.py, the images' health probe, run as Docker runs it."""

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pantau.localstack.testing import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "healthcheck.py"


class _Readyz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/readyz" else 404
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def readyz_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Readyz]]]:
    handler = type("Handler", (_Readyz,), {})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def run_probe(*args: str, env: dict[str, str] | None = None) -> int:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, check=False, timeout=30
    ).returncode


def test_ready_service_is_healthy(readyz_server: tuple[ThreadingHTTPServer, type[_Readyz]]) -> None:
    server, _ = readyz_server
    assert run_probe(f"http://127.0.0.1:{server.server_port}/readyz") == 0


def test_not_ready_service_is_unhealthy(
    readyz_server: tuple[ThreadingHTTPServer, type[_Readyz]],
) -> None:
    server, handler = readyz_server
    handler.status = 503
    assert run_probe(f"http://127.0.0.1:{server.server_port}/readyz") == 1


def test_without_an_argument_it_probes_readyz_on_pantau_http_port(
    readyz_server: tuple[ThreadingHTTPServer, type[_Readyz]],
) -> None:
    server, handler = readyz_server
    env = {"PANTAU_HTTP_PORT": str(server.server_port)}
    assert run_probe(env=env) == 0
    handler.status = 500
    assert run_probe(env=env) == 1


def test_nothing_listening_is_unhealthy() -> None:
    assert run_probe(f"http://127.0.0.1:{free_port()}/readyz") == 1


def test_refuses_to_probe_anything_but_loopback() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "http://example.org/readyz"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode != 0
    assert "not a loopback" in result.stderr
