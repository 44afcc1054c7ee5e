"""Kubernetes: the Kustomize builds of deploy/k8s/, validated offline.

Built-in kinds are checked against the Kubernetes JSON schemas the
``kubernetes-validate`` package ships (strict: unknown fields are errors); Strimzi's
KafkaTopic and KEDA's ScaledObject against the schemas in ``schemas/``. The rest checks
the manifests against the code: ports, probes, settings, topics and partitions.
"""

import re
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from pantau.shared.settings import KafkaSettings
from pantau.shared.topics import DEFAULT_PARTITIONS, DLQ_PARTITIONS, Topics

from .conftest import K8S_DIR, SERVICE_PORTS, ServiceConfig, rule_groups
from .kustomize_lite import build

Resource = dict[str, Any]
BUILDS = {
    "base": K8S_DIR / "base",
    "kafka": K8S_DIR / "kafka",
    "production": K8S_DIR / "overlays" / "production",
}
# Oldest Kubernetes minor the manifests must work on (HPA autoscaling/v2, policy/v1 PDB,
# seccompProfile are all GA well before it), and the newest the schema package knows.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.utils.latest_version())
CRD_SCHEMAS = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "kafkatopic.schema.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.schema.yaml",
}
# Topics each consumer subscribes to (its adapters/consumer.py); intake only produces.
CONSUMES = {
    "classifier": {Topics().submitted},
    "notifier": {Topics().classified},
    "reporting": {Topics().submitted, Topics().classified, Topics().alerts, Topics().status},
}
# PANTAU_* variables read outside a service's Config class, and by whom.
READ_OUTSIDE_CONFIG = {"PANTAU_LOG_LEVEL": "pantau.shared.telemetry.configure_logging"}
SECRET_LOOKING = re.compile(r"SECRET|PASSWORD|TOKEN|KEYS?$|USERNAME")


@cache
def _build(name: str) -> tuple[Resource, ...]:
    return tuple(build(BUILDS[name]))


