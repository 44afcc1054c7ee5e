"""One benchmark run end to end, and repeated runs: the orchestration in the main process.

Per run: watch the topics (positioned at their ends), start the generator processes,
drive the load with a progress bar, wait for the reports to be classified, then
measure the raw-produce baseline with the same bodies.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantau.bench import baseline as baseline_mod
from pantau.bench import metrics
from pantau.bench.arrivals import TopicArrivals
from pantau.bench.calibrate import StubServer, calibrate
from pantau.bench.loadgen import Generators, WorkerResult, encode_bodies, launch
from pantau.bench.results import RunResult, summarise
from pantau.bench.tokens import Tokens
from pantau.shared.topics import Topics

ALERT_GRACE_SECONDS = 2.0  # alerts follow classification; not every report gets one


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
) -> RunResult:
    """One run: generator ceiling, load, drain, baseline. ``seed`` must differ per run
    (fresh report ids)."""
    ceiling = None
    if stub is not None:
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
            poll_timeout=options.drain_timeout,
        )
        # The schedule alone takes count/rate seconds; allow for a slow stack on top.
        timeout = options.count / options.rate + options.drain_timeout + 60
        workers = await _drive_with_progress(
            generators, progress, run=run, count=options.count, timeout=timeout
        )
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
        await asyncio.sleep(ALERT_GRACE_SECONDS)
        progress.update(draining, completed=watcher.count("classified", accepted))
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
