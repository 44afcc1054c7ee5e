"""The sweep and soak reports: markdown tables (pure) over the measured runs and samples."""

import platform
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pantau.bench import monitor
from pantau.bench.monitor import Sample
from pantau.bench.results import RunResult
from pantau.bench.search import Probe, bracket
from pantau.bench.stats import Distribution, median, slope

GOAL_RATE = 1000.0
GOAL_LATENCY_RATE = 400.0
GOAL_READ_MODEL_P99 = 0.5
GOAL_ALERT_P99 = 1.0
GOAL_RSS_MB = 200.0
HOUR = 3600.0


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    memory_gb: float
    python: str = platform.python_version()

    @classmethod
    def here(cls) -> "Machine":
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        import os

        import psutil

        return cls(
            cores=os.cpu_count() or 0,
            cpu=cpu,
            memory_gb=psutil.virtual_memory().total / 1024**3,
        )

    def line(self) -> str:
        return (
            f"{self.cores} cores ({self.cpu}), {self.memory_gb:.0f} GB RAM, "
            f"Python {self.python}; shared with other work (figures are medians)"
        )


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:,.0f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _triple(runs: Sequence[RunResult], pick: Callable[[RunResult], Distribution | None]) -> str:
    dists = [d for r in runs if (d := pick(r)) is not None]
    if not dists:
        return "–"
    return " / ".join(_ms(median(getattr(d, q) for d in dists)) for q in ("p50", "p95", "p99"))


def _median_of(
    runs: Sequence[RunResult], pick: Callable[[RunResult], float | None]
) -> float | None:
    return median(pick(r) for r in runs)


def _p99(
    runs: Sequence[RunResult], pick: Callable[[RunResult], Distribution | None]
) -> float | None:
    return median(d.p99 if (d := pick(r)) is not None else None for r in runs)


@dataclass
class SweepReport:
    """Inputs of the sweep report."""

    command: str
    machine: Machine
    fixed: Mapping[float, Sequence[RunResult]]
    probes: Sequence[tuple[Probe, RunResult]]
    history: Sequence[Probe]
    hwm_mb: Mapping[str, float] = field(default_factory=dict)
    notes: Sequence[str] = ()
    when: datetime = field(default_factory=lambda: datetime.now(UTC))


