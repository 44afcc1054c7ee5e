"""The hand-tuned hot paths give exactly what the plain code they replace gives.

- ``classified_event_bytes`` builds the ``report.classified`` JSON without the pydantic
  models: byte for byte what ``ReportClassified.to_bytes()`` writes, and valid against
  the contract.
- ``classified_event_id`` is ``uuid.uuid5`` without ``UUID`` objects.
- ``keyed_partitioner`` is aiokafka's ``DefaultPartitioner`` with a memoised hash.
- ``message_headers`` needs no event object, yet gives a real event's headers.
- The raw-token regex is the plain one with its lookbehind moved (same tokens).
- Analysing a text chunk by chunk (split at whitespace, each chunk's entry cached)
  gives the tokens, stems, negation, quantities and clauses of the raw-token regex run
  over the whole text.
- Term matching finds the longest matches in one pass, as the plain two-step version
  (every hit, then drop those strictly inside a longer phrase) does.
- ``OutgoingBatch`` puts each classified record in the partition aiokafka's ``send``
  would, sends full record batches at once and the rest on ``send``, and fails as
  ``send`` fails.
"""

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.classifier.adapters.consumer import (
    MAX_REQUEST_SIZE,
    OutgoingBatch,
    keyed_partitioner,
    message_headers,
)
from pantau.classifier.adapters.events import (
    _EVENT_NAMESPACE,
    classified_event,
    classified_event_bytes,
    classified_event_id,
    report_input,
)
from pantau.classifier.core import Ruleset, classify
from pantau.classifier.core.engine import _find_hits
from pantau.classifier.core.text import _RAW_TOKEN, Analysed, fold
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


# ---------------------------------------------------------------- chunked analysis

# Words the lexicon knows (negators, clause and scope breakers, number and identifier
# words, slang) and every kind of separator: commas with and without a following space,
# line breaks, brackets, other whitespace (Unicode too), punctuation the regex skips.
CHUNK_WORDS = [
    "tidak", "bukan", "tetapi", "namun", "karena", "kalau", "gak", "banjir", "tps", "TPS",
    "50", "07", "1.200", "2x", "bagi2", "ratusan", "hoaks", "serangan", "fajar", "tewas",
    "rt", "tps05", "bannnjir", "ｂａｎｊｉｒ", "é",
]  # fmt: skip
CHUNK_SEPARATORS = [
    " ", "  ", "\n", "\r\n", "\r", "\t", ", ", ",", ",,", ".", ". ", "(", ")", "[", "]",
    "!", "?", ";", "-", ":", "/", "\u00a0", "\u2028", "\x0b", "\x1c", "\x85", "🙂",
]  # fmt: skip
chunk_texts = st.one_of(
    st.lists(
        st.one_of(st.sampled_from(CHUNK_WORDS), st.sampled_from(CHUNK_SEPARATORS)), max_size=40
    ).map("".join),
    st.text(alphabet="ab9012.,;:-() \n\r\t\u00a0\x85", max_size=60),
)


def _clause_starts(doc: Analysed) -> list[bool]:
    """Which tokens start a clause: the partition the clause indices stand for."""
    clause = doc.clause
    return [i == 0 or clause[i] != clause[i - 1] for i in range(len(clause))]


@given(text=chunk_texts)
@settings(max_examples=1500, deadline=None, database=None)
def test_chunked_analysis_equals_the_whole_text_regex(rules: Ruleset, text: str) -> None:
    analyser = rules.analyser
    whole = analyser._analyse(
        [analyser._tokens.get(raw) or analyser._raw(raw) for raw in _RAW_TOKEN.findall(fold(text))]
    )
    chunked = analyser.analyse(text)
    assert chunked.surfaces == whole.surfaces
    assert chunked.stems == whole.stems
    assert chunked.negated == whole.negated
    assert chunked.quantities == whole.quantities
    assert _clause_starts(chunked) == _clause_starts(whole)


# ---------------------------------------------------------------- longest match


