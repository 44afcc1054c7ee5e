import pytest

from pantau.bench.metrics import HANDLING_COUNT, HANDLING_SUM, costs, parse

TEXT = """# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# HELP pantau_intake_publish_seconds Wait for Kafka.
# TYPE pantau_intake_publish_seconds histogram
pantau_intake_publish_seconds_bucket{outcome="acknowledged",le="+Inf"} 100.0
pantau_intake_publish_seconds_count{outcome="acknowledged"} 100.0
pantau_intake_publish_seconds_sum{outcome="acknowledged"} 4.0
pantau_intake_publish_seconds_count{outcome="unavailable"} 2.0
pantau_intake_publish_seconds_sum{outcome="unavailable"} 3.0
"""


def test_parse_sums_samples_over_labels() -> None:
    snapshot = parse(TEXT)
    assert snapshot["process_cpu_seconds_total"] == 12.5
    assert snapshot["pantau_intake_publish_seconds_count"] == 102.0
    assert snapshot["pantau_intake_publish_seconds_sum"] == 7.0


def test_costs_per_report_from_two_snapshots() -> None:
    before = {
        "intake": {
            "process_cpu_seconds_total": 10.0,
            "pantau_intake_publish_seconds_count": 100.0,
            "pantau_intake_publish_seconds_sum": 5.0,
        },
        "classifier": {"process_cpu_seconds_total": 3.0},
        "reporting": {"process_cpu_seconds_total": 1.0},
    }
    after = {
        "intake": {
            "process_cpu_seconds_total": 12.0,
            "pantau_intake_publish_seconds_count": 600.0,
            "pantau_intake_publish_seconds_sum": 30.0,
        },
        "classifier": {"process_cpu_seconds_total": 4.0},
        # reporting did not answer the second scrape: left out, not counted as zero
    }
    result = costs(before=before, after=after, reports=500)
    assert result.cpu_ms_per_report == {
        "classifier": pytest.approx(2.0),
        "intake": pytest.approx(4.0),
    }
    assert result.publish_mean_ms == pytest.approx(50.0)


def test_no_reports_or_no_intake_means_nothing_measured() -> None:
    result = costs(before={}, after={}, reports=0)
    assert (result.cpu_ms_per_report, result.publish_mean_ms) == ({}, None)


def test_handling_time_per_message_of_each_consumer() -> None:
    before = {"notifier": {HANDLING_SUM: 10.0, HANDLING_COUNT: 5}, "intake": {}}
    after = {"notifier": {HANDLING_SUM: 34.0, HANDLING_COUNT: 15}, "intake": {}}
    result = costs(before=before, after=after, reports=10)
    assert result.handled == {"notifier": 10}
    assert result.handling_ms == {"notifier": pytest.approx(2400.0)}
