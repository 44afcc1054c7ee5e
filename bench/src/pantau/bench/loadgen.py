"""The HTTP load generator: one or more processes, each an asyncio loop with aiohttp.

The generator shares this 2-core machine with the stack it measures, so its own CPU per
request matters: with aiohttp's client (C-accelerated HTTP parser) one process sends
1,750-2,950 requests/s to a bare endpoint here, with httpx it sent 143-174 (`python -m
pantau.bench calibrate -n 3000 --max-processes 1`, alternating, on a loaded machine).
Higher rates are split over several processes that share one
schedule: process ``w`` of ``P`` sends requests ``w, w+P, w+2P, ...`` of the global
open-loop schedule. Every process prepares its bodies first, then all start together.
"""

import asyncio
import json
import multiprocessing as mp
import multiprocessing.synchronize
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from pantau.bench.pacing import Pacer, split_evenly
from pantau.bench.payloads import ReportFactory

READY_TIMEOUT_SECONDS = 60.0
START_DELAY_SECONDS = 0.5  # between "all ready" and the first request, for the schedule
POLL_CONNECTIONS = 8


@dataclass(frozen=True)
class WorkerSpec:
    """What one generator process does."""

    worker: int
    workers: int
    intake_url: str
    count: int
    total_rate: float
    seed: int
    monitor_tokens: tuple[str, ...]
    concurrency: int = 64
    request_timeout: float = 10.0
    reporting_url: str | None = None
    operator_token: str | None = None
    poll_every: int = 0  # poll reporting for every n-th accepted report; 0 = never
    poll_interval: float = 0.05
    poll_timeout: float = 30.0
    # Stop sending this many seconds after the common start, even if reports are left:
    # a stack too slow for the rate then shows as unsent reports, not as a hung run.
    send_deadline: float | None = None


@dataclass
class Submission:
    """One POST: what was sent, when (wall clock, seconds), and what came back."""

    client_report_id: str
    sent_at: float
    status: int = 0  # 0: no HTTP answer (connection error or timeout)
    http_seconds: float = 0.0
    report_id: str | None = None
    error: str | None = None
    read_model_at: float | None = None  # when reporting first showed its classification
    polled: bool = False  # its read model was polled (every ``poll_every``-th report)


@dataclass
class WorkerResult:
    worker: int
    submissions: list[Submission] = field(default_factory=list)
    started_at: float = 0.0
    sent_until: float = 0.0
    finished_at: float = 0.0
    max_lag: float = 0.0
    late: int = 0
    capped: int = 0  # sends that waited for a free in-flight slot: the stack was saturated
    unsent: int = 0  # reports left when the send deadline passed
    polls: int = 0


@dataclass(frozen=True)
class Shared:
    """Cross-process state: per-worker progress counters and the common start time."""

    progress: Any  # Array('q', 2 * workers): [sent, answered] per worker, one writer each
    ready: Any  # Value('i'): workers that finished preparing
    start_at: Any  # Value('d'): wall-clock start of the schedule, set once all are ready
    go: mp.synchronize.Event


def new_shared(ctx: Any, workers: int) -> Shared:
    return Shared(
        progress=ctx.Array("q", 2 * workers, lock=False),
        ready=ctx.Value("i", 0),
        start_at=ctx.Value("d", 0.0),
        go=ctx.Event(),
    )


def encode_bodies(spec: WorkerSpec) -> list[tuple[str, bytes]]:
    """This worker's share of bodies, serialised ahead of time so that generating them
    does not count against the send rate."""
    factory = ReportFactory(seed=spec.seed * 1000 + spec.worker)
    bodies = []
    for body in factory.batch(spec.count):
        bodies.append((body["client_report_id"], json.dumps(body).encode()))
    return bodies


