"""One benchmark run end to end, and repeated runs: the orchestration in the main process.

Per run: watch the topics (positioned at their ends), start the generator processes,
drive the load with a progress bar, wait for the reports to be classified, then
measure the raw-produce baseline with the same bodies.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantau.bench import baseline as baseline_mod
from pantau.bench import metrics
from pantau.bench import profile as profiling
from pantau.bench.arrivals import TopicArrivals
from pantau.bench.calibrate import StubServer, calibrate
from pantau.bench.loadgen import Generators, WorkerResult, encode_bodies, launch
from pantau.bench.monitor import Sample, Timeline
from pantau.bench.results import RunResult, summarise
from pantau.bench.search import Probe, SearchPlan, next_rate
from pantau.bench.tokens import Tokens
from pantau.shared.topics import Topics

# A run sends for at most its schedule × this + that many seconds.
SEND_GRACE_FACTOR = 1.5
SEND_GRACE_SECONDS = 5.0
ALERT_SETTLE_SECONDS = 1.0  # after the notifier's lag reached zero, for the last events


class StackNotReady(RuntimeError):
    """Intake or reporting does not answer ``/readyz``."""


@dataclass(frozen=True)
class BenchOptions:
    count: int
    rate: float
    workers: int
    concurrency: int
    runs: int
    seed: int
    intake_url: str
    reporting_url: str
    kafka_bootstrap: str
    topic_prefix: str = ""
    poll_every: int = 20
    poll_interval: float = 0.05
    drain_timeout: float = 60.0
    # Caps on the waits for the slower consumers: a backlog is reported, never waited out.
    read_model_timeout: float = 20.0
    alert_timeout: float = 15.0
    request_timeout: float = 10.0
    with_baseline: bool = True
    # Services whose /metrics are scraped around each run (name -> base URL).
    service_urls: tuple[tuple[str, str], ...] = ()
    with_generator_ceiling: bool = True


async def check_ready(urls: Sequence[str], *, timeout: float = 5.0) -> None:
    """Fail early, with the URL, when a service of the stack is not ready."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        for url in urls:
            try:
                response = await client.get(f"{url}/readyz")
            except httpx.HTTPError as exc:
                raise StackNotReady(
                    f"{url} does not answer ({exc!r}): run `make up` first"
                ) from exc
            if response.status_code != 200:
                raise StackNotReady(
                    f"{url}/readyz answered {response.status_code}: {response.text}"
                )


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    )


async def _drive_with_progress(
    generators: Generators, progress: Progress, *, run: int, count: int, timeout: float
) -> list[WorkerResult]:
    sending = progress.add_task(f"run {run}: sent", total=count, detail="")
    answered = progress.add_task(f"run {run}: answered", total=count, detail="")
    await asyncio.to_thread(generators.wait_ready)
    start_at = generators.start()
    collecting = asyncio.create_task(asyncio.to_thread(generators.collect, timeout))
    while not collecting.done():
        sent, done = generators.totals()
        elapsed = max(time.time() - start_at, 1e-9)
        progress.update(sending, completed=sent, detail=f"{sent / elapsed:,.0f}/s")
        progress.update(answered, completed=done, detail="")
        await asyncio.wait({collecting}, timeout=0.1)
    sent, done = generators.totals()
    progress.update(sending, completed=sent)
    progress.update(answered, completed=done)
    return collecting.result()


