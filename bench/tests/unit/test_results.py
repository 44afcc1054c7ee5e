from datetime import UTC, datetime

import pytest

from pantau.bench.arrivals import report_ids
from pantau.bench.baseline import BaselineResult
from pantau.bench.loadgen import Submission, WorkerResult
from pantau.bench.metrics import ServiceCosts
from pantau.bench.results import Setup, markdown, summarise, write

WHEN = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)


def worker(*submissions: Submission, late: int = 0, max_lag: float = 0.0) -> WorkerResult:
    return WorkerResult(worker=0, submissions=list(submissions), late=late, max_lag=max_lag)


def accepted(i: int, *, sent_at: float, http: float = 0.01, read_model: float | None = None):
    return Submission(
        client_report_id=f"c{i}",
        sent_at=sent_at,
        status=202,
        http_seconds=http,
        report_id=f"r{i}",
        read_model_at=read_model,
    )


def test_summary_counts_rates_and_latencies_from_the_send_time() -> None:
    subs = [
        accepted(i, sent_at=1000 + i * 0.01, read_model=1000 + i * 0.01 + 0.5) for i in range(101)
    ]
    subs.append(Submission(client_report_id="bad", sent_at=1000.5, status=422, error="invalid"))
    subs.append(Submission(client_report_id="lost", sent_at=1000.6, status=0, error="timeout"))
    arrivals = {
        "classified": {f"r{i}": 1000 + i * 0.01 + 0.2 for i in range(101)},
        "alerts": {"r0": 1000.9, "unrelated": 5.0},
    }
    run = summarise(
        run=1,
        target_rate=100,
        workers=[worker(*subs, late=2, max_lag=0.03)],
        arrivals=arrivals,
        baseline=BaselineResult(
            messages=103, pipelined_rate=5000, awaited_rate=1000, concurrency=64
        ),
    )
    assert (run.sent, run.accepted) == (103, 101)
    assert run.statuses == {202: 101, 422: 1, 0: 1}
    assert run.offered_rate == pytest.approx(102 / 1.0)  # sends from 1000.0 to 1001.0
    assert run.accepted_rate == pytest.approx(101 / 1.01)  # until the last 202 at 1001.01
    assert run.classified is not None and run.classified.count == 101
    assert run.classified.p50 == pytest.approx(0.2)
    assert run.read_model is not None and run.read_model.p99 == pytest.approx(0.5)
    assert run.alerts is not None and (run.alerts.count, run.alerts.p50) == (1, pytest.approx(0.9))
    assert run.baseline_ratio == pytest.approx(run.accepted_rate / 1000)
    assert not run.generator_bound  # 2 late of 103 is under 5 %
    assert run.verdict == "on schedule"
    assert run.errors == (("422: invalid", 1), ("no answer: timeout", 1))


def test_many_late_sends_mark_the_run_generator_bound() -> None:
    subs = [accepted(i, sent_at=1000 + i) for i in range(10)]
    run = summarise(
        run=1, target_rate=1, workers=[worker(*subs, late=3)], arrivals={}, baseline=None
    )
    assert run.generator_bound
    assert run.verdict == "⚠ generator-bound (30% sent late)"
    assert run.classified is None and run.baseline_ratio is None


def test_waiting_for_in_flight_slots_means_the_stack_was_saturated_not_the_generator() -> None:
    subs = [accepted(i, sent_at=1000 + i) for i in range(10)]
    w = worker(*subs, late=6)
    w.capped = 4
    run = summarise(run=1, target_rate=1, workers=[w], arrivals={}, baseline=None)
    assert run.saturated and not run.generator_bound
    assert run.verdict == "stack saturated (40% waited for a slot)"


