"""Where the local stack lives (cache, var dir, ports) and the files it generates.

Everything here is pure: tests build a ``StackConfig`` on a temporary directory with
free ports and check the generated files without starting anything.
"""

import base64
import os
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

KAFKA_VERSION = "4.1.1"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# Bumped whenever cache.FERRETDB_PATCHES changes, so a binary built without them is
# rebuilt instead of reused.
FERRETDB_PATCH_LEVEL = "pantau.2"
MIN_JAVA_MAJOR = 17
FERRETDB_DEBUG_PORT = 8088  # FerretDB's own default
# JIT tier 1 and the serial collector start a JVM in about half the time on a small
# machine, at the cost of peak throughput: right for short-lived tools and test brokers.
FAST_START_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


@dataclass(frozen=True)
class ServiceSpec:
    """One Pantau service the launcher runs as ``python -m <module>``."""

    name: str
    module: str
    port: int


# The four services and their local ports (docs/DEVELOPING.md). Data, not code, so the
# launcher works the same whichever of them exist yet.
DEFAULT_SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(name="intake", module="pantau.intake", port=8000),
    ServiceSpec(name="reporting", module="pantau.reporting", port=8001),
    ServiceSpec(name="notifier", module="pantau.notifier", port=8002),
    ServiceSpec(name="classifier", module="pantau.classifier", port=8003),
)


def default_cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/pantau``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pantau"


def find_repo_root(start: Path | None = None) -> Path:
    """The repository root: ``PANTAU_REPO_ROOT``, else the nearest parent holding the Kafka pom
    (first from this package's own location, as it is installed editable, then from the cwd)."""
    if env := os.environ.get("PANTAU_REPO_ROOT"):
        return Path(env).resolve()
    candidates = [Path(__file__).resolve(), (start or Path.cwd()).resolve()]
    for candidate in candidates:
        for parent in (candidate, *candidate.parents):
            if (parent / "deploy" / "kafka" / "pom.xml").is_file():
                return parent
    return (start or Path.cwd()).resolve()


