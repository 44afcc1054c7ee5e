from datetime import UTC, datetime

import pytest

from pantau.bench.loadgen import Submission, WorkerResult
from pantau.bench.monitor import ProcSample, Sample
from pantau.bench.report import (
    Machine,
    SweepReport,
    goal_rows,
    soak_figures,
    summary_rows,
    sweep_markdown,
)
from pantau.bench.results import summarise
from pantau.bench.search import Probe

MB = 1024 * 1024


def run(rate: float, *, classified_after: float = 0.2, rejected: int = 0, alert: bool = True):
    subs = [
        Submission(client_report_id=f"c{i}", sent_at=1000 + i / rate, status=202,
                   http_seconds=0.01, report_id=f"r{i}")
        for i in range(int(rate))
    ]  # fmt: skip
    subs += [Submission(client_report_id="x", sent_at=1000.5, status=503, error="down")] * rejected
    arrivals = {
        "classified": {s.report_id: s.sent_at + classified_after for s in subs if s.report_id},
        "alerts": {"r0": 1000.8} if alert else {},
    }
    samples = [
        Sample(at=999.0, procs={"intake": ProcSample(1.0, 100 * MB)}, lag={"pantau-reporting": 0}),
        Sample(at=1001.0, procs={"intake": ProcSample(2.0, 250 * MB)}, lag={"pantau-reporting": 9}),
    ]
    return summarise(
        run=1, target_rate=rate, workers=[WorkerResult(worker=0, submissions=subs)],
        arrivals=arrivals, baseline=None, samples=samples, drained_at=1002.0,
    )  # fmt: skip


def test_keeping_up_needs_no_loss_and_a_bounded_classification_latency() -> None:
    assert run(100).keeps_up() == (True, "kept up")
    ok, why = run(100, rejected=3).keeps_up()
    assert not ok and "3 not accepted" in why
    ok, why = run(100, classified_after=9.0).keeps_up()
    assert not ok and why == "classified p99 9.0 s"


def test_run_carries_cpu_rss_and_lag_of_its_window() -> None:
    r = run(100)
    assert r.cores["intake"] == pytest.approx(0.5)
    assert r.peak_rss_mb["intake"] == pytest.approx(250)
    assert (r.lag_end, r.lag_max) == ({"pantau-reporting": 9}, {"pantau-reporting": 9})


def test_summary_and_goals_name_the_misses() -> None:
    fixed = {400.0: [run(400), run(400, classified_after=9.0)], 1000.0: [run(1000, rejected=5)]}
    rows = summary_rows(fixed)
    assert rows[2].startswith("| 400 | 1/2 |") and "| 9 |" in rows[2]  # reporting backlog
    assert rows[3].startswith("| 1,000 | 0/1 |")
    report = SweepReport(
        command="c", machine=Machine(cores=2, cpu="cpu", memory_gb=8), fixed=fixed, probes=[],
        history=[Probe(400, True), Probe(1000, False, "5 not accepted")],
        when=datetime(2026, 11, 28, tzinfo=UTC),
    )  # fmt: skip
    goals = "\n".join(goal_rows(report))
    assert "highest rate kept up: 400/s (first miss 1,000/s) | **missed**" in goals
    assert "| intake RSS < 200 MB | peak 250 MB | **missed** |" in goals
    assert "| p99 submit→alert sent ≤ 1000 ms at 400/s | 800 ms | met |" in goals
    text = sweep_markdown(report, details={400.0: "# x\n## Throughput\nrow"})
    assert "Maximum kept up: **400/s**" in text and "### Throughput" in text


def test_soak_slopes_per_hour_over_the_window() -> None:
    samples = [
        Sample(
            at=t,
            procs={"notifier": ProcSample(cpu_seconds=t / 10, rss=int((100 + t / 60) * MB))},
            lag={"pantau-reporting": 5 * t},
        )
        for t in range(0, 601, 5)
    ]
    memory, lag = soak_figures(samples, start=0, end=600)
    assert memory[0].name == "notifier"
    assert memory[0].slope_per_hour == pytest.approx(60.0)  # 1 MB/min
    assert memory[0].late_slope_per_hour == pytest.approx(60.0)
    assert memory[0].cores == pytest.approx(0.1)
    assert lag[0].slope_per_hour == pytest.approx(5 * 3600)
