"""schemathesis against reporting's own OpenAPI schema: no 5xx, and every response (status
code, content type, headers, body) as the schema says, for an admin (sees everything) and
for a liaison scoped to one regency.

Reporting runs as its own process on the real broker and store (its lifespan needs both),
with its own topics and database, seeded with a few classified reports so the list,
export, stats and duplicate endpoints have something to return.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pantau.localstack.testing import free_port
from pantau.shared import testing as shared_events
from pantau.shared.auth import Role, issue_token
from pantau.shared.events import ReportClassified, ReportSubmitted
from pantau.shared.kafka import ensure_topics, make_broker, publish_event
from pantau.shared.regions import regency_key
from pantau.shared.settings import KafkaSettings

pytestmark = pytest.mark.integration

# Hard checks: no 5xx, and every response whose status and content type the schema
# documents has a body and headers as documented.
CHECKS = [not_a_server_error, response_schema_conformance, response_headers_conformance]
# Every status code and content type the service answers is documented.
DOCUMENTED = [status_code_conformance, content_type_conformance]
MAX_EXAMPLES = int(os.environ.get("PANTAU_SCHEMATHESIS_EXAMPLES", "15"))
READY_SECONDS = 60.0
SEED_REGIONS = ("32.01.01.1002", "32.01.02", "32.04.05", "51.71")


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"reporting exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling interval of a readiness probe, not a race cover
    raise AssertionError(f"reporting not ready in {READY_SECONDS}s:\n{log.read_text()[-3000:]}")


async def _seed(env: dict[str, str]) -> list[str]:
    settings_ = KafkaSettings(
        kafka_bootstrap=env["PANTAU_KAFKA_BOOTSTRAP"], topic_prefix=env["PANTAU_TOPIC_PREFIX"]
    )
    topics = settings_.topics
    await ensure_topics(settings_.kafka_bootstrap, topics.all_with_partitions())
    broker = make_broker(settings_, client_id="schemathesis-seed")
    await broker.start()
    ids: list[str] = []
    try:
        for region in SEED_REGIONS:
            submitted: ReportSubmitted = shared_events.submitted(region=region)
            classified: ReportClassified = shared_events.classified(submitted)
            await publish_event(broker, submitted, topic=topics.submitted, key=submitted.subject)
            await publish_event(
                broker, classified, topic=topics.classified, key=regency_key(region)
            )
            ids.append(submitted.subject)
    finally:
        await broker.stop()
    return ids


@pytest.fixture(scope="module")
def reporting(
    pantau_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """A reporting process on its own topics and database; yields (base URL, env)."""
    import asyncio

    name = uuid4().hex[:6]
    env = {
        **os.environ,
        **pantau_env,
        "PANTAU_TOPIC_PREFIX": f"{pantau_env['PANTAU_TOPIC_PREFIX']}st{name}.",
        "PANTAU_CONSUMER_GROUP_PREFIX": f"{pantau_env['PANTAU_CONSUMER_GROUP_PREFIX']}st{name}-",
        "PANTAU_MONGO_DB_SUFFIX": f"{pantau_env['PANTAU_MONGO_DB_SUFFIX']}_st{name}",
        "PANTAU_HTTP_PORT": str(free_port()),
    }
    url = f"http://127.0.0.1:{env['PANTAU_HTTP_PORT']}"
    log = tmp_path_factory.mktemp("reporting-schemathesis") / "reporting.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pantau.reporting"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(url, process, log)
        asyncio.run(_seed(env))
        yield url, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _token(env: dict[str, str], role: Role, **claims: str) -> str:
    return issue_token(
        secret=env["PANTAU_AUTH_SECRET"], issuer="pantau", role=role, subject="st", **claims
    )


def _failures(reporting: tuple[str, dict[str, str]], checks: list[Any]) -> list[str]:
    """Run every operation of the live schema with ``checks``; one line per failing one."""
    # The schema comes from the running process, so the operations are walked here rather
    # than parametrized at collection (schemathesis' lazy fixture loader does not work
    # with pytest 9: it reads the removed ``Function._nodeid``).
    url, env = reporting
    tokens = (
        _token(env, Role.ADMIN),
        _token(env, Role.LIAISON, region="32.01", institution="KPU"),
    )
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            for token in tokens:
                case.call_and_validate(
                    base_url=url, headers={"Authorization": f"Bearer {token}"}, checks=checks
                )

        try:
            conforms()
        except (Exception, BaseExceptionGroup) as exc:  # check all, report every failure
            failures.append(f"{operation.label}: {exc}")
    return failures


def test_no_server_error_and_documented_responses_match_the_schema(
    reporting: tuple[str, dict[str, str]],
) -> None:
    failures = _failures(reporting, CHECKS)
    assert not failures, "\n\n".join(failures)


def test_every_status_code_and_content_type_is_documented(
    reporting: tuple[str, dict[str, str]],
) -> None:
    failures = _failures(reporting, DOCUMENTED)
    assert not failures, "\n\n".join(failures)
