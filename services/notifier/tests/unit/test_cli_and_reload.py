"""``pantau routes check|explain`` and reloading the routes file."""

import json
import os
from pathlib import Path

import typer
from typer.testing import CliRunner

from pantau.notifier.adapters.outbound.routes_file import DirectorySource
from pantau.notifier.cli import register
from pantau.notifier.core.models import ReportFacts
from pantau.shared import testing
from pantau.shared.events import Category, Severity

EXAMPLE = Path(__file__).parents[2] / "docs" / "routes.example.yaml"


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_check_accepts_the_example_and_lists_problems_of_a_bad_file(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(_cli(), ["routes", "check", "-f", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "OK, 9 recipients, 8 routes" in ok.output
    assert "kpu-bogor-ketua is in no route" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipients: []\nroutes: [{id: r, region: '99', recipients: [x]}]\n")
    failed = runner.invoke(_cli(), ["routes", "check", "-f", str(bad)])
    assert failed.exit_code == 1
    assert "routes.0.region" in failed.output


def test_explain_by_options(tmp_path):
    result = CliRunner().invoke(
        _cli(),
        [
            "routes",
            "explain",
            "-f",
            str(EXAMPLE),
            "--region",
            "3201011002",
            "--category",
            "politik_uang",
            "--severity",
            "high",
            "--institution",
            "Bawaslu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Bawaslu: most specific match at 32.01 (Kabupaten Bogor)" in result.output
    assert "→ bawaslu-bogor" in result.output
    assert "escalation 1 adds: bawaslu-jabar" in result.output


def test_explain_a_classified_event_from_stdin():
    event = testing.classified(category=Category.BENCANA_ALAM, severity=Severity.CRITICAL)
    result = CliRunner().invoke(
        _cli(),
        ["routes", "explain", "-f", str(EXAMPLE), "--report", "-"],
        input=event.model_dump_json(),
    )
    assert result.exit_code == 0, result.output
    assert f"report {event.data.report_id}: bencana_alam, critical" in result.output
    for recipient in ("tim-cibinong", "kpu-bogor", "bpbd-bogor", "ops-nasional"):
        assert f"→ {recipient} " in result.output


def test_explain_a_minimal_json_report(tmp_path):
    report = tmp_path / "r.json"
    report.write_text(
        json.dumps({"region_code": "73.71", "category": "keamanan", "severity": "critical"})
    )
    result = CliRunner().invoke(
        _cli(), ["routes", "explain", "-f", str(EXAMPLE), "--report", str(report)]
    )
    assert "→ ops-nasional " in result.output and "→ kpu-bogor" not in result.output


def test_a_changed_file_is_reloaded_and_a_broken_one_ignored(tmp_path):
    path = tmp_path / "routes.yaml"
    text = EXAMPLE.read_text()
    path.write_text(text)
    source = DirectorySource(path=path, default_email_to=[])
    first = source.version
    assert source.refresh() is False  # unchanged
    path.write_text(text.replace("min_severity: critical", "min_severity: high"))
    os.utime(path, ns=(1, 1))  # a new stamp even within the file system's time resolution
    assert source.refresh() is True and source.version != first
    national = next(r for r in source.router.directory.routes if r.id == "nasional-kritis")
    assert national.min_severity == Severity.HIGH
    path.write_text("recipients: [")
    assert source.refresh() is False
    assert source.router.directory.recipients  # the previous version stays


def test_without_a_file_the_default_route_mails_the_configured_addresses():
    source = DirectorySource(path=None, default_email_to=["a@x.id", "b@x.id"])
    report = ReportFacts.from_event(testing.classified(severity=Severity.LOW).data)
    decision = source.router.decide(report)
    [recipient] = decision.recipients
    assert [a.target for a in recipient.addresses] == ["a@x.id", "b@x.id"]