def _of_kind(resources: tuple[Resource, ...], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def _key(resource: Resource) -> tuple[str, str, str]:
    meta = resource["metadata"]
    return resource["kind"], meta.get("namespace", ""), meta["name"]


def _by_target(resources: tuple[Resource, ...], kind: str) -> dict[str, Resource]:
    """Autoscalers of ``kind`` by the name of the Deployment they scale."""
    return {r["spec"]["scaleTargetRef"]["name"]: r for r in _of_kind(resources, kind)}


def _container(deployment: Resource) -> Resource:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _port_number(container: Resource, port: int | str) -> int:
    """A probe's or Service's port: a number, or the name of a container port."""
    if isinstance(port, int):
        return port
    (match,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return match


def _quantity_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity.removesuffix(suffix)) * factor
    return int(quantity)


def _millicores(quantity: str) -> int:
    return int(quantity.removesuffix("m")) if quantity.endswith("m") else int(quantity) * 1000


@pytest.fixture(scope="module")
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    out = {}
    for key, file in CRD_SCHEMAS.items():
        schema = yaml.safe_load((Path(__file__).parent / "schemas" / file).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        out[key] = jsonschema.Draft202012Validator(schema)
    return out


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_python_build_matches_kubectl_kustomize(name: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the Python build is checked on its own")
    result = subprocess.run(
        [kubectl, "kustomize", str(BUILDS[name])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = {_key(r): r for r in yaml.safe_load_all(result.stdout) if r}
    ours = {_key(r): r for r in _build(name)}
    assert rendered.keys() == ours.keys()
    for key, resource in rendered.items():
        assert ours[key] == resource, key


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", sorted(BUILDS))
def test_manifests_match_their_schemas(
    name: str,
    version: str,
    crd_validators: dict[tuple[str, str], jsonschema.protocols.Validator],
) -> None:
    resources = _build(name)
    assert resources
    for resource in resources:
        key = (resource["apiVersion"], resource["kind"])
        if key in crd_validators:
            errors = [e.message for e in crd_validators[key].iter_errors(resource)]
            assert not errors, (_key(resource), errors)
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{_key(resource)} on Kubernetes {version}: {path}: {exc.message}")


def test_scaledobject_behaviour_is_a_valid_hpa_behaviour() -> None:
    """KEDA copies `advanced.horizontalPodAutoscalerConfig.behavior` into the HPA it makes."""
    for scaled in _of_kind(_build("production"), "ScaledObject"):
        behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": scaled["metadata"]["name"]},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "maxReplicas": scaled["spec"]["maxReplicaCount"],
                "behavior": behavior,
            },
        }
        kubernetes_validate.validate(hpa, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("name", ["base", "production"])
def test_one_deployment_per_service_with_probes_on_its_port(name: str) -> None:
    resources = _build(name)
    deployments = {d["metadata"]["name"]: d for d in _of_kind(resources, "Deployment")}
    services = {s["metadata"]["name"]: s for s in _of_kind(resources, "Service")}
    assert deployments.keys() == SERVICE_PORTS.keys()
    for svc, port in SERVICE_PORTS.items():
        container = _container(deployments[svc])
        assert [p["containerPort"] for p in container["ports"]] == [port], svc
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PANTAU_HTTP_PORT"] == str(port), svc
        probes = {
            kind: container[kind]["httpGet"]
            for kind in ("readinessProbe", "livenessProbe", "startupProbe")
        }
        assert probes["readinessProbe"]["path"] == "/readyz", svc
        assert probes["livenessProbe"]["path"] == "/healthz", svc
        for kind, probe in probes.items():
            assert _port_number(container, probe["port"]) == port, (svc, kind)
        annotations = deployments[svc]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port), svc
        assert annotations["prometheus.io/path"] == "/metrics", svc
        (service_port,) = services[svc]["spec"]["ports"]
        assert service_port["port"] == port, svc
        assert _port_number(container, service_port["targetPort"]) == port, svc


@pytest.mark.parametrize("name", ["base", "production"])
def test_selectors_select_the_pods(name: str) -> None:
    resources = _build(name)
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in _of_kind(resources, "Deployment")
    }
    for deployment in _of_kind(resources, "Deployment"):
        own = pods[deployment["metadata"]["name"]].items()
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= own
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} >= {"topology.kubernetes.io/zone"}
        for constraint in spread:
            assert constraint["labelSelector"]["matchLabels"].items() <= own
    selectors = [(s, s["spec"]["selector"]) for s in _of_kind(resources, "Service")] + [
        (b, b["spec"]["selector"]["matchLabels"])
        for b in _of_kind(resources, "PodDisruptionBudget")
    ]
    for resource, selector in selectors:
        matched = [n for n, labels in pods.items() if selector.items() <= labels.items()]
        assert matched == [resource["metadata"]["name"]], _key(resource)


@pytest.mark.parametrize("name", ["base", "production"])
def test_pods_run_unprivileged_within_limits(name: str) -> None:
    for deployment in _of_kind(_build(name), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        who = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, who
        assert pod["securityContext"]["runAsUser"] > 0, who
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", who
        assert pod["automountServiceAccountToken"] is False, who
        container = _container(deployment)
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, who
        assert security["readOnlyRootFilesystem"] is True, who
        assert security["capabilities"]["drop"] == ["ALL"], who
        resources = container["resources"]
        requests, limits = resources["requests"], resources["limits"]
        assert _millicores(requests["cpu"]) <= _millicores(limits["cpu"]), who
        assert _quantity_bytes(requests["memory"]) <= _quantity_bytes(limits["memory"]), who


def test_memory_alert_fires_before_the_memory_limit() -> None:
    """PantauMemoryHigh must warn at 50-85% of every container's memory limit."""
    (alert,) = [
        rule
        for group in rule_groups()
        for rule in group["rules"]
        if rule.get("alert") == "PantauMemoryHigh"
    ]
    threshold = re.search(r">\s*([\d\s*]+)$", alert["expr"].strip())
    assert threshold, alert["expr"]
    factors = [int(f) for f in threshold.group(1).split("*")]
    threshold_bytes = 1
    for factor in factors:
        threshold_bytes *= factor
    for name in ("base", "production"):
        for deployment in _of_kind(_build(name), "Deployment"):
            limit = _quantity_bytes(_container(deployment)["resources"]["limits"]["memory"])
            assert 0.5 * limit <= threshold_bytes <= 0.85 * limit, (name, deployment)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_no_secret_values_in_the_manifests(name: str) -> None:
    resources = _build(name)
    assert not _of_kind(resources, "Secret"), "Secrets are created outside git"
    for config_map in _of_kind(resources, "ConfigMap"):
        for key, value in config_map["data"].items():
            assert not SECRET_LOOKING.search(key), key
            # No credentials inside a URL (scheme://user:password@host).
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), key
    for deployment in _of_kind(resources, "Deployment"):
        for variable in _container(deployment).get("env", []):
            if SECRET_LOOKING.search(variable["name"]):
                assert "secretKeyRef" in variable.get("valueFrom", {}), variable["name"]


@pytest.mark.parametrize("name", ["base", "production"])
def test_settings_are_ones_the_services_read(
    name: str, service_configs: dict[str, ServiceConfig]
) -> None:
    resources = _build(name)
    (config_map,) = _of_kind(resources, "ConfigMap")
    shared_keys = set(config_map["data"])
    for key in shared_keys:
        readers = [s for s, c in service_configs.items() if c.reads(key)]
        assert readers or key in READ_OUTSIDE_CONFIG, f"no service reads {key}"
    for deployment in _of_kind(resources, "Deployment"):
        service = deployment["metadata"]["name"]
        container = _container(deployment)
        assert {"configMapRef": {"name": config_map["metadata"]["name"]}} in container["envFrom"]
        config = service_configs.get(service)
        if config is None:
            continue  # that service's Config does not exist yet
        provided = shared_keys | {e["name"] for e in container["env"]}
        for variable in {e["name"] for e in container["env"]}:
            assert config.reads(variable), f"{service} does not read {variable}"
        required = {
            f"PANTAU_{field.upper()}"
            for field, info in config.cls.model_fields.items()
            if info.is_required()
        }
        assert required <= provided, f"{service} needs {sorted(required - provided)}"


def test_kafka_topics_match_the_code() -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in _of_kind(_build("kafka"), "KafkaTopic")}
    assert {name: spec["partitions"] for name, spec in topics.items()} == (
        Topics().all_with_partitions()
    )
    assert set(DEFAULT_PARTITIONS) <= topics.keys()
    for name, spec in topics.items():
        expected = DLQ_PARTITIONS if name.endswith(".dlq") else DEFAULT_PARTITIONS[name]
        assert spec["partitions"] == expected, name
        # acks=all producers need at least two in-sync replicas to survive a broker loss.
        assert spec["replicas"] >= 3, name
        assert int(spec["config"]["min.insync.replicas"]) == spec["replicas"] - 1, name
    clusters = {t["metadata"]["labels"]["strimzi.io/cluster"] for t in _build("kafka")}
    namespaces = {t["metadata"]["namespace"] for t in _build("kafka")}
    assert len(clusters) == 1 and len(namespaces) == 1


