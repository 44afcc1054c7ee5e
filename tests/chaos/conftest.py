"""The chaos harness: an own stack (Kafka, FerretDB, SMTP sink, four services on free ports,
var dir under /tmp/pantau-chaos/), steady load from a generator that records every report
id intake accepted and every POST that failed, the faults, and what is read back after.

``PANTAU_CHAOS=full`` (``make chaos``) runs the full scenarios one after the other (60 s
outages) and writes ``var/chaos/summary.md``; by default the short variant runs in
``make test`` (all services killed at once, store and SMTP outages overlapped for 10 s;
about 90 s); ``PANTAU_CHAOS=off`` skips it. The fixture only *collects*; the tests
in ``test_chaos.py`` judge, one property each.
"""

import asyncio
import contextlib
import email
import email.policy
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient
from rich.console import Console

from pantau.cli.dlq import partitions_of
from pantau.localstack import faults
from pantau.localstack.config import (
    FAST_START_JVM_OPTIONS,
    ServiceSpec,
    StackConfig,
    default_cache_dir,
    ensure_env_file,
    find_repo_root,
)
from pantau.localstack.errors import StackError
from pantau.localstack.launcher import Launcher
from pantau.localstack.testing import free_port, wait_for
from pantau.shared import envelope as env
from pantau.shared import testing as shared_events
from pantau.shared.auth import Role, issue_token
from pantau.shared.envelope import utcnow
from pantau.shared.topics import Topics

MODE = os.environ.get("PANTAU_CHAOS", "short")  # short | full | off
FULL = MODE == "full"
OUTAGE_SECONDS = 60.0 if FULL else 10.0
RATE_PER_SECOND = 4.0 if FULL else 3.0
SERVICES = ("intake", "classifier", "notifier", "reporting")
# Consumer groups reading each topic: each dead-letters a poison message on its own.
CONSUMERS = {
    "pantau.reports.submitted": ("classifier", "reporting"),
    "pantau.reports.classified": ("notifier", "reporting"),
    "pantau.alerts": ("reporting",),
    "pantau.reports.status": ("notifier-status", "reporting"),
}
# Just under the broker's default message.max.bytes (1 MiB): the largest message a
# producer can put on a topic, whose DLQ copy then carries extra headers.
OVERSIZE_BYTES = 1_040_000
TEXTS = (
    "Banjir setinggi lutut merendam TPS {n}, pemungutan suara ditunda.",
    "Warga menerima amplop berisi uang dari tim sukses calon pada malam sebelum pencoblosan.",
    "Surat suara di TPS {n} kurang 40 lembar, KPPS menunggu kiriman dari PPK.",
    "Kepala desa ikut kampanye dan mengajak warga memilih calon nomor 2.",
)
REGIONS = ("32.01.01.1002", "32.04.05", "51.71", "73.71", "11.01", "35.78")


@dataclass
class Scenario:
    name: str
    started: float
    fault_seconds: float = 0.0
    recovery_seconds: float | None = None
    accepted: int = 0
    failed_posts: int = 0
    note: str = ""


@dataclass
class ChaosRun:
    """What the run observed; the tests judge it."""

    mode: str
    var_dir: Path
    accepted: dict[str, str]  # report id → client_report_id (intake answered 202)
    failures: list[tuple[float, str]]  # failed POSTs: (time, status or error)
    posts: int
    scenarios: list[Scenario]
    on_topic: set[str]  # report ids on the submitted topic
    read_model: dict[str, dict[str, Any]]  # report id → {classified, count}
    read_model_converged: bool
    ledger: list[dict[str, Any]]
    mails: list[dict[str, str]]  # alert id, to, reports of every mail in the sink
    poison_keys: dict[str, list[str]]  # topic → keys of the poison injected there
    dlq_before_replay: dict[str, Counter[str]]  # DLQ topic → key → copies
    dlq_after_replay: dict[str, Counter[str]]
    dlq_errors: dict[str, Counter[str]]  # DLQ topic → error class → copies
    replay_output: str
    parked_report: str  # a valid report parked in the submitted DLQ, then replayed
    parked_in_read_model: bool
    # Alert ids the notifier resumed after being cut off between send and record.
    resumed_alerts: set[str] = field(default_factory=set)
    consumers: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(CONSUMERS))
    logs: dict[str, str] = field(default_factory=dict)