async def run_once(
    *,
    options: BenchOptions,
    tokens: Tokens,
    run: int,
    seed: int,
    progress: Progress,
    stub: StubServer | None = None,
    timeline: Timeline | None = None,
    ceiling: float | None = None,
) -> RunResult:
    """One run: generator ceiling (unless given), load, drain, baseline. ``seed`` must
    differ per run (fresh report ids)."""
    if stub is not None and ceiling is None:
        task = progress.add_task(f"run {run}: generator ceiling", total=None, detail="")
        calibration = await asyncio.to_thread(
            calibrate,
            url=stub.url,
            workers=options.workers,
            count=options.count,
            target_rate=options.rate,
            concurrency=options.concurrency,
        )
        ceiling = calibration.achieved_rate
        progress.update(task, total=1, completed=1, detail=f"{ceiling:,.0f}/s")
    topics = Topics(prefix=options.topic_prefix)
    watcher = TopicArrivals(
        bootstrap=options.kafka_bootstrap,
        topics={"classified": topics.classified, "alerts": topics.alerts},
        statuses={"alerts": frozenset({"sent"})},
    )
    await watcher.start()
    services = dict(options.service_urls)
    before = await metrics.scrape_all(services)
    try:
        generators = launch(
            workers=options.workers,
            count=options.count,
            rate=options.rate,
            seed=seed,
            intake_url=options.intake_url,
            monitor_tokens=tokens.monitors,
            concurrency=options.concurrency,
            request_timeout=options.request_timeout,
            reporting_url=options.reporting_url,
            operator_token=tokens.operator,
            poll_every=options.poll_every,
            poll_interval=options.poll_interval,
            poll_timeout=options.read_model_timeout,
            send_deadline=options.count / options.rate * SEND_GRACE_FACTOR + SEND_GRACE_SECONDS,
        )
        # Sending stops at the send deadline; then in-flight requests and polls end.
        timeout = (
            options.count / options.rate * SEND_GRACE_FACTOR
            + SEND_GRACE_SECONDS
            + options.request_timeout
            + options.read_model_timeout
            + 60
        )
        try:
            workers = await _drive_with_progress(
                generators, progress, run=run, count=options.count, timeout=timeout
            )
        except BaseException:
            generators.terminate()
            raise
        accepted = {
            s.report_id for w in workers for s in w.submissions if s.status == 202 and s.report_id
        }
        draining = progress.add_task(f"run {run}: classified", total=len(accepted), detail="")
        deadline = time.monotonic() + options.drain_timeout
        while time.monotonic() < deadline:
            arrived = watcher.count("classified", accepted)
            progress.update(draining, completed=arrived)
            if arrived >= len(accepted):
                break
            await asyncio.sleep(0.1)
        progress.update(draining, completed=watcher.count("classified", accepted))
        if timeline is not None:
            await _settle_alerts(timeline, progress, run=run, timeout=options.alert_timeout)
        drained_at = time.time()
        after = await metrics.scrape_all(services)
    finally:
        await watcher.stop()

    result_baseline = None
    if options.with_baseline:
        messages = [
            (client_report_id.encode(), body)
            for spec in generators.specs
            for client_report_id, body in encode_bodies(spec)
        ]
        result_baseline = await baseline_mod.measure(
            bootstrap=options.kafka_bootstrap,
            topic=f"{options.topic_prefix}pantau.bench.scratch.{uuid.uuid4().hex[:8]}",
            messages=messages,
            concurrency=options.concurrency * options.workers,
        )
    return summarise(
        run=run,
        target_rate=options.rate,
        workers=workers,
        arrivals=watcher.arrivals,
        baseline=result_baseline,
        costs=metrics.costs(before=before, after=after, reports=len(accepted)),
        generator_ceiling=ceiling,
        samples=_window(timeline, workers, drained_at),
        drained_at=drained_at,
    )


def _window(timeline: Timeline | None, workers: Sequence[WorkerResult], end: float) -> list[Sample]:
    """The monitor's samples from the first send to ``end``."""
    if timeline is None:
        return []
    starts = [s.sent_at for w in workers for s in w.submissions]
    return timeline.between(min(starts, default=end) - timeline.interval, end)


async def _settle_alerts(
    timeline: Timeline, progress: Progress, *, run: int, timeout: float
) -> None:
    """Wait (at most ``timeout``) for the notifier's consumer lag to reach zero, so the
    alerts of this run's reports are sent before their latencies are summarised."""
    task = progress.add_task(f"run {run}: notifier lag", total=None, detail="")
    deadline = time.monotonic() + timeout
    since = time.time()
    while time.monotonic() < deadline:
        fresh = [s for s in timeline.samples if s.at > since and "pantau-notifier" in s.lag]
        if fresh:
            lag = fresh[-1].lag["pantau-notifier"]
            progress.update(task, detail=f"{lag:,} behind")
            if lag == 0:
                await asyncio.sleep(ALERT_SETTLE_SECONDS)
                break
        await asyncio.sleep(0.2)
    progress.update(task, total=1, completed=1)


