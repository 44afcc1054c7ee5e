"""Grafana: provisioning files and the pipeline dashboard."""

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import GRAFANA_DIR

Promtool = Callable[..., subprocess.CompletedProcess[str]]
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
PIPELINE = GRAFANA_DIR / "dashboards" / "pantau-pipeline.json"

# What a panel query may contain besides PromQL: Grafana's interval macros and the
# dashboard's own variables, replaced by values of the same kind before parsing.
GRAFANA_MACROS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
}
# Series the dashboard must show (the operations issue's list), by metric name.
REQUIRED_METRICS = {
    "up": "service up",
    "pantau_intake_reports_received_total": "reports received",
    "pantau_intake_reports_accepted_total": "reports accepted",
    "pantau_classifier_reports_total": "classified rate",
    "pantau_messages_processed_total": "messages processed per consumer",
    "pantau_notifier_deliveries_total": "alerts sent/failed by channel",
    "pantau_end_to_end_seconds_bucket": "end-to-end latency",
    "kafka_consumergroup_lag": "consumer lag per topic/partition",
    "pantau:dlq_unreplayed:sum": "DLQ sizes",
    "process_cpu_seconds_total": "CPU per service",
    "process_resident_memory_bytes": "RSS per service",
}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    # Rows only group panels: they have no query of their own.
    return [p for p in _panels(dashboard) if p["type"] != "row"]


def _variables(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each template variable and a value to stand in for it in PromQL."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        # Every variable of these dashboards sits inside a regex matcher (=~), where
        # `.+` is what "All" means.
        values[variable["name"]] = variable.get("allValue") or ".+"
    return values


def _promql(expr: str, variables: dict[str, str]) -> str:
    for macro, value in GRAFANA_MACROS.items():
        expr = expr.replace(macro, value)
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def _expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, variables substituted."""
    variables = _variables(dashboard)
    return [
        (panel["title"], _promql(target["expr"], variables))
        for panel in _data_panels(dashboard)
        for target in panel["targets"]
    ]


@pytest.fixture(scope="module")
def datasource_uids() -> set[str]:
    uids = set()
    for path in (GRAFANA_DIR / "provisioning" / "datasources").glob("*.yml"):
        uids |= {ds["uid"] for ds in yaml.safe_load(path.read_text())["datasources"]}
    return uids


def test_the_pipeline_dashboard_is_provisioned() -> None:
    assert PIPELINE in DASHBOARDS
    (provider_file,) = (GRAFANA_DIR / "provisioning" / "dashboards").glob("*.yml")
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_uids_are_unique() -> None:
    uids = [_load(path)["uid"] for path in DASHBOARDS]
    assert all(uids) and len(uids) == len(set(uids)), uids


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_have_a_datasource_and_queries(path: Path, datasource_uids: set[str]) -> None:
    dashboard = _load(path)
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    panels = _data_panels(dashboard)
    assert panels
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"]["uid"] in datasource_uids, title
        assert panel["targets"], f"{title}: no query"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), title
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in datasource_uids, title
            assert target["expr"].strip(), title
        assert panel.get("description"), f"{title}: say what the panel shows"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _panels(_load(path)):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_is_valid_promql(path: Path, promtool: Promtool, tmp_path: Path) -> None:
    """Wrap each panel query in a recording rule and let promtool parse the file offline."""
    dashboard = _load(path)
    expressions = _expressions(dashboard)
    variable_queries = _variable_selectors(dashboard)
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, (_, expr) in enumerate(expressions + variable_queries)
    ]
    rule_file = tmp_path / "dashboard.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def _variable_selectors(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """The series selector inside each `label_values(selector, label)` variable query."""
    out = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", text.strip())
        assert match, f"variable {variable['name']}: unsupported query {text!r}"
        out.append((f"variable {variable['name']}", match.group(1)))
    return out


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_only_metrics_the_code_defines(
    path: Path,
    metric_names_of: Callable[[str], list[str]],
    known_metric: Callable[[str], bool],
) -> None:
    dashboard = _load(path)
    unknown = {
        (title, name)
        for title, expr in _expressions(dashboard) + _variable_selectors(dashboard)
        for name in metric_names_of(expr)
        if not known_metric(name)
    }
    assert not unknown, f"panels query metrics no code defines: {sorted(unknown)}"


def test_pipeline_dashboard_shows_what_operators_need(
    metric_names_of: Callable[[str], list[str]],
) -> None:
    dashboard = _load(PIPELINE)
    used = {name for _, expr in _expressions(dashboard) for name in metric_names_of(expr)}
    missing = {metric: what for metric, what in REQUIRED_METRICS.items() if metric not in used}
    assert not missing, missing
    text = json.dumps(dashboard)
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le, stage)" in text
