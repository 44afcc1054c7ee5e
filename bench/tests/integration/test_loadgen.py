"""The generator processes against a real HTTP server (the stand-in API, in its own process)."""

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from pantau.bench.calibrate import StubServer, calibrate
from pantau.bench.loadgen import launch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def test_generators_send_every_report_once_on_schedule_and_poll_a_sample(stub: StubServer) -> None:
    generators = launch(
        workers=2,
        count=120,
        rate=200,
        seed=5,
        intake_url=stub.url,
        monitor_tokens=("t0", "t1", "t2", "t3"),
        concurrency=8,
        reporting_url=stub.url,
        operator_token="op",
        poll_every=10,
    )
    generators.wait_ready()
    generators.start()
    results = generators.collect(timeout=60)

    assert [r.worker for r in results] == [0, 1]
    assert generators.totals() == (120, 120)
    submissions = [s for r in results for s in r.submissions]
    assert len(submissions) == 120
    assert {s.status for s in submissions} == {202}
    assert len({s.client_report_id for s in submissions}) == 120
    assert len({s.report_id for s in submissions}) == 120
    polled = [s for s in submissions if s.read_model_at is not None]
    assert len(polled) == 12  # every 10th answer of each worker: 6 + 6
    assert all(s.read_model_at > s.sent_at for s in polled)
    # 120 requests at 200/s take about 0.6 s on the common schedule.
    first, last = min(s.sent_at for s in submissions), max(s.sent_at for s in submissions)
    assert 0.5 < last - first < 5


def test_errors_are_recorded_not_raised() -> None:
    with StubServer() as server:
        url = server.url
    generators = launch(
        workers=1,
        count=5,
        rate=50,
        seed=1,
        intake_url=url,  # the server is gone: every request fails to connect
        monitor_tokens=("t",),
        request_timeout=2,
    )
    generators.wait_ready()
    generators.start()
    (result,) = generators.collect(timeout=60)
    assert [s.status for s in result.submissions] == [0] * 5
    assert all(s.error and "Connect" in s.error for s in result.submissions)


def test_calibration_reports_the_achieved_rate(stub: StubServer) -> None:
    result = calibrate(url=stub.url, workers=1, count=200, target_rate=100_000, concurrency=16)
    assert (result.requests, result.errors) == (200, 0)
    assert result.achieved_rate > 0
    assert result.http is not None and result.http.count == 200


def test_stub_rejects_a_body_without_client_report_id(stub: StubServer) -> None:
    response = httpx.post(f"{stub.url}/v1/reports", json={"description": "x"})
    assert response.status_code == 422


def test_a_stack_that_never_answers_ends_the_run_at_the_send_deadline() -> None:
    # A listening socket nobody reads from: connections open, requests never answered.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        generators = launch(
            workers=1,
            count=50,
            rate=100,
            seed=6,
            intake_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            monitor_tokens=("t0",),
            concurrency=2,
            request_timeout=2.0,
            send_deadline=1.0,
        )
        generators.wait_ready()
        started = time.monotonic()
        generators.start()
        (result,) = generators.collect(timeout=30)
    assert time.monotonic() - started < 10  # bounded: deadline + request timeout, not 50 × 2 s
    assert result.unsent > 0
    assert len(result.submissions) + result.unsent == 50
    assert all(s.status == 0 for s in result.submissions)  # timeouts recorded as no answer
