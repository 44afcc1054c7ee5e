"""What the stack does while it is loaded: CPU and RSS of every process, consumer lag.

A ``Timeline`` samples, every ``interval`` seconds,

- each service's and each infrastructure process's CPU time and resident memory
  (psutil, the process plus its children), found through the launcher's pid files
  (``var/run/<name>.pid``; a pid is used only while the file proves it is the process
  the launcher started);
- each consumer group's lag: end offset minus committed offset, summed over the
  partitions of the pipeline topics the group has committed on (Kafka admin API).

The summaries (cores used over a window, peak RSS, lag at a time) are pure functions of
the samples, so they are unit-tested without a stack.
"""

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pantau.localstack import procs
from pantau.shared.topics import DLQ_SUFFIX

SERVICES = ("intake", "classifier", "notifier", "reporting")
INFRA = ("kafka", "ferretdb", "mongod", "smtp", "prometheus")
GENERATOR = "generator"  # the benchmark's own process and its generator processes
MACHINE = "machine"  # every process on the host: busy CPU time, used memory
# Consumer groups of the services (without PANTAU_CONSUMER_GROUP_PREFIX).
GROUPS = ("pantau-classifier", "pantau-notifier", "pantau-notifier-status", "pantau-reporting")
LAG_TIMEOUT_SECONDS = 5.0
MB = 1024 * 1024


@dataclass(frozen=True)
class ProcSample:
    cpu_seconds: float  # user + system, since the process started (children included)
    rss: int  # bytes (children included)
    # Time its threads were runnable but waiting for a CPU (run queue, /proc schedstat):
    # high when the machine, not the process, is the limit.
    wait_seconds: float = 0.0


@dataclass(frozen=True)
class Sample:
    at: float  # wall clock, epoch seconds
    procs: dict[str, ProcSample]
    lag: dict[str, int]  # consumer group -> messages behind


def run_queue_wait(pid: int) -> float:
    """Seconds the threads of ``pid`` spent runnable but not running (second field of
    each ``/proc/<pid>/task/<tid>/schedstat``); 0 when unavailable."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def _vm_hwm(pid: int) -> int | None:
    """Peak resident set size of ``pid`` since it started (``VmHWM``), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class Processes:
    """The stack's processes, by the launcher's pid files."""

    def __init__(
        self,
        run_dir: Path,
        names: Sequence[str] = SERVICES + INFRA,
        *,
        extra: Mapping[str, int] | None = None,
    ) -> None:
        """``extra`` names further pids to watch (the benchmark's own process tree)."""
        self._run_dir = run_dir
        self._names = names
        self._extra = dict(extra or {})
        self._found: dict[str, psutil.Process] = {}

    def resolve(self) -> dict[str, int]:
        """(Re)find every named process that is running; return name -> pid."""
        found = {}
        for name in self._names:
            record = procs.read_record(self._run_dir / f"{name}.pid")
            if record is None or not procs.is_ours(record):
                continue
            with contextlib.suppress(psutil.Error):
                found[name] = psutil.Process(record.pid)
        for name, pid in self._extra.items():
            with contextlib.suppress(psutil.Error):
                found[name] = psutil.Process(pid)
        self._found = found
        return {name: p.pid for name, p in found.items()}

    def sample(self) -> dict[str, ProcSample]:
        out = {}
        for name, process in self._found.items():
            cpu, rss, wait = 0.0, 0, 0.0
            with contextlib.suppress(psutil.Error):
                for member in (process, *process.children(recursive=True)):
                    with contextlib.suppress(psutil.Error):
                        times = member.cpu_times()
                        cpu += times.user + times.system
                        rss += member.memory_info().rss
                        wait += run_queue_wait(member.pid)
                out[name] = ProcSample(cpu_seconds=cpu, rss=rss, wait_seconds=wait)
        times = psutil.cpu_times()
        busy = times.user + times.system + times.nice + getattr(times, "irq", 0.0)
        busy += getattr(times, "softirq", 0.0) + getattr(times, "steal", 0.0)
        out[MACHINE] = ProcSample(cpu_seconds=busy, rss=psutil.virtual_memory().used)
        return out

    def peak_rss(self) -> dict[str, int]:
        """Lifetime peak RSS (VmHWM) of each process itself (not its children)."""
        out = {}
        for name, process in self._found.items():
            if (hwm := _vm_hwm(process.pid)) is not None:
                out[name] = hwm
        return out