def test_markdown_has_one_row_per_run_and_a_median_row(tmp_path) -> None:
    runs = [
        summarise(
            run=n,
            target_rate=10,
            workers=[
                worker(*[accepted(i, sent_at=1000 + i / 10, http=0.01 * n) for i in range(11)])
            ],
            arrivals={"classified": {f"r{i}": 1000 + i / 10 + 0.1 * n for i in range(11)}},
            baseline=BaselineResult(11, 2000.0 * n, 500.0 * n, 64),
            costs=ServiceCosts(
                cpu_ms_per_report={"intake": 2.0 * n, "classifier": 1.0}, publish_mean_ms=40.0 * n
            ),
        )
        for n in (1, 2, 3)
    ]
    setup = Setup(
        command="python -m pantau.bench -n 11",
        workers=2,
        concurrency=64,
        count=11,
        target_rate=10,
        monitors=4,
        poll_every=20,
        intake_url="http://127.0.0.1:8000",
        reporting_url="http://127.0.0.1:8001",
        kafka_bootstrap="127.0.0.1:9092",
        cores=2,
    )
    text = markdown(setup=setup, runs=runs, when=WHEN)
    assert text.startswith("# Pantau benchmark — 2026-11-28 07:30 UTC")
    throughput = [
        line for line in text.splitlines() if line.startswith("| ") and "msg/s" not in line
    ]
    assert sum(1 for line in throughput if line.startswith("| 2 |")) == 3  # all three tables
    assert "Most common failures" not in text  # nothing failed
    median_rows = [line for line in text.splitlines() if line.startswith("| **median**")]
    assert len(median_rows) == 3
    assert "| 4,000 | 1,000 |" in median_rows[0]  # medians of the baseline rates
    assert "200 / 200 / 200" in median_rows[1]  # median submit → classified of 100/200/300 ms
    assert "| run | classifier CPU ms/report | intake CPU ms/report | intake publish" in text
    assert median_rows[2] == "| **median** | 1.00 | 4.00 | 80.0 |"
    path = write(text, directory=tmp_path / "bench", when=WHEN)
    assert path.name == "bench-20261128T073000Z.md"
    assert path.read_text() == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"subject": "rpt_1", "data": {"report_id": "rpt_1"}}', ["rpt_1"]),
        (
            b'{"subject": "alert_9", "data": {"report_ids": ["rpt_1", "rpt_2"]}}',
            ["alert_9", "rpt_1", "rpt_2"],
        ),
        (b"not json", []),
        (b"[1, 2]", []),
        (None, []),
    ],
)
def test_report_ids_of_an_event(value: bytes | None, expected: list[str]) -> None:
    assert report_ids(value) == expected


def test_markdown_lists_the_most_common_failures() -> None:
    subs = [accepted(0, sent_at=1000.0)] + [
        Submission(client_report_id=f"x{i}", sent_at=1000.1, status=503, error="Kafka down")
        for i in range(3)
    ]
    run = summarise(run=1, target_rate=10, workers=[worker(*subs)], arrivals={}, baseline=None)
    setup = Setup(
        command="c", workers=1, concurrency=1, count=4, target_rate=10, monitors=1, poll_every=0,
        intake_url="i", reporting_url="r", kafka_bootstrap="k", cores=2,
    )  # fmt: skip
    text = markdown(setup=setup, runs=[run], when=WHEN)
    assert "- run 1, 3×: `503: Kafka down`" in text
    assert "| 1 | 4 | 1 | 503×3 |" in text


def test_accepting_what_the_generator_can_send_at_all_means_generator_bound() -> None:
    subs = [accepted(i, sent_at=1000 + i / 50) for i in range(51)]  # 50/s accepted
    w = worker(*subs)
    w.capped = 20  # the in-flight cap was hit, but only because the generator was slow
    run = summarise(
        run=1, target_rate=150, workers=[w], arrivals={}, baseline=None, generator_ceiling=52
    )
    assert run.at_generator_ceiling and run.verdict.startswith("⚠ generator-bound")
    faster = summarise(
        run=1, target_rate=150, workers=[w], arrivals={}, baseline=None, generator_ceiling=140
    )
    assert not faster.at_generator_ceiling and faster.verdict.startswith("stack saturated")


def test_a_generator_that_reaches_the_target_does_not_make_the_run_generator_bound() -> None:
    subs = [accepted(i, sent_at=1000 + i / 50) for i in range(51)]  # 50/s accepted
    run = summarise(
        run=1, target_rate=50, workers=[worker(*subs)], arrivals={}, baseline=None,
        generator_ceiling=50,
    )  # fmt: skip
    assert not run.at_generator_ceiling and run.verdict == "on schedule"