@dataclass
class Sweep:
    """Everything one ``make bench`` measured."""

    fixed: dict[float, list[RunResult]] = field(default_factory=dict)
    probes: list[tuple[Probe, RunResult]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[float, str]] = field(default_factory=list)  # runs that did not finish
    aborted: list[Probe] = field(default_factory=list)  # probes whose run did not finish

    def probe_history(self) -> list[Probe]:
        """A fixed rate counts as kept up when most of its runs did; then every probe."""
        history = []
        for rate, runs in self.fixed.items():
            verdicts = [r.keeps_up() for r in runs]
            kept = sum(ok for ok, _ in verdicts) * 2 > len(verdicts)
            reasons = sorted({part for ok, why in verdicts if not ok for part in _kinds(why)})
            history.append(Probe(rate=rate, kept_up=kept, reason="; ".join(reasons)))
        return history + [p for p, _ in self.probes] + self.aborted


def _kinds(why: str) -> list[str]:
    """The kinds of reason in a keeps-up verdict, without the per-run figures."""
    kinds = []
    for part in why.split("; "):
        kind = part.split(" (")[0].lstrip("0123456789 ").strip()
        if kind.startswith("accepted "):
            kind = "accepted < 95 % of target"
        elif kind.startswith("classified p99"):
            kind = "classified p99 > 5 s"
        kinds.append(kind)
    return kinds


async def run_sweep(
    *,
    options_for: Callable[[float], BenchOptions],
    rates: Sequence[float],
    runs: int,
    plan: SearchPlan | None,
    tokens: Tokens,
    console: Console,
    timeline: Timeline,
    seed: int,
) -> Sweep:
    """``runs`` runs at each fixed rate, then (with a ``plan``) one run per probe of the
    maximum-rate search, with the monitor sampling throughout."""
    first = options_for(rates[0] if rates else (plan.start if plan else 100.0))
    await check_ready([first.intake_url, first.reporting_url])
    sweep = Sweep()
    run_no = 0
    await timeline.start()
    sweep.pids = dict(timeline.pids)
    try:
        with contextlib.ExitStack() as stack, progress_bar(console) as progress:
            stub = stack.enter_context(StubServer()) if first.with_generator_ceiling else None
            for rate in rates:
                options = options_for(rate)
                ceiling = None
                for _ in range(runs):
                    run_no += 1
                    try:
                        result = await run_once(
                            options=options,
                            tokens=tokens,
                            run=run_no,
                            seed=seed + run_no,
                            progress=progress,
                            stub=stub,
                            timeline=timeline,
                            ceiling=ceiling,
                        )
                    except (TimeoutError, RuntimeError) as exc:
                        progress.console.print(f"[red]run {run_no} at {rate:,.0f}/s failed: {exc}")
                        sweep.failed.append((rate, str(exc)))
                        continue
                    ceiling = result.generator_ceiling  # measured once per rate
                    sweep.fixed.setdefault(rate, []).append(result)
            while plan is not None and (rate := next_rate(sweep.probe_history(), plan)):
                run_no += 1
                progress.console.print(f"maximum search: probing {rate:,.0f}/s")
                try:
                    result = await run_once(
                        options=options_for(rate),
                        tokens=tokens,
                        run=run_no,
                        seed=seed + run_no,
                        progress=progress,
                        stub=stub,
                        timeline=timeline,
                    )
                except (TimeoutError, RuntimeError) as exc:
                    sweep.failed.append((rate, str(exc)))
                    sweep.aborted.append(Probe(rate=rate, kept_up=False, reason=str(exc)))
                    continue
                ok, why = result.keeps_up()
                progress.console.print(f"  {rate:,.0f}/s: {why}")
                sweep.probes.append((Probe(rate=rate, kept_up=ok, reason=why), result))
    finally:
        await timeline.stop()
        sweep.samples = list(timeline.samples)
    return sweep


