"""The four services as real processes on the real broker and store."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pantau.localstack.smtp_sink import SmtpSink
from pantau.localstack.testing import free_port

SERVICES = ("intake", "classifier", "notifier", "reporting")
READY_TIMEOUT_SECONDS = 60.0


@dataclass
class RunningService:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _wait_ready(service: RunningService) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"{service.name} exited early:\n{service.log_tail()}")
        try:
            if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling interval of a readiness probe, not a race cover
    raise AssertionError(
        f"{service.name} not ready in {READY_TIMEOUT_SECONDS}s:\n{service.log_tail()}"
    )


@pytest.fixture(scope="session")
def stack(
    pantau_env: dict[str, str], smtp_sink: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RunningService]]:
    logs = tmp_path_factory.mktemp("service-logs")
    ports = {name: free_port() for name in SERVICES}
    base_env = {
        **os.environ,
        **pantau_env,
        # Own topics, consumer groups and databases: other tests of this run use the
        # run's prefixes with in-process consumers, and sharing a group with them would
        # make these processes wait on rebalances.
        "PANTAU_TOPIC_PREFIX": f"{pantau_env['PANTAU_TOPIC_PREFIX']}e2e.",
        "PANTAU_CONSUMER_GROUP_PREFIX": f"{pantau_env['PANTAU_CONSUMER_GROUP_PREFIX']}e2e-",
        "PANTAU_MONGO_DB_SUFFIX": f"{pantau_env['PANTAU_MONGO_DB_SUFFIX']}_e2e",
        "PANTAU_SMTP_HOST": smtp_sink.host,
        "PANTAU_SMTP_PORT": str(smtp_sink.port),
        "PANTAU_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['reporting']}",
        "PANTAU_ALERT_EMAIL_TO": "posko@pantau.local",
    }
    running: dict[str, RunningService] = {}
    try:
        for name in SERVICES:
            log_path = logs / f"{name}.log"
            process = subprocess.Popen(
                [sys.executable, "-m", f"pantau.{name}"],
                env={**base_env, "PANTAU_HTTP_PORT": str(ports[name])},
                stdout=log_path.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            running[name] = RunningService(
                name, f"http://127.0.0.1:{ports[name]}", process, log_path
            )
        for service in running.values():
            _wait_ready(service)
        yield running
    finally:
        for service in running.values():
            if service.process.poll() is None:
                os.killpg(service.process.pid, signal.SIGTERM)
        for service in running.values():
            try:
                service.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()
