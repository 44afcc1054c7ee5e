"""Prometheus: scrape configs, alert rules and their promtool unit tests."""

import re
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import PROMETHEUS_DIR, SERVICE_PORTS, ServiceConfig

Promtool = Callable[..., subprocess.CompletedProcess[str]]
CONFIGS = {
    "prometheus.yml": {svc: f"127.0.0.1:{port}" for svc, port in SERVICE_PORTS.items()},
    "prometheus.docker.yml": {svc: f"{svc}:{port}" for svc, port in SERVICE_PORTS.items()},
}
CALENDAR = PROMETHEUS_DIR / "rules" / "election-calendar.rules.yml"
REQUIRED_ANNOTATIONS = ("summary", "description", "summary_en", "description_en")
SEVERITIES = {"critical", "warning", "info"}
# Alerts the operations issue asks for; each must exist and be unit-tested where marked.
REQUIRED_ALERTS = {
    "PantauServiceDown",
    "PantauServiceAbsent",
    "PantauConsumerLagGrowing",
    "PantauDeadLetterQueueNotEmpty",
    "PantauDeadLetterQueueGrowing",
    "PantauAlertDeliveryDeadLettered",
    "PantauAlertDeliveryFailing",
    "PantauNoReportsDuringVoting",
    "PantauHighErrorRate",
    "PantauMemoryHigh",
}


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alerts(rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules if "alert" in rule}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_promtool_accepts_the_config(promtool: Promtool, config: str) -> None:
    result = promtool("check", "config", config)
    _ok(result)
    # Rule files are found through the config's glob, not silently matched to nothing.
    assert "pantau.rules.yml" in result.stdout + result.stderr


def test_promtool_accepts_the_rules(promtool: Promtool) -> None:
    files = sorted(str(p.relative_to(PROMETHEUS_DIR)) for p in PROMETHEUS_DIR.glob("rules/*.yml"))
    assert files
    _ok(promtool("check", "rules", *files))


def test_rule_unit_tests_pass(promtool: Promtool) -> None:
    tests = sorted(
        str(p.relative_to(PROMETHEUS_DIR)) for p in PROMETHEUS_DIR.glob("tests/*.test.yml")
    )
    assert tests
    _ok(promtool("test", "rules", *tests))


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_one_job_per_service_on_its_port(config: str) -> None:
    scrape = {job["job_name"]: job for job in _load(PROMETHEUS_DIR / config)["scrape_configs"]}
    for service, target in CONFIGS[config].items():
        job = scrape[f"pantau-{service}"]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        (static,) = job["static_configs"]
        assert static["targets"] == [target]
        # A `service` target label would clash with the metrics' own `service` label.
        assert "service" not in static.get("labels", {})
        assert static["labels"]["component"] == service


def test_ports_agree_with_the_services(service_configs: dict[str, ServiceConfig]) -> None:
    for service, config in service_configs.items():
        if config.http_port is not None:
            assert config.http_port == SERVICE_PORTS[service], service


def test_every_alert_has_severity_and_both_languages(rules: list[dict[str, Any]]) -> None:
    alerts = _alerts(rules)
    assert alerts.keys() >= REQUIRED_ALERTS, REQUIRED_ALERTS - alerts.keys()
    for name, alert in alerts.items():
        assert alert["labels"]["severity"] in SEVERITIES, name
        for key in REQUIRED_ANNOTATIONS:
            text = alert["annotations"].get(key, "")
            assert len(text.strip()) > 10, f"{name}: annotation {key} missing"
        # Indonesian and English texts are different texts, not copies.
        assert alert["annotations"]["summary"] != alert["annotations"]["summary_en"], name


def test_every_alert_has_a_unit_test_where_it_fires(rules: list[dict[str, Any]]) -> None:
    tested: set[str] = set()
    for path in PROMETHEUS_DIR.glob("tests/*.test.yml"):
        for case in _load(path)["tests"]:
            tested |= {
                t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts")
            }
    untested = _alerts(rules).keys() - tested
    assert not untested, f"alerts no promtool test sees firing: {sorted(untested)}"


def test_rules_query_only_metrics_that_exist(
    rules: list[dict[str, Any]],
    metric_names_of: Callable[[str], list[str]],
    known_metric: Callable[[str], bool],
) -> None:
    unknown = {
        (rule.get("alert") or rule["record"], name)
        for rule in rules
        for name in metric_names_of(rule["expr"])
        if not known_metric(name)
    }
    assert not unknown, f"rules query metrics no code defines: {sorted(unknown)}"


def _calendar_days() -> list[date]:
    (group,) = _load(CALENDAR)["groups"]
    (rule,) = group["rules"]
    terms = re.findall(
        r"year\(\) == (\d{4}) and on\(\) month\(\) == (\d{1,2}) "
        r"and on\(\) day_of_month\(\) == (\d{1,2})",
        rule["expr"],
    )
    return [date(int(y), int(m), int(d)) for y, m, d in terms]


def test_calendar_marks_exactly_its_election_days(promtool: Promtool, tmp_path: Path) -> None:
    """Evaluate the calendar at each listed day (and the days around it) with promtool.

    A rule evaluation loop from 1970 to these dates takes minutes, so the calendar's
    expression is evaluated directly as a PromQL test expression at those instants.
    """
    (group,) = _load(CALENDAR)["groups"]
    (rule,) = group["rules"]
    assert rule["record"] == "pantau:election_day:active"
    days = _calendar_days()
    assert days, "no election day parsed from the calendar"
    cases = []
    for day in days:
        opening = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)  # 08:00 WIB
        for offset, expected in ((timedelta(0), [{"labels": "{}", "value": 1}]),
                                 (timedelta(days=-1), []), (timedelta(days=1), [])):  # fmt: skip
            if (opening + offset).date() in days and not expected:
                continue  # consecutive election days
            hours = int((opening + offset).timestamp()) // 3600
            cases.append({"expr": rule["expr"], "eval_time": f"{hours}h", "exp_samples": expected})
    test_file = tmp_path / "calendar.test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [],
                # No rules to evaluate: a coarse step keeps promtool from walking
                # 1970..today minute by minute.
                "evaluation_interval": "1h",
                "tests": [{"interval": "1h", "promql_expr_test": cases}],
            }
        ),
        encoding="utf-8",
    )
    _ok(promtool("test", "rules", str(test_file)))