def total_lag(committed: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]) -> int:
    """Messages between each committed offset and its partition's end, summed. Partitions
    without a committed offset are left out (the group has not read them yet)."""
    return sum(max(0, ends[tp] - offset) for tp, offset in committed.items() if tp in ends)


class LagProbe:
    """Committed offsets of the services' consumer groups against the topics' end offsets."""

    def __init__(self, *, bootstrap: str, topic_prefix: str = "", group_prefix: str = "") -> None:
        self._bootstrap = bootstrap
        self._topic_prefix = topic_prefix
        self.groups = {f"{group_prefix}{g}": g for g in GROUPS}
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect (aiokafka clients must be made inside the running loop)."""
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, request_timeout_ms=10_000
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False
        )
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
        self._admin = self._consumer = None

    def _ours(self, tp: TopicPartition) -> bool:
        return tp.topic.startswith(f"{self._topic_prefix}pantau.") and not tp.topic.endswith(
            DLQ_SUFFIX
        )

    async def sample(self) -> dict[str, int]:
        """Lag per group (short name), for the groups that exist."""
        if self._admin is None or self._consumer is None:
            raise RuntimeError("LagProbe.start() first")
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group, short in self.groups.items():
            offsets = await self._admin.list_consumer_group_offsets(group)
            committed[short] = {
                tp: meta.offset
                for tp, meta in offsets.items()
                if self._ours(tp) and meta.offset >= 0
            }
        partitions = {tp for c in committed.values() for tp in c}
        if not partitions:
            return {}
        ends = await self._consumer.end_offsets(list(partitions))
        return {short: total_lag(c, ends) for short, c in committed.items() if c}


@dataclass
class Timeline:
    """Samples taken in the background between ``start`` and ``stop``."""

    processes: Processes
    lag: LagProbe | None
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    lag_errors: int = 0
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.pids = self.processes.resolve()
        if self.lag is not None:
            await self.lag.start()
        await self.take()
        self._task = asyncio.create_task(self._loop())

    async def take(self) -> Sample:
        lag: dict[str, int] = {}
        if self.lag is not None:
            try:
                lag = await asyncio.wait_for(self.lag.sample(), LAG_TIMEOUT_SECONDS)
            except Exception:
                self.lag_errors += 1
        sample = Sample(at=time.time(), procs=self.processes.sample(), lag=lag)
        self.samples.append(sample)
        return sample

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.take()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.take()
        if self.lag is not None:
            await self.lag.stop()

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end]


# --- pure summaries ------------------------------------------------------------------


def cores_used(samples: Sequence[Sample], name: str) -> float | None:
    """Mean CPU cores ``name`` used between the first and last sample that saw it."""
    seen = [(s.at, s.procs[name].cpu_seconds) for s in samples if name in s.procs]
    if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
        return None
    return max(0.0, seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0])


def cores_waiting(samples: Sequence[Sample], name: str) -> float | None:
    """Mean number of ``name``'s threads waiting for a CPU (run-queue seconds per second)."""
    seen = [(s.at, s.procs[name].wait_seconds) for s in samples if name in s.procs]
    if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
        return None
    return max(0.0, seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0])


def cpu_series(samples: Sequence[Sample], name: str) -> list[tuple[float, float]]:
    """(time, cores used since the previous sample) for ``name``."""
    seen = [(s.at, s.procs[name].cpu_seconds) for s in samples if name in s.procs]
    return [(t1, max(0.0, c1 - c0) / (t1 - t0)) for (t0, c0), (t1, c1) in pairwise(seen) if t1 > t0]


def peak_rss_mb(samples: Iterable[Sample], name: str) -> float | None:
    values = [s.procs[name].rss for s in samples if name in s.procs]
    return max(values) / MB if values else None


def rss_series_mb(samples: Iterable[Sample], name: str) -> list[tuple[float, float]]:
    return [(s.at, s.procs[name].rss / MB) for s in samples if name in s.procs]


def lag_series(samples: Iterable[Sample], group: str) -> list[tuple[float, int]]:
    return [(s.at, s.lag[group]) for s in samples if group in s.lag]


def lag_at_end(samples: Sequence[Sample], group: str) -> int | None:
    series = lag_series(samples, group)
    return series[-1][1] if series else None


def names_seen(samples: Iterable[Sample]) -> list[str]:
    seen = {name for s in samples for name in s.procs}
    order = [*SERVICES, *INFRA, GENERATOR, MACHINE]
    return sorted(seen, key=lambda n: (order.index(n) if n in order else len(order), n))


def groups_seen(samples: Iterable[Sample]) -> list[str]:
    return sorted({g for s in samples for g in s.lag})
