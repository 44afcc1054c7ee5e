"""Figures of one benchmark run, their medians over runs, and the markdown report."""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pantau.bench import monitor
from pantau.bench.baseline import BaselineResult
from pantau.bench.loadgen import WorkerResult
from pantau.bench.metrics import ServiceCosts
from pantau.bench.monitor import Sample
from pantau.bench.stats import Distribution, median, rate

LATE_FRACTION_GENERATOR_BOUND = 0.05
ERRORS_SHOWN = 3
# Accepting this share of what the generator sends a bare endpoint means the stack kept up
# with the generator: the figure is the generator's limit, not the stack's.
GENERATOR_CEILING_SHARE = 0.9  # more late sends than this: the generator was the limit
# Keeping up: accepted at least this share of the target rate, and submit -> classified
# p99 under this many seconds (a backlog that grows during the run breaks it).
MIN_RATE_SHARE = 0.95
MAX_CLASSIFIED_P99 = 5.0


@dataclass(frozen=True)
class RunResult:
    run: int
    target_rate: float
    sent: int
    accepted: int
    statuses: dict[int, int]
    offered_rate: float
    accepted_rate: float
    http: Distribution | None
    classified: Distribution | None
    read_model: Distribution | None
    alerts: Distribution | None
    max_lag: float
    late_fraction: float
    capped_fraction: float = 0.0
    baseline: BaselineResult | None = None
    errors: tuple[tuple[str, int], ...] = ()  # most common failure messages, with counts
    costs: ServiceCosts | None = None
    # The same generator settings against a bare endpoint, measured in the same run.
    generator_ceiling: float | None = None
    read_model_polled: int = 0  # reports whose read model was polled (capped wait)
    unsent: int = 0  # reports the generator dropped at the send deadline (stack too slow)
    # Per process (services and infrastructure), from the monitor's samples over the run.
    cores: dict[str, float] = field(default_factory=dict)  # mean CPU cores used
    waiting: dict[str, float] = field(default_factory=dict)  # mean threads waiting for a CPU
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # highest sampled RSS
    lag_end: dict[str, int] = field(default_factory=dict)  # consumer lag after the drain
    lag_max: dict[str, int] = field(default_factory=dict)
    window: tuple[float, float] = (0.0, 0.0)  # first send, end of drain (epoch seconds)
    # (seconds since the first send, submit -> classified seconds), for the plot.
    classified_points: tuple[tuple[float, float], ...] = ()

    def keeps_up(
        self, *, max_classified_p99: float = MAX_CLASSIFIED_P99, min_share: float = MIN_RATE_SHARE
    ) -> tuple[bool, str]:
        """Did the stack keep up with the target rate, up to classification? Every request
        accepted (no loss), the accepted rate within ``min_share`` of the target, every
        accepted report classified within the drain and its p99 bounded (a growing
        backlog shows as a growing latency). The read model is judged separately."""
        reasons = []
        if self.generator_ceiling is not None and self.generator_ceiling < (
            min_share * self.target_rate
        ):
            reasons.append(f"generator-bound ({self.generator_ceiling:,.0f}/s to a bare endpoint)")
        if self.unsent:
            reasons.append(f"{self.unsent} not sent by the deadline")
        if self.sent and self.accepted < self.sent:
            reasons.append(f"{self.sent - self.accepted} not accepted")
        if self.accepted_rate < min_share * self.target_rate:
            reasons.append(f"accepted {self.accepted_rate:,.0f}/s")
        classified = self.classified.count if self.classified else 0
        if classified < self.accepted:
            reasons.append(f"{self.accepted - classified} not classified in time")
        elif self.classified and self.classified.p99 > max_classified_p99:
            reasons.append(f"classified p99 {self.classified.p99:.1f} s")
        return (not reasons, "; ".join(reasons) or "kept up")

    @property
    def at_generator_ceiling(self) -> bool:
        """The generator could not reach the target against a bare endpoint, and the stack
        accepted about as much as the generator can send at all here. (A generator that
        reaches the target says nothing about the stack's limit.)"""
        return bool(
            self.generator_ceiling
            and self.generator_ceiling < MIN_RATE_SHARE * self.target_rate
            and self.accepted_rate >= GENERATOR_CEILING_SHARE * self.generator_ceiling
        )

    @property
    def saturated(self) -> bool:
        """Requests waited for a free in-flight slot: the stack answered slower than the
        target rate needs, and the offered rate fell below the target."""
        return self.capped_fraction > 0

    @property
    def generator_bound(self) -> bool:
        """Late sends without a saturated stack: the generator itself could not keep up,
        so the figures understate the stack."""
        return not self.saturated and self.late_fraction > LATE_FRACTION_GENERATOR_BOUND

    @property
    def verdict(self) -> str:
        if self.at_generator_ceiling:
            return (
                f"⚠ generator-bound (a bare endpoint gets {self.generator_ceiling:,.0f}/s "
                "from the same generator)"
            )
        if self.saturated:
            return f"stack saturated ({self.capped_fraction:.0%} waited for a slot)"
        if self.generator_bound:
            return f"⚠ generator-bound ({self.late_fraction:.0%} sent late)"
        return "on schedule"

    @property
    def baseline_ratio(self) -> float | None:
        """Accepted rate over the awaited raw-produce rate measured in the same run."""
        if self.baseline is None or not self.baseline.awaited_rate:
            return None
        return self.accepted_rate / self.baseline.awaited_rate


