"""Start, watch and stop the local stack: Kafka, a MongoDB-wire store, the SMTP sink and
the Pantau services, as plain processes under ``var/`` (no Docker).

``up`` is idempotent (running, healthy parts are left alone), waits on real health checks,
and rolls back what it started when a later part fails. ``down`` signals only processes
whose pid file still proves they are ours. ``run`` is ``up`` in the foreground with the
logs streamed, and everything stopped on Ctrl-C or SIGTERM.
"""

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.text import Text

from pantau.localstack import cache, health, procs
from pantau.localstack.config import (
    FAST_START_JVM_OPTIONS,
    ServiceSpec,
    StackConfig,
    ensure_env_file,
    new_cluster_id,
    render_log4j2_yaml,
    render_prometheus_config,
    render_server_properties,
)
from pantau.localstack.errors import StackError
from pantau.localstack.progress import console as default_console
from pantau.localstack.system import require_free_port, require_java

_POLL_SECONDS = 0.2
_LOG_TAIL_LINES = 30


@dataclass
class Component:
    """One process of the stack and how to start, check and stop it."""

    name: str
    kind: str  # "infra" or "service"
    address: str
    ports: tuple[tuple[int, str], ...]
    probe: Callable[[], bool]
    prepare: Callable[[], list[str]]  # writes its files, returns the argv
    start_timeout: float
    stop_grace: float
    env: Callable[[], dict[str, str]] = field(default=lambda: dict(os.environ))
    # Fast checks run before anything is fetched or started (tools present, module installed).
    check: Callable[[], None] = field(default=lambda: None)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    kind: str
    state: str  # healthy | starting/unhealthy | stopped | external
    pid: int | None
    address: str
    log: Path | None


# FerretDB allocates a decoded document tree per document it reads or writes, so Go's
# collector, at its default GOGC=100, ran often enough to cost 25-35 % of FerretDB's CPU
# in reporting's ingest (0.86-1.0 ms of FerretDB CPU per event; GOGC=400: 0.72-0.77, for
# 60 instead of 45 MB of RSS). The memory limit keeps a growing heap bounded anyway.
FERRETDB_GO_ENV = {"GOGC": "400", "GOMEMLIMIT": "1GiB"}


def ferretdb_env(environ: Mapping[str, str]) -> dict[str, str]:
    """FerretDB's environment: ``environ`` with ``FERRETDB_GO_ENV`` where it sets none."""
    return {**FERRETDB_GO_ENV, **environ}