@dataclass(frozen=True)
class StackConfig:
    """Directories and ports of one local stack. The defaults are the documented ports."""

    repo_root: Path
    var_dir: Path
    cache_dir: Path
    host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    mongo_port: int = 27017
    # FerretDB's debug HTTP endpoint (pprof, its own metrics) on ``host``; None: off. The
    # developer stack turns it on (``FERRETDB_DEBUG_PORT``) for ``python -m pantau.bench
    # profile``; test stacks leave it off, so they never collide with it.
    ferretdb_debug_port: int | None = None
    smtp_port: int = 1025
    # Debian's Prometheus (or any on PATH), started beside the services when installed.
    prometheus_port: int = 9090
    prometheus_scrape_interval: str = "15s"
    prometheus_binary: str | None = None  # default: `prometheus` on PATH
    services: tuple[ServiceSpec, ...] = DEFAULT_SERVICES
    # Every test run creates its own topics; 1 GiB keeps the metadata of a long-lived
    # local broker comfortable (512 MiB ran out of heap after a day of test runs).
    kafka_heap: str = "1g"
    # Extra JVM options for the broker; tests pass FAST_START_JVM_OPTIONS.
    kafka_jvm_options: tuple[str, ...] = ()
    # When both are set the stack starts no Kafka and no store and uses these instead.
    external_kafka: str | None = None
    external_mongo: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls, *, repo_root: Path | None = None, **overrides: object) -> "StackConfig":
        """The stack of this checkout: ``<repo>/var`` and the user cache; external infra from
        ``PANTAU_KAFKA_BOOTSTRAP``/``PANTAU_MONGO_URL`` when both are set."""
        root = repo_root or find_repo_root()
        kafka, mongo = os.environ.get("PANTAU_KAFKA_BOOTSTRAP"), os.environ.get("PANTAU_MONGO_URL")
        external = {"external_kafka": kafka, "external_mongo": mongo} if kafka and mongo else {}
        values: dict[str, object] = {
            "repo_root": root,
            "var_dir": root / "var",
            "cache_dir": default_cache_dir(),
            **external,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def with_services(self, names: Sequence[str]) -> "StackConfig":
        """The same stack limited to the named services, in the given order."""
        known = {spec.name: spec for spec in self.services}
        unknown = [name for name in names if name not in known]
        if unknown:
            from pantau.localstack.errors import StackError

            raise StackError(
                f"unknown service(s): {', '.join(unknown)}",
                fix=f"choose from {', '.join(known)}",
            )
        return replace(self, services=tuple(known[name] for name in names))

    @property
    def uses_external_infra(self) -> bool:
        return bool(self.external_kafka and self.external_mongo)

    @property
    def kafka_bootstrap(self) -> str:
        return self.external_kafka or f"{self.host}:{self.kafka_port}"

    @property
    def ferretdb_debug_url(self) -> str | None:
        if self.ferretdb_debug_port is None or self.uses_external_infra:
            return None
        return f"http://{self.host}:{self.ferretdb_debug_port}"

    @property
    def mongo_url(self) -> str:
        return self.external_mongo or f"mongodb://{self.host}:{self.mongo_port}/"

    # Cache layout ---------------------------------------------------------------------
    @property
    def kafka_libs_dir(self) -> Path:
        return self.cache_dir / "kafka" / KAFKA_VERSION / "libs"

    @property
    def maven_repo_dir(self) -> Path:
        # A private Maven repository, so a corrupt download can be purged without touching ~/.m2.
        return self.cache_dir / "kafka" / "m2"

    @property
    def ferretdb_bin(self) -> Path:
        build = f"{FERRETDB_VERSION}-{FERRETDB_PATCH_LEVEL}"
        return self.cache_dir / "ferretdb" / build / "bin" / "ferretdb"

    @property
    def pom_path(self) -> Path:
        return self.repo_root / "deploy" / "kafka" / "pom.xml"

    # var/ layout ------------------------------------------------------------------------
    @property
    def kafka_dir(self) -> Path:
        return self.var_dir / "kafka"

    @property
    def kafka_data_dir(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def kafka_log4j(self) -> Path:
        return self.kafka_dir / "log4j2.yaml"

    @property
    def ferretdb_dir(self) -> Path:
        return self.var_dir / "ferretdb"

    @property
    def mongod_dir(self) -> Path:
        return self.var_dir / "mongod"

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"

    @property
    def prometheus_dir(self) -> Path:
        return self.var_dir / "prometheus"

    @property
    def prometheus_config(self) -> Path:
        return self.prometheus_dir / "prometheus.yml"

    @property
    def prometheus_data_dir(self) -> Path:
        return self.prometheus_dir / "data"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.host}:{self.prometheus_port}"

    @property
    def prometheus_source_dir(self) -> Path:
        return self.repo_root / "deploy" / "prometheus"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def env_file(self) -> Path:
        return self.var_dir / "local.env"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"


def render_server_properties(config: StackConfig) -> str:
    """A single-node KRaft broker+controller listening on loopback only."""
    host = config.host
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{host}:{config.kafka_controller_port}",
        "listeners": (
            f"PLAINTEXT://{host}:{config.kafka_port},CONTROLLER://{host}:{config.kafka_controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{host}:{config.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(config.kafka_data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # A single developer's consumers: no point waiting for more members to join.
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created explicitly (services' start-up), so a typo fails loudly.
        "auto.create.topics.enable": "false",
    }
    header = "# Generated by pantau.localstack; edits are overwritten on the next start.\n"
    return header + "".join(f"{key}={value}\n" for key, value in lines.items())


def render_log4j2_yaml() -> str:
    """Broker logging: warnings and errors only, to stdout (the launcher sends it to a file)."""
    return (
        "Configuration:\n"
        "  Appenders:\n"
        "    Console:\n"
        "      name: STDOUT\n"
        "      PatternLayout:\n"
        '        pattern: "[%d] %p %m (%c)%n"\n'
        "  Loggers:\n"
        "    Root:\n"
        "      level: WARN\n"
        "      AppenderRef:\n"
        "        - ref: STDOUT\n"
    )


def render_prometheus_config(config: StackConfig) -> str:
    """``deploy/prometheus/prometheus.yml`` adapted to this stack: each ``pantau-<service>``
    job scrapes the service's port here (jobs of services not in the stack are dropped),
    the rules are loaded from ``deploy/prometheus/rules``, and the scrape interval is the
    stack's. Other jobs (the optional Kafka exporter) are kept as they are."""
    import yaml

    source = config.prometheus_source_dir
    base = yaml.safe_load((source / "prometheus.yml").read_text())
    ports = {spec.name: spec.port for spec in config.services}
    jobs = []
    for job in base.get("scrape_configs", []):
        name = job.get("job_name", "")
        if name.startswith("pantau-"):
            service = name.removeprefix("pantau-")
            if service not in ports:
                continue
            for target_group in job.get("static_configs", []):
                target_group["targets"] = [f"{config.host}:{ports[service]}"]
        jobs.append(job)
    base["scrape_configs"] = jobs
    base.setdefault("global", {})["scrape_interval"] = config.prometheus_scrape_interval
    base["global"]["evaluation_interval"] = config.prometheus_scrape_interval
    if _seconds(config.prometheus_scrape_interval) < _seconds(
        base["global"].get("scrape_timeout", "10s")
    ):
        base["global"]["scrape_timeout"] = config.prometheus_scrape_interval
    base["rule_files"] = [
        str((source / pattern).resolve()) for pattern in base.get("rule_files", [])
    ]
    header = (
        "# Generated by pantau.localstack from deploy/prometheus/prometheus.yml; "
        "edits are overwritten on the next start.\n"
    )
    return header + yaml.safe_dump(base, sort_keys=False)


def _seconds(duration: str) -> float:
    """A Prometheus duration of one unit (``15s``, ``2m``, ``500ms``) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return int(duration[: -len(unit)]) * units[unit]
    raise ValueError(f"unsupported Prometheus duration: {duration!r}")


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in Kafka's URL-safe base64 form (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=value`` lines; blank lines and ``#`` comments are skipped."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def local_env_values(config: StackConfig, *, existing: Mapping[str, str]) -> dict[str, str]:
    """The values of ``var/local.env``: secrets are generated once and then kept; the
    addresses follow the stack's configuration."""
    from pantau.shared.identity import generate_key

    values = dict(existing)
    values.setdefault("PANTAU_AUTH_SECRET", secrets.token_hex(32))
    values.setdefault("PANTAU_IDENTITY_KEYS", f"local1:{generate_key()}")
    values["PANTAU_KAFKA_BOOTSTRAP"] = config.kafka_bootstrap
    values["PANTAU_MONGO_URL"] = config.mongo_url
    values["PANTAU_SMTP_HOST"] = config.host
    values["PANTAU_SMTP_PORT"] = str(config.smtp_port)
    return values


def render_env_file(values: Mapping[str, str]) -> str:
    header = (
        "# Local development settings and secrets, written by `pantau stack up`.\n"
        "# Never commit this file (var/ is git-ignored). Delete it to get new secrets.\n"
    )
    return header + "".join(f"{key}={value}\n" for key, value in values.items())


def ensure_env_file(config: StackConfig) -> dict[str, str]:
    """Write ``var/local.env`` (owner-only) when missing or incomplete; return its values."""
    path = config.env_file
    existing = parse_env_file(path.read_text()) if path.exists() else {}
    values = local_env_values(config, existing=existing)
    if values != existing:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(render_env_file(values))
        tmp.chmod(0o600)
        tmp.replace(path)
    return values