def summarise(
    *,
    run: int,
    target_rate: float,
    workers: Sequence[WorkerResult],
    arrivals: dict[str, dict[str, float]],
    baseline: BaselineResult | None,
    costs: ServiceCosts | None = None,
    generator_ceiling: float | None = None,
    samples: Sequence[Sample] = (),
    drained_at: float | None = None,
) -> RunResult:
    """Turn the raw per-request records and topic arrival times into the run's figures."""
    submissions = [s for w in workers for s in w.submissions]
    accepted = [s for s in submissions if s.status == 202 and s.report_id]
    statuses = dict(Counter(s.status for s in submissions))
    first_sent = min((s.sent_at for s in submissions), default=0.0)
    last_sent = max((s.sent_at for s in submissions), default=0.0)
    last_answer = max((s.sent_at + s.http_seconds for s in accepted), default=first_sent)

    def latencies(label: str) -> Distribution | None:
        seen = arrivals.get(label, {})
        return Distribution.of(
            seen[s.report_id] - s.sent_at for s in accepted if s.report_id in seen
        )

    late = sum(w.late for w in workers)
    capped = sum(w.capped for w in workers)
    return RunResult(
        run=run,
        target_rate=target_rate,
        sent=len(submissions),
        accepted=len(accepted),
        statuses=statuses,
        # n requests span n-1 intervals of the schedule.
        offered_rate=rate(len(submissions) - 1, last_sent - first_sent),
        accepted_rate=rate(len(accepted), last_answer - first_sent),
        http=Distribution.of(s.http_seconds for s in accepted),
        classified=latencies("classified"),
        read_model=Distribution.of(
            s.read_model_at - s.sent_at for s in accepted if s.read_model_at is not None
        ),
        alerts=latencies("alerts"),
        max_lag=max((w.max_lag for w in workers), default=0.0),
        late_fraction=late / len(submissions) if submissions else 0.0,
        capped_fraction=capped / len(submissions) if submissions else 0.0,
        baseline=baseline,
        costs=costs,
        generator_ceiling=generator_ceiling,
        read_model_polled=sum(1 for s in accepted if s.polled),
        unsent=sum(w.unsent for w in workers),
        cores={
            name: cores
            for name in monitor.names_seen(samples)
            if (cores := monitor.cores_used(samples, name)) is not None
        },
        waiting={
            name: wait
            for name in monitor.names_seen(samples)
            if (wait := monitor.cores_waiting(samples, name)) is not None
            and name != monitor.MACHINE
        },
        peak_rss_mb={
            name: peak
            for name in monitor.names_seen(samples)
            if (peak := monitor.peak_rss_mb(samples, name)) is not None
        },
        lag_end={
            g: end
            for g in monitor.groups_seen(samples)
            if (end := monitor.lag_at_end(samples, g)) is not None
        },
        lag_max={
            g: max(v for _, v in monitor.lag_series(samples, g))
            for g in monitor.groups_seen(samples)
        },
        window=(first_sent, drained_at or last_answer),
        classified_points=tuple(
            (s.sent_at - first_sent, arrivals["classified"][s.report_id] - s.sent_at)
            for s in accepted
            if s.report_id in arrivals.get("classified", {})
        ),
        errors=tuple(
            Counter(
                f"{s.status or 'no answer'}: {s.error}" for s in submissions if s.error
            ).most_common(ERRORS_SHOWN)
        ),
    )


