"""MessageProcessor's retry → DLQ policy, with a recording broker (no Kafka needed)."""

from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from pantau.shared import envelope
from pantau.shared.kafka import MessageProcessor, PermanentError
from pantau.shared.settings import KafkaSettings
from pantau.shared.validation import ContractValidationError


@dataclass
class RawRecord:
    topic: str = "t"
    partition: int = 3
    offset: int = 42
    key: bytes = b"rpt_1"


@dataclass
class FakeMessage:
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"traceparent": "tp"})
    raw_message: RawRecord = field(default_factory=RawRecord)


@dataclass
class RecordingBroker:
    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, body: bytes, **kwargs: Any) -> None:
        self.published.append({"body": body, **kwargs})


class Handler:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, body: bytes, headers: Any) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


@pytest.fixture
def setup():
    broker = RecordingBroker()
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    processor = MessageProcessor(
        broker=broker,  # type: ignore[arg-type]
        settings=KafkaSettings(max_attempts=3, retry_backoff_seconds=0.1),
        service="test",
        sleep=sleep,
    )
    return processor, broker, delays


async def test_success_publishes_nothing(setup):
    processor, broker, _ = setup
    handler = Handler()
    await processor.process(FakeMessage(), handler)  # type: ignore[arg-type]
    assert handler.calls == 1
    assert broker.published == []


async def test_invalid_payload_goes_to_dlq_at_once_with_error_headers(setup):
    processor, broker, delays = setup
    handler = Handler(ContractValidationError("bad"))
    await processor.process(FakeMessage(body=b"junk"), handler)  # type: ignore[arg-type]
    assert handler.calls == 1 and delays == []
    [dead] = broker.published
    assert dead["topic"] == "t.dlq"
    assert dead["body"] == b"junk"
    assert dead["key"] == b"rpt_1"
    headers = dead["headers"]
    assert headers[envelope.HEADER_DLQ_ORIGINAL_TOPIC] == "t"
    assert headers[envelope.HEADER_DLQ_ORIGINAL_OFFSET] == "42"
    assert headers[envelope.HEADER_DLQ_ERROR_CLASS] == "ContractValidationError"
    assert headers["traceparent"] == "tp"


async def test_permanent_error_skips_retries(setup):
    processor, broker, delays = setup
    await processor.process(FakeMessage(), Handler(PermanentError("no")))  # type: ignore[arg-type]
    assert len(broker.published) == 1 and delays == []


async def test_errors_are_retried_with_doubling_backoff_then_dead_lettered(setup):
    processor, broker, delays = setup
    handler = Handler(*(RuntimeError(f"e{i}") for i in range(5)))
    await processor.process(FakeMessage(), handler)  # type: ignore[arg-type]
    assert handler.calls == 3
    assert delays == [0.1, 0.2]
    assert broker.published[0]["headers"][envelope.HEADER_DLQ_ATTEMPTS] == "3"


async def test_a_recovering_error_is_not_dead_lettered(setup):
    processor, broker, _ = setup
    handler = Handler(RuntimeError("once"))
    await processor.process(FakeMessage(), handler)  # type: ignore[arg-type]
    assert handler.calls == 2 and broker.published == []


async def test_store_outage_is_retried_beyond_max_attempts_and_never_dead_lettered(setup):
    processor, broker, delays = setup
    outage = [ServerSelectionTimeoutError("down") for _ in range(10)]
    handler = Handler(*outage)
    await processor.process(FakeMessage(), handler)  # type: ignore[arg-type]
    assert handler.calls == 11
    assert broker.published == []
    assert max(delays) == 5.0  # capped
