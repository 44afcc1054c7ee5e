"""pytest plugin: session-scoped real Kafka and MongoDB-wire server, isolated per run.

Order of preference: ``PANTAU_KAFKA_BOOTSTRAP``/``PANTAU_MONGO_URL`` when set;
(testcontainers when a Docker engine is reachable, and the local launcher otherwise,
are wired in by the launcher module).
"""

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pantau.localstack.smtp_sink import SmtpSink, start_sink

T = TypeVar("T")


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    mongo_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def _infra_from_env() -> Infra | None:
    kafka, mongo = os.environ.get("PANTAU_KAFKA_BOOTSTRAP"), os.environ.get("PANTAU_MONGO_URL")
    if kafka and mongo:
        return Infra(kafka_bootstrap=kafka, mongo_url=mongo)
    return None


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    found = _infra_from_env()
    if found is None:
        pytest.fail("set PANTAU_KAFKA_BOOTSTRAP and PANTAU_MONGO_URL (launcher fallback pending)")
    yield found


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def pantau_env(infra: Infra, run_id: str) -> dict[str, str]:
    """Environment for a service under test: real servers, this run's own topics,
    consumer groups and databases, and throwaway secrets."""
    from pantau.shared.identity import generate_key

    return {
        "PANTAU_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "PANTAU_MONGO_URL": infra.mongo_url,
        "PANTAU_TOPIC_PREFIX": f"test-{run_id}.",
        "PANTAU_CONSUMER_GROUP_PREFIX": f"test-{run_id}-",
        "PANTAU_MONGO_DB_SUFFIX": f"_test_{run_id}",
        "PANTAU_AUTH_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "PANTAU_IDENTITY_KEYS": f"test:{generate_key()}",
        "PANTAU_ENV_FILE": "/nonexistent",
    }


@pytest.fixture(scope="session")
def smtp_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    sink = start_sink(Path(tmp_path_factory.mktemp("mail")), port=free_port())
    yield sink
    sink.stop()
