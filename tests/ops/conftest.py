"""Fixtures for the operations assets: Prometheus config and rules, the Grafana
dashboard, the Kubernetes manifests.

These are static files, so the tests check them against the tools that will read them
(promtool, the Kubernetes JSON schemas, kubectl's kustomize) and against the code: every
metric a rule or panel queries must be one the services define, every port one they
listen on, every configured variable one they read.
"""

import ast
import importlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser  # PyPI promql-parser (requirements-dev.txt): a PromQL AST in Python
import pytest
import yaml
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
K8S_DIR = REPO_ROOT / "deploy" / "k8s"

# DESIGN.md "Local ports"; each service's Config.http_port default must agree (checked).
SERVICE_PORTS = {"intake": 8000, "reporting": 8001, "notifier": 8002, "classifier": 8003}

# Metrics no Pantau code defines but that a scrape legitimately returns:
# prometheus_client's default collectors (process_*, python_*), Prometheus' own `up`,
# FastStream's middleware (faststream_*), and the Kafka exporter that reads consumer lag
# and topic offsets from the brokers (kafka_consumergroup_*, kafka_topic_*; Strimzi's
# Kafka Exporter in Kubernetes, danielqsj/kafka-exporter in docker-compose).
EXTERNAL_METRIC_PREFIXES = (
    "process_",
    "python_",
    "faststream_",
    "kafka_consumergroup_",
    "kafka_topic_",
)
EXTERNAL_METRICS = frozenset({"up"})

_PROMETHEUS_CLIENT_TYPES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
# Pantau's own collectors (registered with prometheus_client's registry, exposing what
# the library's type of the same kind exposes): intake's event-loop metrics.
_PANTAU_COLLECTOR_TYPES = {"LoopCounter": "Counter", "LoopHistogram": "Histogram"}


def _exposed_names(kind: str, name: str) -> set[str]:
    """The sample names prometheus_client exposes for one metric definition."""
    if kind == "Counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    if kind == "Histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "Summary":
        return {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "Info":
        return {f"{name}_info"}
    return {name}  # Gauge, Enum


def _constant_str(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _metric_definitions(source: str) -> Iterator[tuple[str, str]]:
    """(kind, full name) of every prometheus_client metric a module constructs."""
    tree = ast.parse(source)
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client"
        for alias in node.names
        if alias.name in _PROMETHEUS_CLIENT_TYPES
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in imported:
            kind = func.id
        elif isinstance(func, ast.Name) and func.id in _PANTAU_COLLECTOR_TYPES:
            kind = _PANTAU_COLLECTOR_TYPES[func.id]
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in _PROMETHEUS_CLIENT_TYPES
            and isinstance(func.value, ast.Name)
            and func.value.id == "prometheus_client"
        ):
            kind = func.attr
        else:
            continue  # e.g. collections.Counter
        keywords = {k.arg: k.value for k in node.keywords}
        name = _constant_str(node.args[0] if node.args else keywords.get("name"))
        if name is None:
            continue
        parts = [
            _constant_str(keywords.get("namespace")),
            _constant_str(keywords.get("subsystem")),
            name,
        ]
        yield kind, "_".join(p for p in parts if p)


def _source_files() -> Iterator[tuple[str, Path]]:
    """(module name, path) of every module of the shared package and the services."""
    roots = [REPO_ROOT / "shared" / "src", *sorted((REPO_ROOT / "services").glob("*/src"))]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def code_metric_names() -> set[str]:
    """Every sample name the shared package and the services can expose."""
    names: set[str] = set()
    for _, path in _source_files():
        for kind, name in _metric_definitions(path.read_text(encoding="utf-8")):
            names |= _exposed_names(kind, name)
    return names


def metric_modules() -> list[str]:
    """Import names of the modules that define prometheus_client metrics."""
    return [
        module
        for module, path in _source_files()
        if any(True for _ in _metric_definitions(path.read_text(encoding="utf-8")))
    ]


def promql_metric_names(expr: str) -> list[str]:
    """The metric name of every series selector in ``expr``.

    Raises ``ValueError`` when ``expr`` is not valid PromQL.
    """
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.append(node.name)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found


def is_known_metric(name: str, *, defined: set[str], recorded: set[str]) -> bool:
    """True when code defines ``name``, a rule records it, or an exporter provides it."""
    return (
        name in defined
        or name in recorded
        or name in EXTERNAL_METRICS
        or name.startswith(EXTERNAL_METRIC_PREFIXES)
    )


def rule_groups() -> list[dict[str, Any]]:
    """Every rule group of deploy/prometheus/rules/."""
    groups: list[dict[str, Any]] = []
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.rules.yml")):
        groups.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["groups"])
    return groups


@pytest.fixture(scope="session")
def promtool() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run promtool (Debian's `prometheus` package); skip when it is not installed."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (apt-get install -y prometheus)")

    def run(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )

    return run


@pytest.fixture(scope="session")
def defined_metrics() -> set[str]:
    """Sample names defined by prometheus_client metrics in shared/ and services/."""
    names = code_metric_names()
    # The shared telemetry module is the floor: if these are missing the scan is broken.
    assert "pantau_messages_processed_total" in names, names
    return names


@pytest.fixture(scope="session")
def recorded_metrics() -> set[str]:
    """Names recorded by the recording rules."""
    return {
        rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule
    }


@pytest.fixture(scope="session")
def metric_names_of() -> Callable[[str], list[str]]:
    """The PromQL metric-name extractor, as a fixture."""
    return promql_metric_names


@pytest.fixture(scope="session")
def known_metric(defined_metrics: set[str], recorded_metrics: set[str]) -> Callable[[str], bool]:
    """Whether a metric name is defined by code, recorded by a rule or from an exporter."""

    def check(name: str) -> bool:
        return is_known_metric(name, defined=defined_metrics, recorded=recorded_metrics)

    return check


@pytest.fixture(scope="session")
def rules() -> list[dict[str, Any]]:
    """Every rule (recording and alerting) of deploy/prometheus/rules/."""
    return [rule for group in rule_groups() for rule in group["rules"]]


@dataclass(frozen=True)
class ServiceConfig:
    """A service's ``Config`` class, for checks of ports and variables against it."""

    service: str
    cls: type[BaseSettings]

    @property
    def http_port(self) -> int | None:
        field = self.cls.model_fields.get("http_port")
        return field.default if field is not None else None

    def reads(self, variable: str) -> bool:
        """True when ``variable`` (``PANTAU_*``) sets a field of this Config."""
        prefix = str(self.cls.model_config.get("env_prefix", ""))
        if not variable.upper().startswith(prefix.upper()):
            return False
        return variable[len(prefix) :].lower() in self.cls.model_fields


@pytest.fixture(scope="session")
def service_configs() -> dict[str, ServiceConfig]:
    """The ``Config`` of every service whose config module exists yet."""
    found: dict[str, ServiceConfig] = {}
    for service in SERVICE_PORTS:
        module_name = f"pantau.{service}.config"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in (module_name, f"pantau.{service}"):
                raise  # the module exists but an import inside it is broken
            continue
        found[service] = ServiceConfig(service=service, cls=module.Config)
    return found
