"""The intake use case: turn a validated report into a sealed ``report.submitted`` event
and hand it to the publisher port; answer only once the port confirms."""

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from pydantic_core import to_json

from pantau.intake.core.ids import random_uuid, report_id_for
from pantau.intake.core.models import ReportIn
from pantau.intake.core.rules import TimeWindow, check_time_window
from pantau.shared.envelope import utcnow
from pantau.shared.events import Channel, RegionRef, ReportSubmitted
from pantau.shared.identity import IDENTITY_FIELDS, IdentityCipher

PRODUCER = "intake"
EVENT_TYPE: str = ReportSubmitted.TYPE


class SealedReport(NamedTuple):
    """A ``report.submitted.v1`` event ready for Kafka: its key (the report id) and its
    JSON, byte for byte what ``ReportSubmitted.model_dump_json`` writes. (Immutable
    tuples: one per report, built in a fraction of a frozen dataclass's time.)"""

    report_id: str
    value: bytes


class ReportPublisherPort(Protocol):
    """Publishes events and returns only once the broker acknowledged all of them.

    Raises ``PublishUnavailable`` when that cannot happen in time.
    """

    async def publish(self, reports: Sequence[SealedReport], *, traceparent: str | None) -> None:
        """Publish ``reports`` (keyed by report id) and wait for every acknowledgement."""
        ...


class Origin(NamedTuple):
    """Who sent a report and through which channel (a tuple: one per request)."""

    client_id: str
    channel: Channel


@lru_cache(maxsize=100_000)
def _region_ref(code: str) -> dict[str, str | None]:
    """The event's ``region`` of a validated code, resolved once per code (about 84,000
    villages exist). Shared between events: only ever read."""
    return RegionRef.from_code(code).model_dump()


class ReportSealer:
    """Builds the event for a report: deterministic id, resolved region, sealed identity."""

    def __init__(self, *, cipher: IdentityCipher) -> None:
        self._cipher = cipher

    def seal(self, report: ReportIn, *, origin: Origin, received_at: datetime) -> SealedReport:
        """The ``report.submitted`` event; the reporter's identity leaves only encrypted.

        Its JSON is written straight from the validated report (``pydantic_core.to_json``
        of plain values, in the contract's field order: the serialiser
        ``ReportSubmitted.model_dump_json`` uses) without building the event model and
        validating it again: every value already passed ``ReportIn``'s rules, which are
        at least as strict as the contract's. A property test checks the bytes against
        the model round trip for generated reports.
        """
        client_report_id = str(report.client_report_id)
        report_id = report_id_for(client_id=origin.client_id, client_report_id=client_report_id)
        location = report.location
        category_hint = report.category_hint
        attachments = report.attachments
        data = {
            "report_id": report_id,
            "client_id": origin.client_id,
            "client_report_id": client_report_id,
            "channel": origin.channel.value,
            "received_at": received_at,
            "occurred_at": report.occurred_at,
            "region": _region_ref(report.region_code),
            "tps": report.tps,
            "title": report.title,
            "description": report.description,
            "category_hint": category_hint.value if category_hint is not None else None,
            "location": {"lat": location.lat, "lon": location.lon} if location else None,
            "anonymous": report.anonymous,
            "reporter": None if report.anonymous else self._identity(report, report_id),
            "attachments": [_attachment(a) for a in attachments] if attachments else [],
        }
        event = {
            "event_id": random_uuid(),
            "type": EVENT_TYPE,
            # Emitted as it is received (one clock reading for both).
            "occurred_at": received_at,
            "producer": PRODUCER,
            "subject": report_id,
            "data": data,
        }
        return SealedReport(report_id, to_json(event))

    def _identity(self, report: ReportIn, report_id: str) -> dict[str, Any] | None:
        reporter = report.reporter
        if reporter is None:
            return None
        plaintexts = {
            field: value for field in IDENTITY_FIELDS if (value := getattr(reporter, field))
        }
        if not plaintexts:
            return None
        sealed = self._cipher.seal_field_dicts(plaintexts, report_id=report_id)
        # Every field of ``EncryptedIdentity``, absent ones as null (as the model writes it).
        return {field: sealed.get(field) for field in IDENTITY_FIELDS}


def _attachment(attachment: Any) -> dict[str, Any]:
    """An ``AttachmentIn`` as the contract's ``Attachment`` (same fields, same order)."""
    return {
        "url": attachment.url,
        "sha256": attachment.sha256,
        "media_type": attachment.media_type,
        "size": attachment.size,
    }


class Intake:
    """Accepts reports: check the clock rules, seal, publish, return the report id."""

    def __init__(
        self,
        *,
        sealer: ReportSealer,
        publisher: ReportPublisherPort,
        window: TimeWindow,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sealer = sealer
        self._publisher = publisher
        self._window = window
        self._clock = clock

    @property
    def window(self) -> TimeWindow:
        """The ``occurred_at`` window this intake enforces."""
        return self._window

    def now(self) -> datetime:
        """The intake's clock (injected, so tests control it)."""
        return self._clock()

    async def submit(
        self, report: ReportIn, *, origin: Origin, traceparent: str | None = None
    ) -> str:
        """Validate the clock rules, publish, and return the report id once Kafka holds it.

        Raises ``ReportRejected`` or ``PublishUnavailable``.
        """
        now = self._clock()
        check_time_window(report, now=now, window=self._window)
        sealed = self._sealer.seal(report, origin=origin, received_at=now)
        await self._publisher.publish((sealed,), traceparent=traceparent)
        return sealed.report_id

    def seal(self, report: ReportIn, *, origin: Origin, received_at: datetime) -> SealedReport:
        """The event for an already validated report (batch use)."""
        return self._sealer.seal(report, origin=origin, received_at=received_at)

    async def publish(self, reports: Sequence[SealedReport], *, traceparent: str | None) -> None:
        """Publish already sealed events, all acknowledged or ``PublishUnavailable``."""
        if reports:
            await self._publisher.publish(reports, traceparent=traceparent)