def summary_rows(fixed: Mapping[float, Sequence[RunResult]]) -> list[str]:
    """One row per fixed rate: medians over its runs."""
    lines = [
        "| target/s | runs kept up | offered/s | accepted/s | not accepted or not sent | POST→202 "
        "| submit→classified | submit→alert sent | submit→read model (seen/polled) "
        "| reporting backlog after run | raw produce awaited / pipelined msg/s "
        "| raw consume msg/s | accepted ÷ raw awaited |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rate, runs in fixed.items():
        kept = sum(r.keeps_up()[0] for r in runs)
        lost = sum(r.sent - r.accepted + r.unsent for r in runs)
        seen = sum(r.read_model.count if r.read_model else 0 for r in runs)
        polled = sum(r.read_model_polled for r in runs)
        alerted = sum(r.alerts.count if r.alerts else 0 for r in runs)
        backlog = _median_of(runs, lambda r: r.lag_end.get("pantau-reporting"))
        awaited = _median_of(runs, lambda r: r.baseline.awaited_rate if r.baseline else None)
        pipelined = _median_of(runs, lambda r: r.baseline.pipelined_rate if r.baseline else None)
        consumed = _median_of(runs, lambda r: r.baseline.consume_rate if r.baseline else None)
        offered = _median_of(runs, lambda r: r.offered_rate)
        lines.append(
            f"| {rate:,.0f} | {kept}/{len(runs)} | {_num(offered)} "
            f"| **{_num(_median_of(runs, lambda r: r.accepted_rate))}** | {lost} "
            f"| {_triple(runs, lambda r: r.http)} | {_triple(runs, lambda r: r.classified)} "
            f"| {_triple(runs, lambda r: r.alerts)} (n={alerted}) "
            f"| {_triple(runs, lambda r: r.read_model)} ({seen}/{polled}) "
            f"| {_num(backlog)} "
            f"| {_num(awaited)} / {_num(pipelined)} | {_num(consumed)} "
            f"| {_pct(_median_of(runs, lambda r: r.baseline_ratio))} |"
        )
    return lines


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def resource_rows(
    fixed: Mapping[float, Sequence[RunResult]], hwm_mb: Mapping[str, float]
) -> list[str]:
    """Per process: median cores and peak RSS at each rate, and the lifetime peak."""
    names = monitor.names_seen(
        Sample(at=0, procs={n: monitor.ProcSample(0, 0) for n in r.cores}, lag={})
        for runs in fixed.values()
        for r in runs
    )
    rates = list(fixed)
    header = "| process | " + " | ".join(
        f"{r:,.0f}/s cores · waiting for CPU · peak RSS MB" for r in rates
    )
    lines = [header + " | lifetime peak RSS MB (VmHWM) |", "|---" * (len(rates) + 2) + "|"]
    for name in names:
        cells = []
        for rate in rates:
            runs = fixed[rate]
            cores = median(r.cores.get(name) for r in runs)
            waiting = median(r.waiting.get(name) for r in runs)
            peak = max((r.peak_rss_mb[name] for r in runs if name in r.peak_rss_mb), default=None)
            cells.append(f"{_num(cores, 2)} · {_num(waiting, 2)} · {_num(peak)}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_num(hwm_mb.get(name))} |")
    return lines


def lag_rows(fixed: Mapping[float, Sequence[RunResult]]) -> list[str]:
    """Per consumer group: median of the highest lag during each run and of the lag after it."""
    groups = sorted({g for runs in fixed.values() for r in runs for g in r.lag_max})
    rates = list(fixed)
    lines = [
        "| consumer group | " + " | ".join(f"{r:,.0f}/s max · end" for r in rates) + " |",
        "|---" * (len(rates) + 1) + "|",
    ]
    for group in groups:
        cells = [
            f"{_num(median(r.lag_max.get(group) for r in fixed[rate]))} · "
            f"{_num(median(r.lag_end.get(group) for r in fixed[rate]))}"
            for rate in rates
        ]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return lines


def limiter(runs: Sequence[RunResult], cores: int) -> str:
    """Which processes used the most CPU at this rate, and how busy the whole machine was
    (the rest is other work on the shared host)."""
    names = sorted({n for r in runs for n in r.cores} - {monitor.MACHINE})
    used = {n: median(r.cores.get(n) for r in runs) or 0.0 for n in names}
    if not used:
        return "no CPU samples"
    busiest = sorted(used.items(), key=lambda kv: kv[1], reverse=True)[:3]
    watched = sum(used.values())
    machine = median(r.cores.get(monitor.MACHINE) for r in runs)
    parts = ", ".join(f"{n} {c:.2f}" for n, c in busiest)
    text = f"busiest: {parts} cores; stack + generator {watched:.2f}"
    if machine is not None:
        other = max(0.0, machine - watched)
        text += f"; whole machine {machine:.2f} of {cores} cores (other work {other:.2f})"
    return text


def goal_rows(report: SweepReport) -> list[str]:
    fixed = report.fixed
    passed, failed = bracket(report.history)
    at = fixed.get(GOAL_LATENCY_RATE, [])
    rm_p99 = _p99(at, lambda r: r.read_model)
    alert_p99 = _p99(at, lambda r: r.alerts)
    rm_seen = sum(r.read_model.count if r.read_model else 0 for r in at)
    rm_polled = sum(r.read_model_polled for r in at)
    worst_rss = {  # services only
        n: max(
            [r.peak_rss_mb[n] for runs in fixed.values() for r in runs if n in r.peak_rss_mb]
            + ([report.hwm_mb[n]] if n in report.hwm_mb else [])
        )
        for n in monitor.SERVICES
        if any(n in r.peak_rss_mb for runs in fixed.values() for r in runs) or n in report.hwm_mb
    }

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("met" if ok else "**missed**")

    rm_note = f"{_ms(rm_p99)} ms" + (
        f" ({rm_seen} of {rm_polled} polled reports seen within the cap)" if rm_polled else ""
    )
    rate_ok = None if passed is None and failed is None else (passed or 0) >= GOAL_RATE
    rm_ok = None
    if at:
        rm_ok = rm_p99 is not None and rm_p99 <= GOAL_READ_MODEL_P99 and rm_seen == rm_polled
    alert_ok = None if alert_p99 is None else alert_p99 <= GOAL_ALERT_P99
    first_miss = f" (first miss {_num(failed)}/s)" if failed else ""
    lines = [
        "| goal | measured | verdict |",
        "|---|---|---|",
        f"| ≥ {GOAL_RATE:,.0f} reports/s sustained, zero loss (up to classification) "
        f"| highest rate kept up: {_num(passed)}/s{first_miss} | {verdict(rate_ok)} |",
        f"| p99 submit→read model ≤ {GOAL_READ_MODEL_P99 * 1000:.0f} ms at "
        f"{GOAL_LATENCY_RATE:,.0f}/s | {rm_note} | {verdict(rm_ok)} |",
        f"| p99 submit→alert sent ≤ {GOAL_ALERT_P99 * 1000:.0f} ms at {GOAL_LATENCY_RATE:,.0f}/s "
        f"| {_ms(alert_p99)} ms | {verdict(alert_ok)} |",
    ]
    for name, mb in worst_rss.items():
        ok = verdict(mb < GOAL_RSS_MB)
        lines.append(f"| {name} RSS < {GOAL_RSS_MB:.0f} MB | peak {mb:,.0f} MB | {ok} |")
    return lines


def sweep_markdown(report: SweepReport, *, details: Mapping[float, str]) -> str:
    """The whole benchmark report; ``details`` holds the per-rate tables (markdown)."""
    passed, failed = bracket(report.history)
    lines = [
        f"# Pantau benchmark — {report.when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{report.command}`",
        f"- Machine: {report.machine.line()}.",
        "- Latencies run from the moment the generator sent the POST: to its 202; to the "
        "report's event on `pantau.reports.classified`; to the notifier's `pantau.alerts` "
        "event with status `sent` (published once the channel — here the SMTP sink — "
        "accepted the message and the ledger recorded it; not every report is alerted); to "
        "the first `GET /v1/reports/{id}` on reporting showing its classification (every "
        "n-th report, polled for at most the read-model cap, then counted as not seen).",
        "- Kept up: every POST answered 202, the accepted rate ≥ 95 % of the target, every "
        "accepted report classified within the drain and submit→classified p99 ≤ 5 s. The "
        "read model and alerts are reported beside it, not part of it.",
        "- Ceiling, same run: raw aiokafka producing the same bodies (acks=all, idempotent; "
        "*awaited* = as many concurrent send-and-wait tasks as the generator's in-flight "
        "limit, *pipelined* = batched freely) and a group-less consumer reading them back.",
        "- CPU: mean cores used over the run (psutil, process + children, sampled every "
        "second); waiting for CPU: mean threads runnable but not running (run-queue time "
        "from /proc schedstat; high = starved by the machine, not limited by its own work); "
        "RSS: highest sample; consumer lag: committed vs end offsets per group.",
        *(f"- {note}" for note in report.notes),
        "",
        "## Summary (medians per rate; latencies ms p50 / p95 / p99)",
        "",
        *summary_rows(report.fixed),
        "",
        "## Maximum sustained rate (search)",
        "",
        "| rate/s | kept up | why |",
        "|---|---|---|",
        *(
            f"| {p.rate:,.0f} | {'yes' if p.kept_up else 'no'} | {p.reason or '–'} |"
            for p in sorted(report.history, key=lambda p: p.rate)
        ),
        "",
        f"Maximum kept up: **{_num(passed)}/s**"
        + (f" (lowest rate that did not: {_num(failed)}/s)." if failed else " (no rate failed)."),
        "",
        "## Goals",
        "",
        *goal_rows(report),
        "",
        "## CPU and memory per process",
        "",
        *resource_rows({**report.fixed, **{p.rate: [r] for p, r in report.probes}}, report.hwm_mb),
        "",
        "## What limits what (per-process CPU at each rate)",
        "",
        *(
            f"- {rate:,.0f}/s: {limiter(runs, report.machine.cores)}"
            for rate, runs in {**report.fixed, **{p.rate: [r] for p, r in report.probes}}.items()
        ),
        "",
        "## Consumer lag (messages; median over runs of the highest during a run · after it)",
        "",
        *lag_rows(report.fixed),
    ]
    for rate, text in details.items():
        body = text.split("\n", 1)[1] if text.startswith("# ") else text
        lines += ["", f"## Details at {rate:,.0f}/s", re.sub(r"^(#+) ", r"#\1 ", body, flags=re.M)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SoakFigures:
    name: str
    start: float | None
    end: float | None
    peak: float | None
    slope_per_hour: float | None
    late_slope_per_hour: float | None  # over the second half: is it levelling off?
    cores: float | None = None


def soak_figures(
    samples: Sequence[Sample], *, start: float, end: float
) -> tuple[list[SoakFigures], list[SoakFigures]]:
    """RSS (MB) per process and lag (messages) per group over the loaded window, with the
    least-squares slope per hour over all of it and over its second half."""
    window = [s for s in samples if start <= s.at <= end]
    middle = start + (end - start) / 2

    def figures(name: str, series: list[tuple[float, float]], cores: float | None) -> SoakFigures:
        late = [(t, v) for t, v in series if t >= middle]
        whole = slope(series)
        half = slope(late)
        return SoakFigures(
            name=name,
            start=series[0][1] if series else None,
            end=series[-1][1] if series else None,
            peak=max((v for _, v in series), default=None),
            slope_per_hour=whole * HOUR if whole is not None else None,
            late_slope_per_hour=half * HOUR if half is not None else None,
            cores=cores,
        )

    memory = [
        figures(n, monitor.rss_series_mb(window, n), monitor.cores_used(window, n))
        for n in monitor.names_seen(window)
    ]
    lag = [
        figures(g, [(t, float(v)) for t, v in monitor.lag_series(window, g)], None)
        for g in monitor.groups_seen(window)
    ]
    return memory, lag


def soak_markdown(
    *,
    command: str,
    machine: Machine,
    rate: float,
    minutes: float,
    run: RunResult,
    memory: Sequence[SoakFigures],
    lag: Sequence[SoakFigures],
    when: datetime | None = None,
) -> str:
    when = when or datetime.now(UTC)
    lines = [
        f"# Pantau soak — {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine.line()}.",
        f"- Load: {rate:,.0f} reports/s for {minutes:g} min, open loop; sent {run.sent:,}, "
        f"accepted {run.accepted:,} ({run.sent - run.accepted} not accepted), "
        f"accepted rate {run.accepted_rate:,.0f}/s.",
        "- Slopes: least-squares over the loaded window (and over its second half, to tell "
        "warm-up from a leak), per hour.",
        f"- Latency (ms p50 / p95 / p99): POST→202 {_dist(run.http)}; submit→classified "
        f"{_dist(run.classified)}; submit→alert sent {_dist(run.alerts)}.",
        "",
        "## Memory (RSS, MB) and CPU per process",
        "",
        "| process | mean cores | start | end | peak | slope MB/h | slope MB/h (2nd half) |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {f.name} | {_num(f.cores, 2)} | {_num(f.start)} | {_num(f.end)} | {_num(f.peak)} "
            f"| {_num(f.slope_per_hour, 1)} | {_num(f.late_slope_per_hour, 1)} |"
            for f in memory
        ),
        "",
        "## Consumer lag (messages)",
        "",
        "| group | start | end | peak | slope msgs/h | slope msgs/h (2nd half) |",
        "|---|---|---|---|---|---|",
        *(
            f"| {f.name} | {_num(f.start)} | {_num(f.end)} | {_num(f.peak)} "
            f"| {_num(f.slope_per_hour)} | {_num(f.late_slope_per_hour)} |"
            for f in lag
        ),
    ]
    return "\n".join(lines) + "\n"


def _dist(d: Distribution | None) -> str:
    return "–" if d is None else f"{_ms(d.p50)} / {_ms(d.p95)} / {_ms(d.p99)} (n={d.count:,})"


def write(text: str, *, directory: Path, stem: str, when: datetime | None = None) -> Path:
    when = when or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-{when:%Y%m%dT%H%M%SZ}.md"
    path.write_text(text, encoding="utf-8")
    return path