def tail_lines(path: Path, *, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Launcher:
    """The local stack of one ``StackConfig``."""

    def __init__(
        self,
        config: StackConfig,
        *,
        console: Console | None = None,
        tied_to_parent: bool = False,
    ) -> None:
        self.config = config
        self.console = console or default_console
        # In `run` mode the children die with the launcher (see procs.spawn).
        self.tied_to_parent = tied_to_parent
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        # Names of the parts the last `up` started (not those it found running).
        self.started: list[str] = []
        self._lock_depth = 0

    # Components -------------------------------------------------------------------------
    def store_kind(self) -> str:
        """``mongod`` when one is on PATH, else ``ferretdb`` (built into the cache)."""
        return "mongod" if shutil.which("mongod") else "ferretdb"

    def infra_components(self) -> list[Component]:
        """Kafka and the store (unless external ones are configured), then the SMTP sink."""
        config = self.config
        parts: list[Component] = []
        if not config.uses_external_infra:
            parts.append(self._kafka())
            parts.append(self._mongod() if self.store_kind() == "mongod" else self._ferretdb())
        parts.append(self._smtp())
        return parts

    def service_components(self) -> list[Component]:
        return [self._service(spec) for spec in self.config.services]

    def prometheus_binary(self) -> str | None:
        """The Prometheus server to run (``prometheus`` on PATH, e.g. Debian's), or None."""
        configured = self.config.prometheus_binary
        if configured:
            return configured if Path(configured).is_file() else shutil.which(configured)
        return shutil.which("prometheus")

    def monitoring_components(self) -> list[Component]:
        """Prometheus scraping the services, when one is installed and there are services."""
        if not self.service_components() or not self.prometheus_binary():
            return []
        return [self._prometheus()]

    def _prometheus_missing(self) -> bool:
        return bool(self.service_components()) and not self.prometheus_binary()

    def _prometheus(self) -> Component:
        config = self.config
        binary = self.prometheus_binary() or "prometheus"

        def prepare() -> list[str]:
            config.prometheus_data_dir.mkdir(parents=True, exist_ok=True)
            config.prometheus_config.write_text(render_prometheus_config(config))
            return [
                binary,
                f"--config.file={config.prometheus_config}",
                f"--storage.tsdb.path={config.prometheus_data_dir}",
                "--storage.tsdb.retention.time=7d",
                f"--web.listen-address={config.host}:{config.prometheus_port}",
                "--web.enable-lifecycle",
            ]

        return Component(
            name="prometheus",
            kind="monitoring",
            address=config.prometheus_url,
            ports=((config.prometheus_port, "Prometheus"),),
            probe=lambda: health.http_ready(f"{config.prometheus_url}/-/ready"),
            prepare=prepare,
            start_timeout=60.0,
            stop_grace=15.0,
        )

    def _kafka(self) -> Component:
        config = self.config
        return Component(
            name="kafka",
            kind="infra",
            address=config.kafka_bootstrap,
            ports=(
                (config.kafka_port, "Kafka"),
                (config.kafka_controller_port, "Kafka controller"),
            ),
            probe=lambda: health.kafka_healthy(config.kafka_bootstrap),
            prepare=self._prepare_kafka,
            check=self._check_java,
            start_timeout=90.0,
            stop_grace=30.0,
        )

    def _ferretdb(self) -> Component:
        config = self.config
        return Component(
            name="ferretdb",
            kind="infra",
            address=config.mongo_url,
            ports=((config.mongo_port, "MongoDB wire (FerretDB)"),),
            probe=lambda: health.mongo_healthy(config.mongo_url),
            prepare=self._prepare_ferretdb,
            start_timeout=30.0,
            stop_grace=10.0,
            env=lambda: ferretdb_env(os.environ),
        )

    def _mongod(self) -> Component:
        config = self.config
        return Component(
            name="mongod",
            kind="infra",
            address=config.mongo_url,
            ports=((config.mongo_port, "MongoDB"),),
            probe=lambda: health.mongo_healthy(config.mongo_url),
            prepare=self._prepare_mongod,
            start_timeout=60.0,
            stop_grace=20.0,
        )

    def _smtp(self) -> Component:
        config = self.config
        argv = [
            sys.executable,
            "-m",
            "pantau.localstack.smtp_sink",
            "--host",
            config.host,
            "--port",
            str(config.smtp_port),
            "--mail-dir",
            str(config.mail_dir),
        ]
        return Component(
            name="smtp",
            kind="infra",
            address=f"smtp://{config.host}:{config.smtp_port} → {config.mail_dir}",
            ports=((config.smtp_port, "SMTP sink"),),
            probe=lambda: health.smtp_healthy(config.host, config.smtp_port),
            prepare=lambda: argv,
            start_timeout=20.0,
            stop_grace=5.0,
        )

    def _service(self, spec: ServiceSpec) -> Component:
        config = self.config
        url = f"http://{config.host}:{spec.port}"

        def check() -> None:
            if importlib.util.find_spec(spec.module) is None:
                raise StackError(
                    f"Service {spec.name!r} cannot start: module {spec.module} is not installed.",
                    fix="run `make venv` (installs every package of the repository)",
                )

        def prepare() -> list[str]:
            check()
            return [sys.executable, "-m", spec.module]

        return Component(
            name=spec.name,
            kind="service",
            address=url,
            ports=((spec.port, f"{spec.name} HTTP"),),
            probe=lambda: health.http_ready(f"{url}/readyz"),
            prepare=prepare,
            check=check,
            start_timeout=120.0,
            stop_grace=15.0,
            env=lambda: self.service_env(spec),
        )

    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        """A service's environment: var/local.env, then the real environment (which wins,
        as in the settings classes), then the addresses and port of this stack."""
        config = self.config
        local = ensure_env_file(config)
        return {
            **local,
            **os.environ,
            **config.extra_env,
            "PANTAU_ENV_FILE": str(config.env_file),
            "PANTAU_KAFKA_BOOTSTRAP": config.kafka_bootstrap,
            "PANTAU_MONGO_URL": config.mongo_url,
            "PANTAU_SMTP_HOST": config.host,
            "PANTAU_SMTP_PORT": str(config.smtp_port),
            "PANTAU_HTTP_PORT": str(spec.port),
        }

    # Preparation ------------------------------------------------------------------------
    def fetch(self) -> None:
        """Fill the cache (Kafka jars, FerretDB) without starting anything."""
        if self.config.uses_external_infra:
            return
        cache.ensure_kafka_libs(self.config)
        if self.store_kind() == "ferretdb":
            cache.ensure_ferretdb(self.config)

    def _check_java(self) -> None:
        require_java()

    def _prepare_kafka(self) -> list[str]:
        config = self.config
        java = require_java()
        libs = cache.ensure_kafka_libs(config)
        config.kafka_data_dir.mkdir(parents=True, exist_ok=True)
        config.kafka_properties.write_text(render_server_properties(config))
        config.kafka_log4j.write_text(render_log4j2_yaml())
        classpath = f"{libs}/*"
        self._format_kafka_storage(java=java, classpath=classpath)
        return [
            java,
            f"-Xmx{config.kafka_heap}",
            "-XX:+ExitOnOutOfMemoryError",
            *config.kafka_jvm_options,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={config.kafka_log4j}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config.kafka_properties),
        ]

    def _format_kafka_storage(self, *, java: str, classpath: str) -> None:
        config = self.config
        marker = config.kafka_dir / "formatted.json"
        controller = f"{config.host}:{config.kafka_controller_port}"
        if (config.kafka_data_dir / "meta.properties").exists():
            recorded = json.loads(marker.read_text()) if marker.exists() else {}
            if recorded.get("controller", controller) != controller:
                # The standalone controller's address is written into the metadata log.
                raise StackError(
                    f"{config.kafka_data_dir} was formatted for controller "
                    f"{recorded['controller']}, not {controller}.",
                    fix=f"delete {config.kafka_dir} to start with an empty broker",
                )
            return
        result = subprocess.run(
            [
                java,
                *FAST_START_JVM_OPTIONS,
                "-cp",
                classpath,
                f"-Dlog4j2.configurationFile={config.kafka_log4j}",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "--ignore-formatted",
                # One argument with "=": a base64url id may start with "-", which the
                # tool's parser would otherwise read as an option (1 start in 64 failed).
                f"--cluster-id={new_cluster_id()}",
                "-c",
                str(config.kafka_properties),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        with config.log_file("kafka").open("a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise StackError(
                "Formatting the Kafka storage failed.",
                fix=f"delete {config.kafka_dir} and retry",
                log_tail=(result.stdout + result.stderr)[-3000:],
            )
        marker.write_text(json.dumps({"controller": controller}))

    def _prepare_ferretdb(self) -> list[str]:
        config = self.config
        binary = cache.ensure_ferretdb(config)
        config.ferretdb_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{config.ferretdb_dir}/",
            f"--state-dir={config.ferretdb_dir}",
            f"--listen-addr={config.host}:{config.mongo_port}",
            "--telemetry=disable",
            (
                f"--debug-addr={config.host}:{config.ferretdb_debug_port}"
                if config.ferretdb_debug_port is not None
                else "--debug-addr=-"
            ),
            # FerretDB logs every command it lacks (e.g. pymongo's endSessions on each
            # health check) as a multi-line warning; clients see those errors anyway.
            "--log-level=error",
        ]

    def _prepare_mongod(self) -> list[str]:
        config = self.config
        config.mongod_dir.mkdir(parents=True, exist_ok=True)
        mongod = shutil.which("mongod") or "mongod"
        return [
            mongod,
            "--dbpath",
            str(config.mongod_dir),
            "--bind_ip",
            config.host,
            "--port",
            str(config.mongo_port),
            "--quiet",
        ]

    # Lifecycle --------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of this stack's var dir across processes (re-entrant within one
        Launcher), so two launchers never start or stop the same part at once."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with cache.file_lock(self.config.run_dir / ".launcher.lock"):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0

        # Leases: test sessions using the stack, so one never stops it under another ----------

    def take_lease(self) -> Path:
        """Record that this process uses the stack; returns the lease file."""
        lease_dir = self.config.run_dir / "leases"
        lease_dir.mkdir(parents=True, exist_ok=True)
        lease = lease_dir / f"{os.getpid()}.lease"
        lease.write_text(procs.record_for(os.getpid(), name="lease").render())
        return lease

    def release_lease(self, lease: Path) -> int:
        """Drop ``lease``; returns how many other live processes still hold one (leases
        of processes that died are cleaned up)."""
        lease.unlink(missing_ok=True)
        others = 0
        for path in lease.parent.glob("*.lease"):
            record = procs.read_record(path)
            if record is not None and procs.is_ours(record):
                others += 1
            else:
                path.unlink(missing_ok=True)
        return others

    def up(self, *, include_services: bool = True) -> list[ComponentStatus]:
        """Start whatever is not running yet and return once everything is healthy.
        On failure, stops what this call started and raises StackError."""
        config = self.config
        for directory in (config.var_dir, config.log_dir, config.run_dir, config.mail_dir):
            directory.mkdir(parents=True, exist_ok=True)
        ensure_env_file(config)
        started: list[Component] = []
        self.started = []
        with self.locked():
            try:
                infra = self.infra_components()
                services = self.service_components() if include_services else []
                monitoring = self.monitoring_components() if include_services else []
                if include_services and self._prometheus_missing():
                    self.console.print(
                        "[yellow]Prometheus is not installed; starting the stack without it "
                        "(apt-get install prometheus, or put `prometheus` on PATH).[/]"
                    )
                # Fail on a missing tool or a busy port before a long first fetch.
                self._preflight(infra + services + monitoring)
                if not config.uses_external_infra:
                    self.fetch()
                else:
                    self._check_external()
                self._start_phase(infra, started)
                self._start_phase(services, started)
                self._start_phase(monitoring, started)
            except BaseException:
                if started:
                    names = ", ".join(part.name for part in started)
                    self.console.print(f"[yellow]Stopping what this start began: {names}[/]")
                    for part in reversed(started):
                        self._stop(part.name, grace=part.stop_grace)
                raise
        self.started = [part.name for part in started]
        return self.status(include_services=include_services)

    def _check_external(self) -> None:
        config = self.config
        self.console.print(
            f"Using the Kafka at {config.kafka_bootstrap} and the store at {config.mongo_url} "
            "(PANTAU_KAFKA_BOOTSTRAP/PANTAU_MONGO_URL); starting neither."
        )
        if not health.kafka_healthy(config.kafka_bootstrap, timeout=10):
            raise StackError(
                f"The Kafka at {config.kafka_bootstrap} (PANTAU_KAFKA_BOOTSTRAP) does not answer.",
                fix="start it, or unset PANTAU_KAFKA_BOOTSTRAP and PANTAU_MONGO_URL",
            )
        if not health.mongo_healthy(config.mongo_url, timeout=10):
            raise StackError(
                f"The store at {config.mongo_url} (PANTAU_MONGO_URL) does not answer ping.",
                fix="start it, or unset PANTAU_KAFKA_BOOTSTRAP and PANTAU_MONGO_URL",
            )

    def _running(self, part: Component) -> procs.PidRecord | None:
        record = procs.read_record(self.config.pid_file(part.name))
        return record if record is not None and procs.is_ours(record) else None

    def _preflight(self, parts: list[Component]) -> None:
        for part in parts:
            if self._running(part) is None:
                part.check()
                for port, what in part.ports:
                    require_free_port(self.config.host, port, what=what)

    def _start_phase(self, parts: list[Component], started: list[Component]) -> None:
        """Spawn every part that is not already running, then wait for all of them."""
        waiting: list[tuple[Component, procs.PidRecord]] = []
        for part in parts:
            record = self._running(part)
            if record is not None:
                self.console.print(f"[dim]{part.name} already running (pid {record.pid})[/]")
                waiting.append((part, record))
                continue
            self.config.pid_file(part.name).unlink(missing_ok=True)
            for port, what in part.ports:
                require_free_port(self.config.host, port, what=what)
            argv = part.prepare()
            proc, record = procs.spawn(
                name=part.name,
                argv=argv,
                env=part.env(),
                cwd=self.config.repo_root,
                log_file=self.config.log_file(part.name),
                pid_file=self.config.pid_file(part.name),
                tied_to_parent=self.tied_to_parent,
            )
            self._children[part.name] = proc
            started.append(part)
            waiting.append((part, record))
        for part, record in waiting:
            self._wait_healthy(part, record)

    def _wait_healthy(self, part: Component, record: procs.PidRecord) -> None:
        started = time.monotonic()
        deadline = started + part.start_timeout
        with self.console.status(f"waiting for {part.name} ({part.address})"):
            while True:
                if not procs.is_ours(record):
                    self._reap(part.name)
                    raise StackError(
                        f"{part.name} exited while starting.",
                        fix=f"read {self.config.log_file(part.name)}",
                        log_tail=tail_lines(self.config.log_file(part.name)),
                    )
                if part.probe():
                    break
                if time.monotonic() > deadline:
                    raise StackError(
                        f"{part.name} did not become healthy within {part.start_timeout:.0f} s.",
                        fix=f"read {self.config.log_file(part.name)}",
                        log_tail=tail_lines(self.config.log_file(part.name)),
                    )
                time.sleep(_POLL_SECONDS)
        took = time.monotonic() - started
        self.console.print(
            f"[green]✓[/] {part.name} healthy at {part.address} (pid {record.pid}, {took:.1f} s)"
        )

    def _reap(self, name: str) -> None:
        child = self._children.pop(name, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1)

    def _stop(self, name: str, *, grace: float) -> str:
        pid_file = self.config.pid_file(name)
        record = procs.read_record(pid_file)
        outcome = "not running" if record is None else procs.stop_record(record, grace=grace)
        self._reap(name)
        pid_file.unlink(missing_ok=True)
        return outcome

    def _stop_order(self) -> list[tuple[str, float]]:
        known = [("prometheus", 15.0)]
        known += [(part.name, part.stop_grace) for part in self.service_components()]
        known += [("smtp", 5.0), ("kafka", 30.0), ("ferretdb", 10.0), ("mongod", 20.0)]
        names = {name for name, _ in known}
        # Pid files of parts no longer configured (e.g. a service list that changed) go first.
        extra = [
            (path.stem, 15.0)
            for path in sorted(self.config.run_dir.glob("*.pid"))
            if path.stem not in names
        ]
        return extra + known

    def stop(self, names: list[str]) -> list[tuple[str, str]]:
        """Stop the named parts (e.g. those ``up`` started), services before infrastructure."""
        results: list[tuple[str, str]] = []
        with self.locked():
            for name, grace in self._stop_order():
                if name in names and self.config.pid_file(name).exists():
                    results.append((name, self._stop(name, grace=grace)))
        return results

    def down(self) -> list[tuple[str, str]]:
        """Stop every process this stack started (services first, then infrastructure)."""
        results: list[tuple[str, str]] = []
        with self.locked():
            for name, grace in self._stop_order():
                if not self.config.pid_file(name).exists():
                    continue
                results.append((name, self._stop(name, grace=grace)))
        return results

    def status(self, *, include_services: bool = True) -> list[ComponentStatus]:
        """Every part of the stack, with its pid and whether its health check passes."""
        config = self.config
        rows: list[ComponentStatus] = []
        if config.uses_external_infra:
            for name, address, probe in (
                ("kafka", config.kafka_bootstrap, health.kafka_healthy),
                ("store", config.mongo_url, health.mongo_healthy),
            ):
                state = "external" if probe(address) else "external, unreachable"
                rows.append(ComponentStatus(name, "infra", state, None, address, None))
        parts = self.infra_components()
        if include_services:
            parts += self.service_components()
            parts += self.monitoring_components()
            if self._prometheus_missing():
                rows.append(
                    ComponentStatus("prometheus", "monitoring", "not installed", None, "–", None)
                )
        for part in parts:
            record = procs.read_record(config.pid_file(part.name))
            alive = record is not None and procs.is_ours(record)
            state = ("healthy" if part.probe() else "unhealthy") if alive else "stopped"
            rows.append(
                ComponentStatus(
                    name=part.name,
                    kind=part.kind,
                    state=state,
                    pid=record.pid if alive and record else None,
                    address=part.address,
                    log=config.log_file(part.name),
                )
            )
        return rows

    # Foreground -------------------------------------------------------------------------
    def run(self, *, include_services: bool = True) -> int:
        """``up``, then stream every log until Ctrl-C/SIGTERM or a process dies; then stop
        everything. Returns the exit code for the command line."""
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()
            raise KeyboardInterrupt

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            offsets = {
                path: path.stat().st_size if path.exists() else 0
                for path in self.config.log_dir.glob("*.log")
            }
            self.up(include_services=include_services)
            self.console.print("[bold green]Stack is up.[/] Ctrl-C stops everything.")
            code = self._follow(offsets, include_services=include_services, stop=stop)
        except KeyboardInterrupt:
            self.console.print("\n[bold]Stopping the stack…[/]")
        except StackError as exc:
            self.console.print(f"[red]{exc.render()}[/]")
            code = 1
        finally:
            # A second Ctrl-C must not leave half the stack running.
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
            for name, outcome in self.down():
                self.console.print(f"  {name}: {outcome}")
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _follow(
        self, offsets: dict[Path, int], *, include_services: bool, stop: threading.Event
    ) -> int:
        parts = self.infra_components()
        if include_services:
            parts += self.service_components() + self.monitoring_components()
        records = {part.name: procs.read_record(self.config.pid_file(part.name)) for part in parts}
        while not stop.is_set():
            for part in parts:
                path = self.config.log_file(part.name)
                offsets[path] = self._print_new_lines(part.name, path, offsets.get(path, 0))
            for name, record in records.items():
                if record is None or not procs.is_ours(record):
                    self.console.print(f"[red]{name} exited unexpectedly; stopping the stack.[/]")
                    return 1
            stop.wait(_POLL_SECONDS)
        return 0

    def _print_new_lines(self, name: str, path: Path, offset: int) -> int:
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            return offset
        complete = data.rfind(b"\n") + 1  # print whole lines only; the rest comes next round
        for line in data[:complete].decode(errors="replace").splitlines():
            # Text, not markup: a log line may contain [brackets].
            self.console.print(Text.assemble((f"{name:>10}", "cyan"), " | ", line), soft_wrap=True)
        return offset + complete
