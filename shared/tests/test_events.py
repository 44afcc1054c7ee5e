"""Contract tests: events round-trip, and their JSON schemas change only on purpose."""

import json
from pathlib import Path

import pytest

from pantau.shared import testing
from pantau.shared.events import ALL_EVENTS, ReportClassified, ReportSubmitted
from pantau.shared.validation import ContractValidationError, parse_event

SNAPSHOT_DIR = Path(__file__).parent / "schemas"


def test_submitted_round_trips_through_bytes():
    event = testing.submitted()
    assert parse_event(event.to_bytes(), ReportSubmitted) == event


def test_classified_round_trips_through_bytes():
    event = testing.classified()
    assert parse_event(event.to_bytes(), ReportClassified) == event


def test_an_event_of_another_type_is_rejected():
    with pytest.raises(ContractValidationError, match="ReportSubmitted"):
        parse_event(testing.classified().to_bytes(), ReportSubmitted)


def test_garbage_is_rejected_with_one_error_type():
    with pytest.raises(ContractValidationError):
        parse_event(b"\x00not json", ReportSubmitted)


def test_unknown_optional_fields_are_ignored_so_producers_can_add_them():
    raw = json.loads(testing.submitted().to_bytes())
    raw["data"]["added_in_a_later_minor_version"] = 1
    raw["new_envelope_attribute"] = "x"
    assert parse_event(json.dumps(raw), ReportSubmitted).data.report_id == raw["subject"]


def test_region_ref_resolves_the_hierarchy_of_a_village():
    ref = testing.submitted(region="3201011001").data.region
    assert (ref.province, ref.regency, ref.district, ref.village) == (
        "32",
        "32.01",
        "32.01.01",
        "32.01.01.1001",
    )


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.TYPE)
def test_json_schema_matches_the_snapshot(model):
    """A failure means the contract changed: if that was intended and compatible
    (optional fields added), refresh with PANTAU_UPDATE_SCHEMAS=1; if it breaks
    consumers, make a new event type version instead."""
    import os

    schema = json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
    path = SNAPSHOT_DIR / f"{model.TYPE}.json"
    if os.environ.get("PANTAU_UPDATE_SCHEMAS") == "1" or not path.exists():
        SNAPSHOT_DIR.mkdir(exist_ok=True)
        path.write_text(schema)
    assert path.read_text() == schema