async def run_soak(
    *, options: BenchOptions, tokens: Tokens, console: Console, timeline: Timeline, seed: int
) -> tuple[RunResult, list[Sample]]:
    """One long run at a steady rate, the monitor sampling throughout."""
    await check_ready([options.intake_url])
    await timeline.start()
    try:
        with progress_bar(console) as progress:
            result = await run_once(
                options=options,
                tokens=tokens,
                run=1,
                seed=seed,
                progress=progress,
                timeline=timeline,
            )
    finally:
        await timeline.stop()
    return result, list(timeline.samples)


@dataclass
class ProfileRun:
    result: RunResult
    window: tuple[float, float]  # wall-clock start and end of the sampling
    python: dict[str, Path]  # process -> py-spy folded stacks
    ferretdb: Path | None
    errors: dict[str, str]


async def run_profile(
    *,
    options: BenchOptions,
    tokens: Tokens,
    console: Console,
    timeline: Timeline,
    seed: int,
    warmup: float,
    seconds: float,
    ferretdb_debug_url: str | None,
    raw_dir: Path,
) -> ProfileRun:
    """One steady run; after ``warmup`` s every service is sampled for ``seconds``, into
    ``raw_dir`` (which must exist)."""
    await check_ready([options.intake_url])
    await timeline.start()
    errors: dict[str, str] = {}
    python: dict[str, Path] = {}
    ferretdb: Path | None = None
    try:
        with progress_bar(console) as progress:
            load = asyncio.create_task(
                run_once(
                    options=options,
                    tokens=tokens,
                    run=1,
                    seed=seed,
                    progress=progress,
                    timeline=timeline,
                )
            )
            # Let the consumers reach their steady state before sampling.
            await asyncio.wait({load}, timeout=warmup)
            pids = timeline.processes.resolve()
            start = time.time()  # the timeline's clock
            jobs: dict[str, Any] = {}
            for name in profiling.PYTHON_SERVICES:
                if name in pids:
                    python[name] = raw_dir / f"{name}.txt"
                    jobs[name] = profiling.record_python(
                        pids[name], seconds=seconds, out=python[name]
                    )
                else:
                    errors[name] = "not running"
            if ferretdb_debug_url:
                jobs["ferretdb"] = profiling.record_ferretdb(ferretdb_debug_url, seconds=seconds)
            else:
                errors["ferretdb"] = "no debug endpoint (start the stack with `make up`)"
            outcomes = await asyncio.gather(*jobs.values())
            end = time.time()
            for name, outcome in zip(jobs, outcomes, strict=True):
                if isinstance(outcome, bytes):
                    ferretdb = raw_dir / "ferretdb.pprof"
                    ferretdb.write_bytes(outcome)
                elif outcome:
                    errors[name] = outcome
                    python.pop(name, None)
            result = await load
    finally:
        await timeline.stop()
    return ProfileRun(
        result=result,
        window=(start, end),
        python=python,
        ferretdb=ferretdb,
        errors=errors,
    )


async def run_all(*, options: BenchOptions, tokens: Tokens, console: Console) -> list[RunResult]:
    """``options.runs`` runs, one after the other, each with fresh report ids."""
    # Reporting is only read when its read model is polled.
    await check_ready([options.intake_url, options.reporting_url][: 2 if options.poll_every else 1])
    results = []
    with contextlib.ExitStack() as stack, progress_bar(console) as progress:
        stub = stack.enter_context(StubServer()) if options.with_generator_ceiling else None
        for run in range(1, options.runs + 1):
            results.append(
                await run_once(
                    options=options,
                    tokens=tokens,
                    run=run,
                    seed=options.seed + run,
                    progress=progress,
                    stub=stub,
                )
            )
    return results
