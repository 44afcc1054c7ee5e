"""PNG plots of a sweep and of a soak (matplotlib, headless)."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pantau.bench import monitor
from pantau.bench.monitor import Sample
from pantau.bench.results import RunResult
from pantau.bench.stats import buckets, median


def _minutes(samples: Sequence[Sample], t0: float, series: Sequence[tuple[float, float]]):
    return [(t - t0) / 60 for t, _ in series], [v for _, v in series]


def _lag_lines(ax: Axes, samples: Sequence[Sample], t0: float) -> None:
    """One line per consumer group: its lag in messages over minutes since ``t0``."""
    for group in monitor.groups_seen(samples):
        ax.plot(*_minutes(samples, t0, monitor.lag_series(samples, group)), label=group)
    ax.set_ylabel("consumer lag (messages)")


def _cpu_lines(ax: Axes, samples: Sequence[Sample], t0: float) -> None:
    """One line per process: CPU cores used over minutes since ``t0``."""
    for name in monitor.names_seen(samples):
        x, y = _minutes(samples, t0, monitor.cpu_series(samples, name))
        ax.plot(x, y, label=name, linewidth=0.8)
    ax.set_ylabel("CPU cores")
    ax.legend(fontsize=8, ncol=3)


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _median_run(runs: Sequence[RunResult]) -> RunResult:
    """The run whose submit -> classified p99 is the median one."""
    ordered = sorted(runs, key=lambda r: r.classified.p99 if r.classified else float("inf"))
    return ordered[(len(ordered) - 1) // 2]


def sweep_png(
    path: Path,
    *,
    fixed: Mapping[float, Sequence[RunResult]],
    probes: Sequence[RunResult],
    samples: Sequence[Sample],
) -> Path:
    fig, axes = plt.subplots(4, 1, figsize=(11, 16))
    every = {**{rate: list(runs) for rate, runs in fixed.items()}}
    for run in probes:
        every.setdefault(run.target_rate, []).append(run)
    rates = sorted(every)

    ax = axes[0]
    xs = range(len(rates))
    accepted = [median(r.accepted_rate for r in every[rate]) or 0 for rate in rates]
    ax.bar([x - 0.2 for x in xs], rates, width=0.4, label="target", color="#bbbbbb")
    ax.bar([x + 0.2 for x in xs], accepted, width=0.4, label="accepted (median)", color="#1f77b4")
    produce = median(r.baseline.awaited_rate for rs in every.values() for r in rs if r.baseline)
    consume = median(r.baseline.consume_rate for rs in every.values() for r in rs if r.baseline)
    if produce:
        ax.axhline(produce, color="#d62728", linestyle="--", label="raw Kafka produce (awaited)")
    if consume:
        ax.axhline(consume, color="#2ca02c", linestyle=":", label="raw Kafka consume")
    ax.set_xticks(list(xs), [f"{r:,.0f}" for r in rates])
    ax.set_yscale("log")
    ax.set_xlabel("target reports/s")
    ax.set_ylabel("reports/s (log)")
    ax.set_title("Throughput per rate vs the raw Kafka ceiling of the same payloads")
    ax.legend(fontsize=8)

    ax = axes[1]
    for rate in sorted(fixed):
        run = _median_run(fixed[rate])
        points = buckets(run.classified_points, width=1.0, q=99)
        if points:
            ax.plot([x for x, _ in points], [y * 1000 for _, y in points], label=f"{rate:,.0f}/s")
    ax.set_yscale("log")
    ax.set_xlabel("seconds into the run (median run per rate)")
    ax.set_ylabel("submit→classified p99 per second (ms, log)")
    ax.set_title("Latency over time")
    ax.legend(fontsize=8)

    t0 = samples[0].at if samples else 0.0
    ax = axes[2]
    _lag_lines(ax, samples, t0)
    for rate, runs in every.items():
        for run in runs:
            start, end = run.window
            ax.axvspan((start - t0) / 60, (end - t0) / 60, alpha=0.08, color="grey")
            ax.text((start - t0) / 60, 0, f"{rate:,.0f}", fontsize=6, va="bottom")
    ax.set_xlabel("minutes since the benchmark started (grey: runs, labelled by rate)")
    ax.set_title("Consumer lag over time")
    ax.legend(fontsize=8)

    ax = axes[3]
    _cpu_lines(ax, samples, t0)
    ax.set_xlabel("minutes since the benchmark started")
    ax.set_title("CPU per process over time")
    return _save(fig, path)


def soak_png(path: Path, *, samples: Sequence[Sample], start: float, end: float) -> Path:
    window = [s for s in samples if start <= s.at <= end]
    fig, axes = plt.subplots(3, 1, figsize=(11, 12))
    t0 = start
    ax = axes[0]
    # The machine's used memory would flatten every process's line: left out here.
    for name in [n for n in monitor.names_seen(window) if n != monitor.MACHINE]:
        x, y = _minutes(window, t0, monitor.rss_series_mb(window, name))
        ax.plot(x, y, label=name)
    ax.set_xlabel("minutes into the soak")
    ax.set_ylabel("RSS (MB)")
    ax.set_title("Memory per process")
    ax.legend(fontsize=8, ncol=3)
    ax = axes[1]
    _lag_lines(ax, window, t0)
    ax.set_xlabel("minutes into the soak")
    ax.set_title("Consumer lag")
    ax.legend(fontsize=8)
    ax = axes[2]
    _cpu_lines(ax, window, t0)
    ax.set_xlabel("minutes into the soak")
    ax.set_title("CPU per process")
    return _save(fig, path)
