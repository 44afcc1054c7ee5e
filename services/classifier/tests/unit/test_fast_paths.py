"""The hand-tuned hot paths give exactly what the plain code they replace gives.

- ``classified_event_bytes`` builds the ``report.classified`` JSON without the pydantic
  models: byte for byte what ``ReportClassified.to_bytes()`` writes, and valid against
  the contract.
- ``classified_event_id`` is ``uuid.uuid5`` without ``UUID`` objects.
- ``keyed_partitioner`` is aiokafka's ``DefaultPartitioner`` with a memoised hash.
- ``message_headers`` needs no event object, yet gives a real event's headers.
- The raw-token regex is the plain one with its lookbehind moved (same tokens).
"""

import re
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.classifier.adapters.consumer import keyed_partitioner, message_headers
from pantau.classifier.adapters.events import (
    _EVENT_NAMESPACE,
    classified_event,
    classified_event_bytes,
    classified_event_id,
    report_input,
)
from pantau.classifier.core import Ruleset, classify
from pantau.classifier.core.text import _RAW_TOKEN
from pantau.classifier.eval import DATA_DIR, load_examples
from pantau.shared.events import Location, ReportClassified
from pantau.shared.testing import submitted
from pantau.shared.tracing import record_headers_for

# The tokeniser as first written (lookbehind before the number).
_PLAIN_RAW_TOKEN = re.compile(
    r"(?<![a-z0-9])\d{1,3}(?:[.,]\d{3})+(?![0-9])|[a-z0-9]+|[.!?;\n\r()\[\]]+|,\s"
)

VARIANTS = [
    {},
    {"title": "Judul “kutipan” é", "tps": 7, "location": Location(lat=-6.25, lon=106.8)},
    {"tps": None, "title": None, "category_hint": "logistik"},
    {
        "location": Location(lat=0.0, lon=-180.0),
        "description": 'Kutip "ganda" \\ \u0000 \U0001f600',
    },
]


@pytest.mark.parametrize("variant", range(len(VARIANTS)))
@pytest.mark.parametrize("region", ["32.01.01", "35.27", "94.71.01.1001", "31"])
def test_classified_bytes_equal_the_models_bytes(rules: Ruleset, variant: int, region: str) -> None:
    for ex in load_examples(DATA_DIR / "dev.jsonl")[variant::20]:
        fields = {"description": ex.text, **VARIANTS[variant]}
        event = submitted(region=region, **fields)
        result = classify(report_input(event), rules)
        now = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
        expected = classified_event(event, result, now=now).to_bytes()
        fast = classified_event_bytes(event, result, now=now)
        assert fast == expected
        assert ReportClassified.model_validate_json(fast) == classified_event(
            event, result, now=now
        )


def test_classified_event_id_is_uuid5() -> None:
    for _ in range(200):
        event = submitted()
        for version in ("2026.11.28-3", "ü-test", ""):
            expected = uuid.uuid5(_EVENT_NAMESPACE, f"{event.event_id}:{version}")
            assert classified_event_id(event, version) == str(expected)


@given(key=st.binary(max_size=40), partitions=st.integers(min_value=1, max_value=64))
@settings(max_examples=300, deadline=None, database=None)
def test_keyed_partitioner_matches_aiokafka(key: bytes, partitions: int) -> None:
    all_partitions = list(range(partitions))
    assert keyed_partitioner(key, all_partitions, all_partitions) == DefaultPartitioner()(
        key, all_partitions, all_partitions
    )


@given(text=st.text(alphabet="ab9012.,; \n()[]!?٣x", max_size=40))
@settings(max_examples=2000, deadline=None, database=None)
def test_raw_token_regex_matches_the_plain_one(text: str) -> None:
    assert _RAW_TOKEN.findall(text) == _PLAIN_RAW_TOKEN.findall(text)


@pytest.mark.parametrize(
    "traceparent", [None, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]
)
def test_message_headers_equal_those_of_a_real_classified_event(
    rules: Ruleset, traceparent: str | None
) -> None:
    event = submitted()
    real = classified_event(event, classify(report_input(event), rules))
    assert message_headers(traceparent) == record_headers_for(real, traceparent=traceparent)
