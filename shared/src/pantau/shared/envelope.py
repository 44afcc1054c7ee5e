"""The event envelope every Kafka message carries (CloudEvents 1.0 attribute ideas).

``event_id`` is unique per event; ``type`` names the schema and its version;
``subject`` is the report id. The W3C ``traceparent`` travels in Kafka headers.
"""

from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

HEADER_EVENT_TYPE = "pantau-event-type"
HEADER_TRACEPARENT = "traceparent"
HEADER_DLQ_ORIGINAL_TOPIC = "pantau-dlq-original-topic"
HEADER_DLQ_ORIGINAL_PARTITION = "pantau-dlq-original-partition"
HEADER_DLQ_ORIGINAL_OFFSET = "pantau-dlq-original-offset"
HEADER_DLQ_ERROR_CLASS = "pantau-dlq-error-class"
HEADER_DLQ_ERROR_MESSAGE = "pantau-dlq-error-message"
HEADER_DLQ_ATTEMPTS = "pantau-dlq-attempts"
# Which consumer dead-lettered the message: several groups read one topic and share its DLQ.
HEADER_DLQ_GROUP = "pantau-dlq-group"
HEADER_DLQ_SERVICE = "pantau-dlq-service"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of every payload model: immutable; unknown fields ignored, so a producer can
    add optional fields within a version without breaking older consumers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Contract):
    """Envelope fields. Subclasses fix ``type`` with a ``Literal`` and type ``data``."""

    TYPE: ClassVar[str]

    event_id: UUID = Field(default_factory=uuid4, description="Unique id of this event.")
    type: str = Field(description="Event type with version, e.g. `report.submitted.v1`.")
    occurred_at: AwareDatetime = Field(
        default_factory=utcnow, description="When the producer emitted the event."
    )
    producer: str = Field(description="Service that emitted the event.")
    subject: str = Field(description="The report id the event is about.")
    data: Any

    @classmethod
    def create(cls, *, producer: str, subject: str, data: Any, **extra: Any) -> Self:
        return cls(type=cls.TYPE, producer=producer, subject=subject, data=data, **extra)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