async def poll_read_model(
    client: aiohttp.ClientSession, spec: WorkerSpec, submission: Submission, result: WorkerResult
) -> None:
    """GET the report from reporting until it shows a classification; note when."""
    url = f"{spec.reporting_url}/v1/reports/{submission.report_id}"
    headers = {"authorization": f"Bearer {spec.operator_token}"}
    deadline = time.time() + spec.poll_timeout
    while time.time() < deadline:
        result.polls += 1
        try:
            async with client.get(url, headers=headers) as response:
                body = await response.read()
            if response.status == 200 and json.loads(body).get("classification"):
                submission.read_model_at = time.time()
                return
        except (aiohttp.ClientError, TimeoutError):
            pass  # reporting busy or restarting: keep polling until the deadline
        await asyncio.sleep(spec.poll_interval)


async def drive(
    spec: WorkerSpec,
    bodies: list[tuple[str, bytes]],
    *,
    start_at: float,
    on_sent: Callable[[int], None] = lambda n: None,
    on_answered: Callable[[int], None] = lambda n: None,
) -> WorkerResult:
    """Send ``bodies`` on this worker's slice of the common schedule and collect results."""
    result = WorkerResult(worker=spec.worker)
    per_worker_rate = spec.total_rate / spec.workers
    pacer = Pacer(rate=per_worker_rate, clock=time.time)
    # Interleave the workers: worker w's first request is the global request w.
    pacer.begin(at=start_at + spec.worker / spec.total_rate)
    timeout = aiohttp.ClientTimeout(total=spec.request_timeout)
    in_flight = asyncio.Semaphore(spec.concurrency)
    polls: set[asyncio.Task[None]] = set()
    sends: set[asyncio.Task[None]] = set()

    # Polls get their own small pool, so they never take a connection a POST is due on.
    async with (
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=spec.concurrency), timeout=timeout
        ) as client,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POLL_CONNECTIONS), timeout=timeout
        ) as poller,
    ):
        url = f"{spec.intake_url}/v1/reports"

        async def send(index: int, client_report_id: str, content: bytes) -> None:
            token = spec.monitor_tokens[index % len(spec.monitor_tokens)]
            submission = Submission(client_report_id=client_report_id, sent_at=time.time())
            started = time.perf_counter()
            try:
                async with client.post(
                    url,
                    data=content,
                    headers={
                        "authorization": f"Bearer {token}",
                        "content-type": "application/json",
                    },
                ) as response:
                    body = await response.read()
                submission.status = response.status
                if response.status == 202:
                    submission.report_id = json.loads(body)["report_id"]
                else:
                    submission.error = body[:300].decode(errors="replace")
            except (aiohttp.ClientError, TimeoutError) as exc:
                submission.error = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                submission.http_seconds = time.perf_counter() - started
                in_flight.release()
                result.submissions.append(submission)
                on_answered(1)
            answered = len(result.submissions)
            if spec.poll_every and submission.report_id and answered % spec.poll_every == 0:
                submission.polled = True
                task = asyncio.create_task(poll_read_model(poller, spec, submission, result))
                polls.add(task)
                task.add_done_callback(polls.discard)

        result.started_at = time.time()
        stop_at = start_at + spec.send_deadline if spec.send_deadline else float("inf")
        for position, (client_report_id, content) in enumerate(bodies):
            index = await pacer.wait_turn()
            if in_flight.locked():
                result.capped += 1
            if spec.send_deadline is None or not in_flight.locked():
                await in_flight.acquire()
            else:  # only a saturated stack pays for the timeout wrapper
                try:
                    await asyncio.wait_for(in_flight.acquire(), max(0.0, stop_at - time.time()))
                except TimeoutError:
                    result.unsent = len(bodies) - position
                    break
            if time.time() > stop_at:
                in_flight.release()
                result.unsent = len(bodies) - position
                break
            task = asyncio.create_task(send(index, client_report_id, content))
            sends.add(task)
            task.add_done_callback(sends.discard)
            on_sent(1)
        result.sent_until = time.time()
        while sends:
            await asyncio.gather(*list(sends))
        while polls:
            await asyncio.gather(*list(polls))
    result.finished_at = time.time()
    result.max_lag, result.late = pacer.max_lag, pacer.late
    return result


