"""A real Prometheus (Debian's `prometheus`) scraping the real metric definitions.

promtool proves the rules and panel queries parse; only a running server shows that
they evaluate without errors on live series (vector matching, label sets) and that the
panels fed by Pantau's own metrics actually show data. The scrape targets are one
synthetic exporter (tests/ops/synthetic_exporter.py) standing in for the four services.
"""

import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pantau.localstack.testing import free_port, wait_for

from .conftest import GRAFANA_DIR, PROMETHEUS_DIR, metric_modules

# 1 s scrapes: a rate over 10 s then spans several samples within seconds.
SCRAPE_INTERVAL = "1s"
RATE_INTERVAL = "10s"
EXPORTER = Path(__file__).parent / "synthetic_exporter.py"


def _prometheus_config(*, exporter_port: int) -> dict[str, Any]:
    """prometheus.yml with every pantau-* job pointed at the synthetic exporter."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=SCRAPE_INTERVAL, evaluation_interval=SCRAPE_INTERVAL)
    config["global"]["scrape_timeout"] = SCRAPE_INTERVAL
    config["rule_files"] = [str(p) for p in sorted((PROMETHEUS_DIR / "rules").glob("*.rules.yml"))]
    jobs = [job for job in config["scrape_configs"] if job["job_name"].startswith("pantau-")]
    for job in jobs:
        job["static_configs"][0]["targets"] = [f"127.0.0.1:{exporter_port}"]
    config["scrape_configs"] = jobs
    return config


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the prometheus server is not installed (apt-get install -y prometheus)")
    workdir = tmp_path_factory.mktemp("prometheus")
    exporter_port, prometheus_port = free_port(), free_port()
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(_prometheus_config(exporter_port=exporter_port)))
    exporter = subprocess.Popen(
        [
            sys.executable,
            str(EXPORTER),
            "--port",
            str(exporter_port),
            *(arg for module in metric_modules() for arg in ("--module", module)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "exporter.log").open("w"),
    )
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "prometheus.log").open("w"),
    )
    try:
        yield f"http://127.0.0.1:{prometheus_port}"
    finally:
        for process in (server, exporter):
            process.terminate()
        for process in (server, exporter):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
async def prometheus(prometheus_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running server, once it has scraped every target at least twice."""
    async with httpx.AsyncClient(base_url=prometheus_url, timeout=5) as client:

        async def ready() -> bool:
            try:
                return (await client.get("/-/ready")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(ready, timeout=30)

        async def targets_up() -> bool:
            body = (await client.get("/api/v1/targets")).json()
            targets = body["data"]["activeTargets"]
            return len(targets) == 4 and all(t["health"] == "up" for t in targets)

        await wait_for(targets_up, timeout=30)

        async def rates_available() -> list[Any]:
            return await _query(client, f"rate(pantau_messages_processed_total[{RATE_INTERVAL}])")

        await wait_for(rates_available, timeout=30)
        yield client


async def _query(client: httpx.AsyncClient, expr: str) -> list[Any]:
    response = await client.get("/api/v1/query", params={"query": expr})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    assert not body.get("warnings"), (expr, body["warnings"])
    return body["data"]["result"]


async def test_every_rule_evaluates_without_error(prometheus: httpx.AsyncClient) -> None:
    async def evaluated_rules() -> list[dict[str, Any]] | None:
        groups = (await prometheus.get("/api/v1/rules")).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        never = [r for r in rules if r["lastEvaluation"].startswith("0001-")]
        return None if never or not rules else rules

    rules = await wait_for(evaluated_rules, timeout=30)
    failing = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not failing, failing
    files = {p.name for p in (PROMETHEUS_DIR / "rules").glob("*.rules.yml")}
    groups = (await prometheus.get("/api/v1/rules")).json()["data"]["groups"]
    assert {Path(g["file"]).name for g in groups} == files


async def test_dashboard_panels_show_the_services_metrics(
    prometheus: httpx.AsyncClient,
    metric_names_of: Callable[[str], list[str]],
    defined_metrics: set[str],
) -> None:
    """Every query runs; a panel fed only by Pantau's own metrics (or `up`, process_*)
    returns data, so it will not sit empty in front of an operator."""
    dashboard = json.loads((GRAFANA_DIR / "dashboards" / "pantau-pipeline.json").read_text())
    empty_panels = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        own_data = False
        fed_by_services = False
        for target in panel["targets"]:
            expr = (
                target["expr"]
                .replace("$__rate_interval", RATE_INTERVAL)
                .replace("$job", "pantau-.+")
            )
            result = await _query(prometheus, expr)
            names = set(metric_names_of(expr))
            if all(n in defined_metrics or n == "up" or n.startswith("process_") for n in names):
                fed_by_services = True
                own_data = own_data or bool(result)
        if fed_by_services and not own_data:
            empty_panels.append(panel["title"])
    assert not empty_panels, f"panels without data: {empty_panels}"