@pytest.mark.parametrize("name", ["base", "production"])
def test_consumers_scale_on_lag_up_to_their_partitions(name: str) -> None:
    resources = _build(name)
    (config_map,) = _of_kind(resources, "ConfigMap")
    bootstrap = config_map["data"]["PANTAU_KAFKA_BOOTSTRAP"]
    deployments = {d["metadata"]["name"]: d for d in _of_kind(resources, "Deployment")}
    scaled = _by_target(resources, "ScaledObject")
    hpas = _by_target(resources, "HorizontalPodAutoscaler")
    assert scaled.keys() == CONSUMES.keys()
    # KEDA makes its own HPA: a Deployment with both would be fought over.
    assert not scaled.keys() & hpas.keys()
    assert (scaled.keys() | hpas.keys()) == deployments.keys()
    for service, scaled_object in scaled.items():
        spec = scaled_object["spec"]
        assert (
            scaled_object["metadata"]["namespace"] == deployments[service]["metadata"]["namespace"]
        )
        kafka = [t for t in spec["triggers"] if t["type"] == "kafka"]
        assert {t["metadata"]["topic"] for t in kafka} == CONSUMES[service], service
        for trigger in kafka:
            meta = trigger["metadata"]
            assert meta["consumerGroup"] == KafkaSettings().group_id(service), service
            assert meta["bootstrapServers"] == bootstrap, service
        # A consumer group spreads partitions over its members; more replicas than the
        # largest topic's partitions would sit idle.
        most_partitions = max(DEFAULT_PARTITIONS[topic] for topic in CONSUMES[service])
        assert spec["maxReplicaCount"] == most_partitions, service
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], service
    for service, hpa in hpas.items():
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], service