@dataclass(frozen=True)
class Setup:
    """How the load was generated, for the report's header."""

    command: str
    workers: int
    concurrency: int
    count: int
    target_rate: float
    monitors: int
    poll_every: int
    intake_url: str
    reporting_url: str
    kafka_bootstrap: str
    cores: int
    notes: list[str] = field(default_factory=list)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _dist(d: Distribution | None) -> str:
    return "–" if d is None else f"{_ms(d.p50)} / {_ms(d.p95)} / {_ms(d.p99)} (n={d.count})"


def _median_dist(
    runs: Sequence[RunResult], pick: Callable[[RunResult], Distribution | None]
) -> str:
    dists = [pick(r) for r in runs]
    present = [d for d in dists if d is not None]
    if not present:
        return "–"
    p50, p95, p99 = (median(getattr(d, q) for d in present) for q in ("p50", "p95", "p99"))
    return f"{_ms(p50)} / {_ms(p95)} / {_ms(p99)}"


def markdown(*, setup: Setup, runs: Sequence[RunResult], when: datetime | None = None) -> str:
    """The report: setup, a throughput table and a latency table, medians last."""
    when = when or datetime.now(UTC)
    lines = [
        f"# Pantau benchmark — {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{setup.command}`",
        f"- Load: {setup.count:,} reports per run at a target of {setup.target_rate:,.0f}/s, "
        f"open loop, from {setup.monitors} monitor tokens.",
        f"- Generator: {setup.workers} Python process(es) with httpx (HTTP/1.1, uvloop), "
        f"at most {setup.concurrency} requests in flight each; machine: {setup.cores} cores "
        "shared with the stack.",
        f"- Stack: intake {setup.intake_url}, reporting {setup.reporting_url}, "
        f"Kafka {setup.kafka_bootstrap}.",
        "- Latencies are from the moment a POST was sent: to its 202, to the report's event "
        "on `pantau.reports.classified` and the `pantau.alerts` event with status `sent` "
        "(record timestamps, every report), and to the first GET on reporting that showed "
        "its `classification` "
        + (f"(every {setup.poll_every}th report, polled)." if setup.poll_every else "(off)."),
        "- Generator ceiling: the same generator processes and settings against a bare "
        "FastAPI/uvicorn endpoint (`pantau.bench.stub`), just before each run.",
        "- Baseline: raw aiokafka (acks=all, idempotent) producing the same bodies to a "
        "scratch topic in the same run; *pipelined* lets it batch freely, *awaited* has "
        "as many concurrent send-and-wait tasks as the generator has requests in flight.",
        *(f"- {note}" for note in setup.notes),
        "",
        "## Throughput",
        "",
        "| run | sent | accepted | other statuses | offered/s | accepted/s "
        "| generator ceiling/s | baseline pipelined msg/s | baseline awaited msg/s "
        "| accepted ÷ awaited | generator max lag ms | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        others = ", ".join(
            f"{k or 'no answer'}×{v}" for k, v in sorted(r.statuses.items()) if k != 202
        )
        lines.append(
            f"| {r.run} | {r.sent:,} | {r.accepted:,} | {others or '–'} "
            f"| {_num(r.offered_rate)} | {_num(r.accepted_rate)} | {_num(r.generator_ceiling)} "
            f"| {_num(r.baseline.pipelined_rate if r.baseline else None)} "
            f"| {_num(r.baseline.awaited_rate if r.baseline else None)} "
            f"| {_pct(r.baseline_ratio)} | {_ms(r.max_lag)} | {r.verdict} |"
        )
    lines.append(
        f"| **median** | | | | {_num(median(r.offered_rate for r in runs))} "
        f"| **{_num(median(r.accepted_rate for r in runs))}** "
        f"| {_num(median(r.generator_ceiling for r in runs))} "
        f"| {_num(median(r.baseline.pipelined_rate if r.baseline else None for r in runs))} "
        f"| {_num(median(r.baseline.awaited_rate if r.baseline else None for r in runs))} "
        f"| {_pct(median(r.baseline_ratio for r in runs))} "
        f"| {_ms(median(r.max_lag for r in runs))} | |"
    )
    lines += [
        "",
        "## Latency (ms, p50 / p95 / p99)",
        "",
        "| run | POST → 202 | submit → classified topic | submit → read model "
        "| submit → alert sent |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.run} | {_dist(r.http)} | {_dist(r.classified)} | {_dist(r.read_model)} "
            f"| {_dist(r.alerts)} |"
        )
    lines.append(
        "| **median** | "
        + " | ".join(
            _median_dist(runs, pick)
            for pick in (
                lambda r: r.http,
                lambda r: r.classified,
                lambda r: r.read_model,
                lambda r: r.alerts,
            )
        )
        + " |"
    )
    lines += _costs_table(runs)
    failures = [(r.run, message, n) for r in runs for message, n in r.errors]
    if failures:
        lines += ["", "## Most common failures", ""]
        lines += [f"- run {run}, {n}×: `{message}`" for run, message, n in failures]
    return "\n".join(lines) + "\n"