def _run_loop(coro_factory: Callable[[], Any]) -> Any:
    try:
        import uvloop  # a faster loop lets one process push more requests per second

        return uvloop.run(coro_factory())
    except ImportError:
        return asyncio.run(coro_factory())


def worker_main(spec: WorkerSpec, shared: Shared, results: Any) -> None:
    """Entry point of one generator process: prepare, wait for the start, drive, report."""
    bodies = encode_bodies(spec)
    with shared.ready.get_lock():
        shared.ready.value += 1
    shared.go.wait(READY_TIMEOUT_SECONDS)
    slot = 2 * spec.worker

    def on_sent(n: int) -> None:
        shared.progress[slot] += n

    def on_answered(n: int) -> None:
        shared.progress[slot + 1] += n

    result = _run_loop(
        lambda: drive(
            spec,
            bodies,
            start_at=shared.start_at.value,
            on_sent=on_sent,
            on_answered=on_answered,
        )
    )
    results.put(result)


@dataclass
class Generators:
    """Running generator processes; ``wait_ready``, ``start``, then ``collect``."""

    specs: list[WorkerSpec]
    shared: Shared
    results: Any
    processes: list[Any]

    def totals(self) -> tuple[int, int]:
        """(sent, answered) over all workers so far."""
        values = list(self.shared.progress)
        return sum(values[0::2]), sum(values[1::2])

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while self.shared.ready.value < len(self.specs):
            if time.monotonic() > deadline:
                raise TimeoutError("generator processes did not get ready in time")
            if any(p.exitcode not in (None, 0) for p in self.processes):
                raise RuntimeError("a generator process died while preparing")
            time.sleep(0.02)

    def start(self) -> float:
        """Release every worker on one common schedule; return its wall-clock start."""
        start_at = time.time() + START_DELAY_SECONDS
        self.shared.start_at.value = start_at
        self.shared.go.set()
        return start_at

    def terminate(self) -> None:
        """Stop every generator process of this run (they are ours: we started them)."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(timeout=5)

    def collect(self, timeout: float) -> list[WorkerResult]:
        """Every worker's result (results are read before joining: a full pipe blocks exit)."""
        out: list[WorkerResult] = []
        deadline = time.monotonic() + timeout
        while len(out) < len(self.specs):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.terminate()
                raise TimeoutError("generator processes did not finish in time")
            try:
                out.append(self.results.get(timeout=min(remaining, 0.5)))
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in self.processes):
                    self.terminate()
                    raise RuntimeError("a generator process crashed") from None
        for process in self.processes:
            process.join(timeout=10)
        return sorted(out, key=lambda r: r.worker)


def launch(
    *,
    workers: int,
    count: int,
    rate: float,
    seed: int,
    intake_url: str,
    monitor_tokens: tuple[str, ...],
    **options: Any,
) -> Generators:
    """Start ``workers`` generator processes (spawned: no inherited event loop or sockets).

    Each gets an even share of the requests and of the monitor tokens, so one token
    is never used by two processes (intake rate-limits per token subject).
    """
    ctx = mp.get_context("spawn")
    shared = new_shared(ctx, workers)
    results = ctx.Queue()
    specs = []
    for worker, share in enumerate(split_evenly(count, workers)):
        tokens = monitor_tokens[worker::workers] or monitor_tokens
        specs.append(
            WorkerSpec(
                worker=worker,
                workers=workers,
                intake_url=intake_url,
                count=share,
                total_rate=rate,
                seed=seed,
                monitor_tokens=tokens,
                **options,
            )
        )
    processes = [
        ctx.Process(target=worker_main, args=(spec, shared, results), daemon=True) for spec in specs
    ]
    for process in processes:
        process.start()
    return Generators(specs=specs, shared=shared, results=results, processes=processes)