def test_autoscalers_own_the_replica_count() -> None:
    """A `replicas` in a Deployment would reset the autoscaler's count on every apply."""
    for name in ("base", "production"):
        for deployment in _of_kind(_build(name), "Deployment"):
            assert "replicas" not in deployment["spec"], (name, deployment["metadata"]["name"])


def test_production_pins_released_images_and_keeps_three_replicas() -> None:
    resources = _build("production")
    for deployment in _of_kind(resources, "Deployment"):
        image = _container(deployment)["image"]
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", image
        registry = name.split("/")[0]
        assert "." in registry or ":" in registry, f"{image}: no registry host"
    for scaled in _of_kind(resources, "ScaledObject"):
        assert scaled["spec"]["minReplicaCount"] >= 3, scaled["metadata"]["name"]
    for hpa in _of_kind(resources, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 3, hpa["metadata"]["name"]


def test_production_takes_mongodb_credentials_from_the_operator_secret() -> None:
    for deployment in _of_kind(_build("production"), "Deployment"):
        service = deployment["metadata"]["name"]
        env = {e["name"]: e for e in _container(deployment)["env"]}
        if service in ("notifier", "reporting"):
            ref = env["PANTAU_MONGO_URL"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": f"pantau-mongodb-{service}", "key": "connectionString.standard"}
        else:
            assert "PANTAU_MONGO_URL" not in env, service


def test_readme_documents_operators_and_capacity() -> None:
    readme = (K8S_DIR / "README.md").read_text(encoding="utf-8")
    for needed in ("MongoDB Community Operator", "Strimzi", "KEDA", "partitions", "bottleneck"):
        assert needed in readme, needed


def _selects(selector: Resource, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, matchExpressions with In) matches ``labels``."""
    if selector.get("matchLabels", {}).items() - labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression  # the only operator used here
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("name", ["base", "production"])
def test_network_policies_deny_by_default_and_open_each_http_port(name: str) -> None:
    resources = _build(name)
    policies = _of_kind(resources, "NetworkPolicy")
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies)
    for deployment in _of_kind(resources, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        container = _container(deployment)
        open_ports = {
            _port_number(container, port["port"])
            for policy in policies
            if _selects(policy["spec"]["podSelector"], labels)
            for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        }
        assert open_ports == {SERVICE_PORTS[deployment["metadata"]["name"]]}, open_ports


def _relabel(rules: list[Resource], labels: dict[str, str]) -> dict[str, str]:
    """Apply `replace`/`keep` relabel rules as Prometheus does (anchored regexes)."""
    out = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(out.get(s, "") for s in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if rule.get("action", "replace") == "keep":
            if match is None:
                return {}
            continue
        if match is not None:
            replacement = re.sub(r"\$(\d)", r"\\\1", rule.get("replacement", "$1"))
            out[rule["target_label"]] = match.expand(replacement)
    return out


def test_readme_scrape_config_names_jobs_as_the_rules_expect(
    promtool: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """The Kubernetes scrape job the README gives: valid, and it yields `pantau-<svc>` jobs
    scraping each pod on its annotated port and path."""
    readme = (K8S_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Scraping", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match, "no yaml block in the Scraping section"
    (job,) = yaml.safe_load(match.group(1))
    pod = {
        "__address__": "10.1.2.3:8003",
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_annotation_prometheus_io_port": "8003",
        "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": "classifier",
        "__meta_kubernetes_pod_name": "classifier-7d9f-abcde",
    }
    target = _relabel(job["relabel_configs"], pod)
    assert target["job"] == "pantau-classifier"
    assert target["__address__"] == "10.1.2.3:8003"
    assert target["__metrics_path__"] == "/metrics"
    not_scraped = {**pod, "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "false"}
    assert _relabel(job["relabel_configs"], not_scraped) == {}
    # Debian's promtool is built without Kubernetes service discovery: check the job's
    # relabelling with a static target instead.
    del job["kubernetes_sd_configs"]
    job["static_configs"] = [{"targets": ["10.1.2.3:8003"]}]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": [job]}))
    result = promtool("check", "config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