def _token(secret: str, role: Role, subject: str) -> str:
    return issue_token(secret=secret, issuer="pantau", role=role, subject=subject)


class LoadGenerator:
    """Posts reports at a fixed rate; records every 202 and every failure."""

    def __init__(self, http: httpx.AsyncClient, url: str, tokens: list[str]) -> None:
        self.http, self.url, self.tokens = http, url, tokens
        self.accepted: dict[str, str] = {}
        self.failures: list[tuple[float, str]] = []
        self.posts = 0
        self._seq = itertools.count(1)
        self._inflight: set[asyncio.Task[None]] = set()

    def body(self) -> dict[str, Any]:
        n = next(self._seq)
        return {
            "client_report_id": str(uuid.uuid4()),
            "occurred_at": (utcnow() - timedelta(minutes=2)).isoformat(),
            "region_code": REGIONS[n % len(REGIONS)],
            "tps": n % 30 + 1,
            "description": TEXTS[n % len(TEXTS)].format(n=f"{n % 30 + 1:02d}") + f" #{n}",
            "anonymous": True,
        }

    async def post(self, body: dict[str, Any], token: str) -> str | None:
        self.posts += 1
        try:
            got = await self.http.post(
                f"{self.url}/v1/reports",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
        except httpx.HTTPError as exc:
            self.failures.append((time.monotonic(), type(exc).__name__))
            return None
        if got.status_code == 202:
            report_id = str(got.json()["report_id"])
            self.accepted[report_id] = body["client_report_id"]
            return report_id
        self.failures.append((time.monotonic(), str(got.status_code)))
        return None

    async def run(self, stop: asyncio.Event, rate: float) -> None:
        interval = 1.0 / rate
        next_at = time.monotonic()
        tokens = itertools.cycle(self.tokens)
        while not stop.is_set():
            task = asyncio.create_task(self.post(self.body(), next(tokens)))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            next_at += interval
            # The generator's own clock: a fixed rate, not a wait for some condition.
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if self._inflight:
            await asyncio.gather(*self._inflight)


_CONFIG_FIELDS = {f.name for f in fields(StackConfig)}
_OTHER_PORTS = ("prometheus_port",)


class Stack:
    """The chaos stack and the clients to look into it."""

    def __init__(self, root: Path) -> None:
        ports = {name: free_port() for name in SERVICES}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        self.urls = urls
        self.config = StackConfig(
            repo_root=find_repo_root(),
            var_dir=root / "var",
            cache_dir=default_cache_dir(),
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            mongo_port=free_port(),
            smtp_port=free_port(),
            services=tuple(
                ServiceSpec(name=name, module=f"pantau.{name}", port=ports[name])
                for name in SERVICES
            ),
            kafka_heap="512m",
            kafka_jvm_options=FAST_START_JVM_OPTIONS,
            # The launcher may run more parts (e.g. Prometheus): every port of ours is free.
            **{name: free_port() for name in _OTHER_PORTS if name in _CONFIG_FIELDS},  # type: ignore[arg-type]
            extra_env={
                # Never the developer's shared stack: no prefixes, own servers only.
                "PANTAU_TOPIC_PREFIX": "",
                "PANTAU_CONSUMER_GROUP_PREFIX": "",
                "PANTAU_MONGO_DB_SUFFIX": "",
                "PANTAU_ALERT_EMAIL_TO": "posko@pantau.local",
                "PANTAU_PUBLIC_BASE_URL": urls["reporting"],
                "PANTAU_NOTIFIER_PUBLIC_URL": urls["notifier"],
                # Steady load from a few monitors and one recipient: no limit may defer it.
                "PANTAU_CLIENT_RATE_LIMIT": "100000/minute",
                "PANTAU_NOTIFIER_RATE_PER_RECIPIENT_PER_MINUTE": "100000",
                "PANTAU_NOTIFIER_RATE_BURST_PER_RECIPIENT": "1000",
                "PANTAU_NOTIFIER_RATE_PER_CHANNEL_PER_SECOND": "1000",
                "PANTAU_NOTIFIER_RATE_BURST_PER_CHANNEL": "1000",
                **({} if FULL else {"PANTAU_NOTIFIER_RETRY_MAX_SECONDS": "5"}),
            },
        )
        self.console = Console(
            stderr=True, quiet=not (FULL or os.environ.get("PANTAU_CHAOS_VERBOSE"))
        )
        self.launcher = Launcher(self.config, console=self.console)
        self.store = self.launcher.store_kind()
        self.secret = ""
        self.mongo: AsyncMongoClient[dict[str, Any]] | None = None

    def up(self) -> None:
        self.launcher.up()
        self.secret = ensure_env_file(self.config)["PANTAU_AUTH_SECRET"]

    async def restart(self, *, timeout: float = 120.0) -> None:
        """Start whatever is not running and wait until everything is healthy. A killed
        server's port can stay busy for a moment (its orphaned connections are closing):
        then the start is tried again until ``timeout``."""
        last: list[StackError] = []

        async def started() -> bool:
            try:
                await asyncio.to_thread(self.launcher.up)
            except StackError as exc:
                if "already in use" not in str(exc):
                    raise
                last[:] = [exc]
                return False
            return True

        try:
            await wait_for(started, timeout=timeout, interval=1.0)
        except AssertionError as exc:
            raise AssertionError(f"restart failed: {last[-1] if last else exc}") from exc

    async def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        await asyncio.to_thread(faults.kill_part, self.config, name, sig=sig, timeout=60)

    def smtp_refuse(self, on: bool) -> None:
        faults.signal_part(self.config, "smtp", signal.SIGUSR1 if on else signal.SIGUSR2)

    @property
    def bootstrap(self) -> str:
        return self.config.kafka_bootstrap

    def db(self, name: str) -> Any:
        assert self.mongo is not None
        return self.mongo[name]

    def log_tails(self, lines: int = 30) -> dict[str, str]:
        from pantau.localstack.launcher import tail_lines

        names = ("kafka", self.store, "smtp", *SERVICES)
        return {n: tail_lines(self.config.log_file(n), lines=lines) for n in names}


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` from the beginning up to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await partitions_of(bootstrap, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            for tp, got in batch.items():
                records.extend(r for r in got if r.offset < ends[tp])
                if got and got[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return records
    finally:
        await consumer.stop()


def poison_messages(topic_base: str) -> list[tuple[str, bytes]]:
    """(kind, body) of the three poison messages for one topic."""
    submitted = shared_events.submitted(region="32.01.01.1002")
    valid = {
        "pantau.reports.submitted": submitted,
        "pantau.reports.classified": shared_events.classified(submitted),
    }.get(topic_base, submitted)
    unknown = json.loads(valid.to_bytes())
    unknown["type"] = {
        "pantau.reports.submitted": "report.submitted.v9",
        "pantau.reports.classified": "report.classified.v9",
        "pantau.alerts": "alert.status_changed.v9",
        "pantau.reports.status": "report.status_changed.v9",
    }[topic_base]
    oversize = {"event_id": str(uuid.uuid4()), "type": "x", "junk": "x" * OVERSIZE_BYTES}
    return [
        ("invalid-json", b'{"event_id": "not json'),
        ("unknown-version", json.dumps(unknown).encode()),
        ("oversize", json.dumps(oversize).encode()),
    ]


async def inject_poison(stack: Stack) -> dict[str, list[str]]:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.bootstrap, acks="all", max_request_size=2 * OVERSIZE_BYTES
    )
    await producer.start()
    keys: dict[str, list[str]] = {}
    try:
        for topic in CONSUMERS:
            for kind, body in poison_messages(topic):
                key = f"poison-{kind}-{uuid.uuid4().hex[:8]}"
                await producer.send_and_wait(topic, body, key=key.encode())
                keys.setdefault(topic, []).append(key)
    finally:
        await producer.stop()
    return keys


async def park_valid_report(stack: Stack) -> str:
    """A valid submitted event sitting in the submitted DLQ, as one dead-lettered by an
    earlier fault now fixed: ``pantau dlq replay`` must bring it into the pipeline."""
    event = shared_events.submitted(region="32.01.01.1002")
    topic = "pantau.reports.submitted"
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            Topics.dlq(topic),
            event.to_bytes(),
            key=event.subject.encode(),
            headers=[
                (env.HEADER_EVENT_TYPE, event.type.encode()),
                (env.HEADER_DLQ_ORIGINAL_TOPIC, topic.encode()),
                (env.HEADER_DLQ_ERROR_CLASS, b"ServerSelectionTimeoutError"),
                (env.HEADER_DLQ_ERROR_MESSAGE, b"parked by the chaos test"),
            ],
        )
    finally:
        await producer.stop()
    return event.subject


async def dlq_contents(stack: Stack) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
    by_key: dict[str, Counter[str]] = {}
    by_error: dict[str, Counter[str]] = {}
    for topic in CONSUMERS:
        dlq = Topics.dlq(topic)
        records = await read_topic(stack.bootstrap, dlq)
        by_key[dlq] = Counter((r.key or b"").decode(errors="replace") for r in records)
        by_error[dlq] = Counter(
            dict(r.headers).get(env.HEADER_DLQ_ERROR_CLASS, b"?").decode() for r in records
        )
    return by_key, by_error


async def replay_all(stack: Stack) -> str:
    """``pantau dlq replay TOPIC`` for every topic, as an operator would run it."""
    pantau = str(Path(sys.executable).parent / "pantau")
    out: list[str] = []
    for topic in CONSUMERS:
        proc = await asyncio.create_subprocess_exec(
            pantau,
            "dlq",
            "replay",
            topic,
            env={
                **os.environ,
                "PANTAU_KAFKA_BOOTSTRAP": stack.bootstrap,
                "PANTAU_TOPIC_PREFIX": "",
                "PANTAU_CONSUMER_GROUP_PREFIX": "",
                "PANTAU_ENV_FILE": str(stack.config.env_file),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        stdout, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        out.append(f"$ pantau dlq replay {topic}  (exit {proc.returncode})\n{stdout.decode()}")
    return "\n".join(out)


async def read_model(stack: Stack) -> dict[str, dict[str, Any]]:
    # `category` is a plain field of the stored report (its classification is packed
    # with what the API shows; see reporting's adapters/stored_form.py).
    docs = stack.db("pantau_reporting")["reports"].find({}, {"_id": 1, "category": 1})
    return {str(d["_id"]): {"classified": bool(d.get("category"))} async for d in docs}


async def ledger_rows(stack: Stack) -> list[dict[str, Any]]:
    projection = {"message": 0, "attempt_log": 0}
    return [d async for d in stack.db("pantau_notifier")["deliveries"].find({}, projection)]


def resumed_alerts(log: Path) -> set[str]:
    """Alert ids of the notifier's "resuming a delivery cut off mid-send" log lines."""
    found: set[str] = set()
    for line in log.read_text(errors="replace").splitlines():
        if "cut off mid-send" in line and line.startswith("{"):
            with contextlib.suppress(ValueError):
                found.add(str(json.loads(line).get("alert", "")))
    return found


def mails(stack: Stack) -> list[dict[str, str]]:
    found = []
    for path in sorted(stack.config.mail_dir.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.append(
            {
                "alert_id": str(msg.get("X-Pantau-Alert-Id", "")),
                "to": str(msg.get("To", "")),
                "reports": str(msg.get("X-Pantau-Reports", "")),
            }
        )
    return found


async def probe(stack: Stack, load: LoadGenerator, *, timeout: float) -> float:
    """Seconds until a report posted now is classified, alerted (mail sent) and readable."""
    started = time.monotonic()
    operator = _token(stack.secret, Role.OPERATOR, "chaos-operator")

    async def accepted() -> str | None:
        return await load.post(load.body(), load.tokens[0])

    report_id = await wait_for(accepted, timeout=timeout, interval=0.5)

    async def alerted() -> bool:
        try:
            got = await load.http.get(
                f"{stack.urls['reporting']}/v1/reports/{report_id}",
                headers={"Authorization": f"Bearer {operator}"},
                timeout=5,
            )
        except httpx.HTTPError:
            return False
        doc = got.json() if got.status_code == 200 else {}
        alerts = doc.get("alerts") or []
        alerts = alerts.values() if isinstance(alerts, dict) else alerts
        return bool(doc.get("classification")) and any(a.get("status") == "sent" for a in alerts)

    remaining = max(1.0, timeout - (time.monotonic() - started))
    await wait_for(alerted, timeout=remaining, interval=0.2)
    return time.monotonic() - started


async def run_scenarios(stack: Stack, load: LoadGenerator) -> list[Scenario]:
    scenarios: list[Scenario] = []
    recovery_timeout = 300.0 if FULL else 60.0

    async def scenario(name: str, fault: Callable[[], Awaitable[str]]) -> None:
        item = Scenario(name=name, started=time.monotonic())
        accepted, failed = len(load.accepted), len(load.failures)
        item.note = await fault()
        item.fault_seconds = time.monotonic() - item.started
        try:
            item.recovery_seconds = await probe(stack, load, timeout=recovery_timeout)
        except AssertionError as exc:
            item.note += f" NOT RECOVERED within {recovery_timeout:.0f} s: {exc}"
        item.accepted = len(load.accepted) - accepted
        item.failed_posts = len(load.failures) - failed
        scenarios.append(item)
        stack.console.print(f"[bold]chaos[/] {name}: {item}")

    async def kill_restart(*names: str) -> str:
        for name in names:
            await stack.kill(name)
        await stack.restart()
        return f"kill -9 {', '.join(names)}, restarted"

    async def kafka_restart() -> str:
        await stack.kill("kafka", signal.SIGTERM)
        await stack.restart()
        return "broker stopped (SIGTERM) and started again"

    async def store_outage() -> str:
        await stack.kill(stack.store, signal.SIGTERM)
        # The outage itself lasts this long: a fault's duration, not a wait for a condition.
        await asyncio.sleep(OUTAGE_SECONDS)
        await stack.restart()
        return f"{stack.store} stopped for {OUTAGE_SECONDS:.0f} s"

    async def smtp_refusal() -> str:
        stack.smtp_refuse(True)
        try:
            await asyncio.sleep(OUTAGE_SECONDS)  # the refusal's duration
        finally:
            stack.smtp_refuse(False)
        return f"SMTP answered 421 for {OUTAGE_SECONDS:.0f} s"

    async def store_and_smtp() -> str:
        notes = await asyncio.gather(store_outage(), smtp_refusal())
        return "; ".join(notes)

    if FULL:
        for name in SERVICES:
            await scenario(f"kill -9 {name}", lambda n=name: kill_restart(n))  # type: ignore[misc]
        await scenario(f"{stack.store} down {OUTAGE_SECONDS:.0f} s", store_outage)
        await scenario(f"SMTP refuses {OUTAGE_SECONDS:.0f} s", smtp_refusal)
        # Last: today a broker restart wedges the services' idempotent producers for good.
        await scenario("Kafka restart", kafka_restart)
    else:
        # The broker restart is left to `make chaos`: today it wedges the services'
        # idempotent producers until they are restarted (aio-libs/aiokafka#1017).
        await scenario("kill -9 all four services", lambda: kill_restart(*SERVICES))
        await scenario(f"{stack.store} down + SMTP refuses, {OUTAGE_SECONDS:.0f} s", store_and_smtp)
    return scenarios


def chaos_root() -> Path:
    base = Path(tempfile.gettempdir()) / "pantau-chaos"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=base))


async def converge(
    stack: Stack, accepted: set[str], *, timeout: float
) -> tuple[dict[str, dict[str, Any]], bool]:
    """Wait until every accepted report is in the read model and classified, and the
    ledger has no delivery still pending or scheduled."""
    last: dict[str, dict[str, Any]] = {}

    async def done() -> bool:
        nonlocal last
        last = await read_model(stack)
        complete = all(last.get(r, {}).get("classified") for r in accepted)
        if not complete:
            return False
        open_rows = await stack.db("pantau_notifier")["deliveries"].count_documents(
            {"status": {"$in": ["pending", "retry_scheduled"]}}
        )
        return open_rows == 0

    try:
        await wait_for(done, timeout=timeout, interval=1.0)
    except AssertionError:
        return last, False
    return last, True


async def start_stack(root: Path, *, attempts: int = 3) -> Stack:
    """Start a stack on free ports; start again on other ports when one was taken in the
    meantime (free ports are also the OS's ephemeral ports for outgoing connections)."""
    for attempt in range(1, attempts + 1):
        stack = Stack(root / f"stack{attempt}")
        try:
            await asyncio.to_thread(stack.up)
        except StackError as exc:
            await asyncio.to_thread(stack.launcher.down)
            if "already in use" not in str(exc) or attempt == attempts:
                raise
            continue
        return stack
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
async def chaos() -> AsyncIterator[ChaosRun]:
    root = chaos_root()
    stack = await start_stack(root)
    try:
        stack.mongo = AsyncMongoClient(stack.config.mongo_url, serverSelectionTimeoutMS=5000)
        tokens = [_token(stack.secret, Role.MONITOR, f"chaos-monitor-{i}") for i in range(4)]
        async with httpx.AsyncClient() as http:
            load = LoadGenerator(http, stack.urls["intake"], tokens)
            await probe(stack, load, timeout=60)  # the pipeline works before any fault
            poison = await inject_poison(stack)
            parked = await park_valid_report(stack)
            stop = asyncio.Event()
            generator = asyncio.create_task(load.run(stop, RATE_PER_SECOND))
            try:
                scenarios = await run_scenarios(stack, load)
            finally:
                stop.set()
                await generator
            accepted = set(load.accepted)
            model, converged = await converge(stack, accepted, timeout=300 if FULL else 60)
            before, _ = await dlq_contents(stack)
            replay_output = await replay_all(stack)

            async def parked_arrived() -> bool:
                doc = (await read_model(stack)).get(parked)
                return bool(doc and doc["classified"])

            try:
                parked_in = await wait_for(parked_arrived, timeout=60, interval=0.5)
            except AssertionError:
                parked_in = False
            # The replay leaves the still-invalid poison in the DLQs without re-sending it.
            expected = {Topics.dlq(t): {k: len(c) for k in poison[t]} for t, c in CONSUMERS.items()}
            after: dict[str, Counter[str]] = {}
            errors: dict[str, Counter[str]] = {}

            async def redeadlettered() -> bool:
                nonlocal after, errors
                after, errors = await dlq_contents(stack)
                return all(
                    after[dlq][key] >= copies
                    for dlq, keys in expected.items()
                    for key, copies in keys.items()
                )

            # On a timeout the test on the DLQs reports what is missing.
            with contextlib.suppress(AssertionError):
                await wait_for(redeadlettered, timeout=60, interval=1.0)
            model, _ = await converge(stack, accepted | {parked}, timeout=60)
            run = ChaosRun(
                mode="full" if FULL else "short",
                var_dir=stack.config.var_dir,
                accepted=dict(load.accepted),
                failures=list(load.failures),
                posts=load.posts,
                scenarios=scenarios,
                on_topic={
                    (r.key or b"").decode()
                    for r in await read_topic(stack.bootstrap, "pantau.reports.submitted")
                },
                read_model=model,
                read_model_converged=converged,
                ledger=await ledger_rows(stack),
                mails=mails(stack),
                poison_keys=poison,
                dlq_before_replay=before,
                dlq_after_replay=after,
                dlq_errors=errors,
                replay_output=replay_output,
                parked_report=parked,
                parked_in_read_model=bool(parked_in),
            )
            run.logs = stack.log_tails()
            run.resumed_alerts = resumed_alerts(stack.config.log_file("notifier"))
            write_summary(run, stack)
            yield run
    finally:
        if stack.mongo is not None:
            await stack.mongo.close()
        await asyncio.to_thread(stack.launcher.down)
        if os.environ.get("PANTAU_CHAOS_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


def summary_markdown(run: ChaosRun) -> str:
    accepted = set(run.accepted)
    in_model = {r for r in accepted if run.read_model.get(r, {}).get("classified")}
    dup_mails = sum(n - 1 for n in Counter(m["alert_id"] for m in run.mails).values() if n > 1)
    keys = Counter(
        (row["subject_id"], row["recipient_id"], row["channel"], row["kind"]) for row in run.ledger
    )
    dup_ledger = sum(n - 1 for n in keys.values() if n > 1)
    statuses = Counter(row["status"] for row in run.ledger)
    lines = [
        f"# Chaos run ({run.mode}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {os.cpu_count()} cores; load {RATE_PER_SECOND:.0f} reports/s from one "
        f"asyncio generator; outages {OUTAGE_SECONDS:.0f} s.",
        "",
        "| scenario | fault (s) | recovery (s) | accepted during | failed POSTs during | note |",
        "|---|---|---|---|---|---|",
    ]
    for s in run.scenarios:
        rec = f"{s.recovery_seconds:.1f}" if s.recovery_seconds is not None else "**no**"
        lines.append(
            f"| {s.name} | {s.fault_seconds:.1f} | {rec} | {s.accepted} | {s.failed_posts} "
            f"| {s.note} |"
        )
    failures = Counter(what for _, what in run.failures)
    lines += [
        "",
        "Recovery: from the end of the fault until a report posted then is classified, "
        "alerted (mail accepted by the sink) and in reporting's read model.",
        "",
        "| check | value |",
        "|---|---|",
        f"| POSTs / accepted (202) / failed | {run.posts} / {len(accepted)} / {len(run.failures)}"
        f" ({', '.join(f'{k}: {v}' for k, v in failures.most_common()) or 'none'}) |",
        f"| accepted on the submitted topic | {len(accepted & run.on_topic)} / {len(accepted)} |",
        f"| accepted in the read model, classified | {len(in_model)} / {len(accepted)} |",
        f"| read-model documents (incl. refused-but-arrived, probes, parked) | "
        f"{len(run.read_model)} |",
        f"| ledger rows by status | {dict(statuses)} |",
        f"| duplicate ledger keys / duplicate mails (same alert id) | {dup_ledger} / {dup_mails} "
        f"(deliveries resumed after being cut off mid-send: {len(run.resumed_alerts)}) |",
        f"| mails in the sink / ledger rows sent | {len(run.mails)} / {statuses.get('sent', 0)} |",
        f"| parked valid report back after `pantau dlq replay` | {run.parked_in_read_model} |",
        "",
        "| DLQ | before replay | after replay | error classes (after) |",
        "|---|---|---|---|",
    ]
    for dlq, before in run.dlq_before_replay.items():
        after = run.dlq_after_replay.get(dlq, Counter())
        errors = run.dlq_errors.get(dlq, Counter())
        lines.append(f"| {dlq} | {sum(before.values())} | {sum(after.values())} | {dict(errors)} |")
    return "\n".join(lines) + "\n"


def write_summary(run: ChaosRun, stack: Stack) -> None:
    text = summary_markdown(run)
    (stack.config.var_dir / "chaos-summary.md").write_text(text)
    if FULL:
        out = find_repo_root() / "var" / "chaos"
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.md").write_text(text)
        Console().print(text)
        Console().print(f"written to {out / 'summary.md'}")