def _plain_hits(rules: Ruleset, stems: tuple[str, ...]) -> list[tuple[int, int, int]]:
    """Every hit in text order, then those strictly inside a longer covering phrase
    dropped (the matching as first written)."""
    hits, phrase_hits = [], []
    n = len(stems)
    for i, stem in enumerate(stems):
        if stem not in rules.term_index:
            continue
        unigram_ids, phrases = rules.term_index[stem]
        for tid in unigram_ids:
            hits.append((tid, i, i + 1))
        if phrases and i + 1 < n:
            for seq, tid, _, _ in phrases.get(stems[i + 1], ()):
                end = i + len(seq)
                if end <= n and stems[i:end] == seq:
                    hits.append((tid, i, end))
                    phrase_hits.append((tid, i, end))
    if not phrase_hits or len(hits) < 2:
        return hits
    spans = [(s, e) for t, s, e in phrase_hits if t not in rules.severity_only]
    covered = {i for s, e in spans for i in range(s, e)}
    return [
        h
        for h in hits
        if (h[2] - h[1] == 1 and h[1] not in covered)
        or (
            h[2] - h[1] > 1
            and not any(s <= h[1] and h[2] <= e and e - s > h[2] - h[1] for s, e in spans)
        )
    ]


@pytest.fixture(scope="module")
def term_stems(rules: Ruleset) -> list[tuple[str, ...]]:
    """The stems of every term, phrases first in weight: overlapping and nested phrases
    come from putting terms next to each other."""
    phrases = [t.stems for t in rules.terms if len(t.stems) > 1]
    return phrases * 3 + [t.stems for t in rules.terms if len(t.stems) == 1] + [("xyz",)]


@given(data=st.data())
@settings(max_examples=1500, deadline=None, database=None)
def test_one_pass_longest_match_equals_the_plain_one(
    rules: Ruleset, term_stems: list[tuple[str, ...]], data: st.DataObject
) -> None:
    pieces = data.draw(st.lists(st.sampled_from(term_stems), max_size=12))
    stems = [stem for piece in pieces for stem in piece]
    # Cut some stems out, so phrases overlap and break in every way.
    drops = data.draw(st.sets(st.integers(0, max(len(stems) - 1, 0)), max_size=4))
    text = tuple(stem for i, stem in enumerate(stems) if i not in drops)
    assert _find_hits(rules, text) == _plain_hits(rules, text)


# ---------------------------------------------------------------- outgoing batch


class FakeProducer:
    """What ``OutgoingBatch`` uses of ``AIOKafkaProducer``: small record batches, and
    ``send_batch`` recording each batch, acknowledged (or failed) at once."""

    def __init__(self, *, batch_size: int = 4096, fail: bool = False) -> None:
        self.batch_size = batch_size
        self.fail = fail
        self.sent: list[tuple[str, int, BatchBuilder]] = []

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)  # no compression

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        assert batch.closed()
        self.sent.append((topic, partition, batch))
        delivery = asyncio.get_running_loop().create_future()
        if self.fail:
            delivery.set_exception(KafkaTimeoutError())
        else:
            delivery.set_result(None)
        return delivery

    def records(self) -> list[tuple[str, int, bytes, bytes, list[tuple[str, bytes]]]]:
        out = []
        for topic, partition, builder in self.sent:
            for rec in DefaultRecordBatch(builder._build()):
                out.append((topic, partition, rec.key, rec.value, list(rec.headers)))
        return out


async def test_outgoing_batch_partitions_like_send_and_sends_full_batches_at_once() -> None:
    producer = FakeProducer()
    partitions = list(range(12))
    outgoing = OutgoingBatch(producer, "t", partitions)  # type: ignore[arg-type]
    records = [
        (f"value {i} ".encode() * 40, f"{32 + i % 5}.0{i % 3}".encode(), [("n", str(i).encode())])
        for i in range(60)
    ]
    for value, key, headers in records:
        await outgoing.add(value, key=key, headers=headers)
    # About 400 bytes a record, 4 kB a record batch: the full ones are already sent.
    assert producer.sent
    await outgoing.send()
    sent = producer.records()
    expected = [
        ("t", DefaultPartitioner()(key, partitions, partitions), key, value, headers)
        for value, key, headers in records
    ]
    assert sorted(sent, key=lambda r: r[3]) == sorted(expected, key=lambda r: r[3])
    # Within a partition, in the order added.
    for partition in partitions:
        mine = [r[3] for r in sent if r[1] == partition]
        assert mine == [
            value
            for value, key, _ in records
            if DefaultPartitioner()(key, partitions, partitions) == partition
        ]


async def test_outgoing_batch_fails_as_send_would() -> None:
    outgoing = OutgoingBatch(FakeProducer(), "t", [0, 1])  # type: ignore[arg-type]
    with pytest.raises(MessageSizeTooLargeError):
        await outgoing.add(b"x" * (MAX_REQUEST_SIZE + 1), key=b"k", headers=[])
    failing = OutgoingBatch(FakeProducer(fail=True), "t", [0, 1])  # type: ignore[arg-type]
    await failing.add(b"v", key=b"k", headers=[])
    with pytest.raises(KafkaTimeoutError):
        await failing.send()
