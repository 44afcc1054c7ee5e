"""Routes file validation and the per-institution region fallback."""

from pathlib import Path

import pytest

from pantau.notifier.core.directory import parse_directory
from pantau.notifier.core.errors import RoutesError
from pantau.shared.events import Category, Severity

EXAMPLE = Path(__file__).parents[2] / "docs" / "routes.example.yaml"


class TestDirectory:
    def test_the_shipped_example_is_valid(self):
        directory = parse_directory(EXAMPLE.read_text())
        assert "kpu-bogor" in directory.recipients
        assert directory.recipients["ops-nasional"].region is None

    def test_every_problem_is_listed_with_its_place(self):
        text = """
recipients:
  - {id: a, name: A, institution: Kantor Pos, region: "99.99",
     channels: [{channel: email, target: nope}]}
  - {id: b, name: B, institution: kpu, region: "3201",
     channels: [{channel: webhook, target: "ftp://x"}]}
routes:
  - {id: r, region: national, min_severity: dire, recipients: [a]}
"""
        with pytest.raises(RoutesError) as caught:
            parse_directory(text)
        message = str(caught.value)
        assert "recipients.0.institution" in message and "Kantor Pos" in message
        assert "recipients.0.region" in message
        assert "recipients.0.channels.0.target" in message
        assert "recipients.1.channels.0.target" in message
        assert "routes.0.min_severity" in message

    def test_references_and_duplicates_are_checked(self):
        text = """
recipients:
  - {id: a, name: A, institution: KPU, channels: [{channel: email, target: a@x.id}]}
  - {id: a, name: A2, institution: KPU, channels: [{channel: email, target: a2@x.id}]}
routes:
  - {id: r, recipients: [a, ghost]}
"""
        with pytest.raises(RoutesError) as caught:
            parse_directory(text)
        assert "duplicate id 'a'" in str(caught.value)
        assert "unknown recipient 'ghost'" in str(caught.value)

    def test_undotted_codes_and_aliases_are_normalised(self):
        directory = parse_directory(
            """
recipients:
  - {id: p, name: P, institution: police, region: "3201",
     channels: [{channel: telegram, target: "-100"}]}
routes: []
"""
        )
        assert directory.recipients["p"].region == "32.01"
        assert directory.recipients["p"].institution == "Polri"

    def test_yaml_errors_and_unknown_keys_are_rejected(self):
        with pytest.raises(RoutesError, match="not valid YAML"):
            parse_directory("recipients: [")
        with pytest.raises(RoutesError, match="Extra inputs"):
            parse_directory("recipients: []\nroutes: []\nroute: []\n")


class TestRouting:
    def test_each_institution_falls_back_to_its_most_specific_level(self, router, make_facts):
        report = make_facts(category=Category.BENCANA_ALAM, severity=Severity.HIGH)
        decision = router.decide(report)
        # The village team at its district, KPU Bogor (not KPU Jabar) at the regency.
        assert sorted(r.id for r in decision.recipients) == ["kpu-bogor", "tim-cibinong"]
        assert [rung.region for rung in decision.ladders["KPU"]] == ["32.01", "32"]

    def test_category_and_severity_filter_routes(self, router, make_facts):
        low = router.decide(make_facts(category=Category.POLITIK_UANG, severity=Severity.LOW))
        assert [r.id for r in low.recipients] == []
        medium = router.decide(make_facts(category=Category.POLITIK_UANG, severity=Severity.MEDIUM))
        assert sorted(r.id for r in medium.recipients) == ["bawaslu-bogor", "tim-cibinong"]

    def test_a_report_outside_every_region_falls_back_to_national(self, router, make_facts):
        report = make_facts(region="73.71", severity=Severity.CRITICAL)  # Kota Makassar
        assert [r.id for r in router.decide(report).recipients] == ["ops"]
        report = make_facts(region="73.71", severity=Severity.HIGH)
        assert router.decide(report).recipients == ()

    def test_province_route_serves_a_regency_without_its_own(self, router, make_facts):
        report = make_facts(region="32.73", severity=Severity.HIGH)  # Kota Bandung
        assert [r.id for r in router.decide(report).recipients] == ["kpu-jabar"]

    def test_escalation_climbs_the_region_and_the_institution(self, router, make_facts):
        decision = router.decide(make_facts(severity=Severity.HIGH))
        step1 = router.escalation_targets(decision, step=1)
        assert sorted(r.id for r in step1) == ["kpu-bogor-2", "kpu-jabar"]
        assert router.escalation_targets(decision, step=2) == ()

    def test_explain_says_why(self, router, make_facts):
        decision = router.decide(
            make_facts(category=Category.KEAMANAN, severity=Severity.LOW), explain=True
        )
        text = "\n".join(decision.trace)
        assert "route bogor-kpu at 32.01 (Kabupaten Bogor): skipped: category keamanan" in text
        assert "severity low below medium" in text
        assert "nobody is alerted" in text