def _costs_table(runs: Sequence[RunResult]) -> list[str]:
    """CPU per report of each service and intake's publish wait, from their /metrics."""
    measured = [
        (r.run, r.costs)
        for r in runs
        if r.costs is not None and (r.costs.cpu_ms_per_report or r.costs.publish_mean_ms)
    ]
    if not measured:
        return []
    services = sorted({name for _, c in measured for name in c.cpu_ms_per_report})
    consumers = sorted({name for _, c in measured for name in c.handled})
    lines = [
        "",
        "## Service cost (from each service's /metrics)",
        "",
        "CPU ms per accepted report; for each consumer, messages handled during the run "
        "and mean handling ms per message (handling far above CPU = waiting on the store "
        "or the broker).",
        "",
        "| run | "
        + "".join(f"{name} CPU ms/report | " for name in services)
        + "".join(f"{name} handled · ms/msg | " for name in consumers)
        + "intake publish wait ms (mean) |",
        "|---" * (len(services) + len(consumers) + 2) + "|",
    ]

    def row(
        label: str,
        cpu: Callable[[str], float | None],
        handled: Callable[[str], float | None],
        handling: Callable[[str], float | None],
        publish: float | None,
    ) -> str:
        cells = "".join(f"{_num(cpu(name), 2)} | " for name in services)
        cells += "".join(
            f"{_num(handled(name))} · {_num(handling(name), 1)} | " for name in consumers
        )
        return f"| {label} | {cells}{_num(publish, 1)} |"

    for run, c in measured:
        lines.append(
            row(str(run), c.cpu_ms_per_report.get, c.handled.get, c.handling_ms.get,
                c.publish_mean_ms)
        )  # fmt: skip
    lines.append(
        row(
            "**median**",
            lambda name: median(c.cpu_ms_per_report.get(name) for _, c in measured),
            lambda name: median(c.handled.get(name) for _, c in measured),
            lambda name: median(c.handling_ms.get(name) for _, c in measured),
            median(c.publish_mean_ms for _, c in measured),
        )
    )
    return lines


def write(text: str, *, directory: Path, when: datetime | None = None) -> Path:
    """Write the report as ``<directory>/bench-YYYYmmddTHHMMSSZ.md`` and return its path."""
    when = when or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"bench-{when:%Y%m%dT%H%M%SZ}.md"
    path.write_text(text, encoding="utf-8")
    return path
