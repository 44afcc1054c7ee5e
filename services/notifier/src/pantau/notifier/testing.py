"""In-memory versions of every port, for unit tests and the benchmark.

They keep the same contracts as the MongoDB adapters (a duplicate claim fails, an
acknowledgement is recorded once); the integration tests check the real ones.
"""

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pantau.notifier.core.errors import DeliveryError
from pantau.notifier.core.models import ChannelKind, Delivery, DeliveryStatus, ReportFacts
from pantau.notifier.core.ports import Escalation, GroupMember, LedgerRow, OpenGroup
from pantau.shared.events import AlertEvent


@dataclass
class FakeClock:
    """A clock tests move by hand; ``sleep`` advances it instead of waiting."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


class InMemoryLedger:
    def __init__(self) -> None:
        self.rows: dict[str, LedgerRow] = {}
        self.attempt_log: dict[str, list[tuple[DeliveryStatus, str | None]]] = {}

    async def claim(
        self, delivery: Delivery, *, now: datetime, status: DeliveryStatus, note: str | None
    ) -> bool:
        if delivery.alert_id in self.rows:
            return False
        self.rows[delivery.alert_id] = LedgerRow(
            delivery=delivery, status=status, attempts=0, created_at=now, error=note
        )
        self.attempt_log[delivery.alert_id] = []
        return True

    async def get(self, alert_id: str) -> LedgerRow | None:
        return self.rows.get(alert_id)

    async def record_attempt(
        self,
        alert_id: str,
        *,
        now: datetime,
        status: DeliveryStatus,
        attempts: int,
        error: str | None = None,
        provider_message_id: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        self.rows[alert_id] = dataclasses.replace(
            self.rows[alert_id],
            status=status,
            attempts=attempts,
            error=error,
            provider_message_id=provider_message_id,
            next_attempt_at=next_attempt_at,
        )
        self.attempt_log[alert_id].append((status, error))

    async def mark_published(self, alert_id: str, *, status: str) -> None:
        self.rows[alert_id] = dataclasses.replace(self.rows[alert_id], published_status=status)

    async def due_retries(self, *, now: datetime, limit: int) -> list[LedgerRow]:
        due = [
            row
            for row in self.rows.values()
            if row.status == DeliveryStatus.RETRY_SCHEDULED
            and row.next_attempt_at is not None
            and row.next_attempt_at <= now
        ]
        return sorted(due, key=lambda r: r.next_attempt_at)[:limit]  # type: ignore[arg-type,return-value]

    async def subject_rows(self, subject_id: str, *, kind: str) -> list[LedgerRow]:
        return [
            r
            for r in self.rows.values()
            if r.delivery.subject_id == subject_id and r.delivery.kind.value == kind
        ]

    async def take_retry(self, row: LedgerRow, *, now: datetime) -> bool:
        current = self.rows[row.delivery.alert_id]
        if current.status != DeliveryStatus.RETRY_SCHEDULED or current.attempts != row.attempts:
            return False
        self.rows[row.delivery.alert_id] = dataclasses.replace(
            current, status=DeliveryStatus.PENDING
        )
        return True

    def by_status(self, status: DeliveryStatus) -> list[LedgerRow]:
        return [r for r in self.rows.values() if r.status == status]


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, AlertEvent]] = []

    async def publish(self, event: AlertEvent, *, key: str) -> None:
        self.events.append((key, event))


class RecordingSender:
    """A channel that records deliveries; ``failures`` are raised first, in order."""

    def __init__(self, channel: ChannelKind = ChannelKind.EMAIL) -> None:
        self.channel = channel
        self.sent: list[Delivery] = []
        self.failures: list[DeliveryError] = []
        self.calls = 0

    async def send(self, delivery: Delivery) -> str | None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(delivery)
        return f"msg-{len(self.sent)}"

    def to(self, recipient_id: str) -> list[Delivery]:
        return [d for d in self.sent if d.recipient_id == recipient_id]


class InMemoryGroups:
    def __init__(self) -> None:
        self.groups: dict[str, dict[str, object]] = {}
        self.members_by_report: dict[str, GroupMember] = {}

    async def open_group(
        self, *, regency: str, category: str, now: datetime, window_seconds: float
    ) -> OpenGroup:
        for gid, g in self.groups.items():
            if g["regency"] == regency and g["category"] == category and g["closes_at"] > now:  # type: ignore[operator]
                return OpenGroup(gid, regency, category, g["closes_at"])  # type: ignore[arg-type]
        gid = f"grp_{regency}_{category}_{int(now.timestamp() * 1000)}"
        closes = now + timedelta(seconds=window_seconds)
        self.groups[gid] = {
            "regency": regency,
            "category": category,
            "closes_at": closes,
            "status": "open",
        }
        return OpenGroup(gid, regency, category, closes)

    async def add_member(self, member: GroupMember, *, now: datetime) -> GroupMember:
        return self.members_by_report.setdefault(member.report.report_id, member)

    async def has_immediate(self, group_id: str) -> bool:
        return any(m.immediate for m in self.members_by_report.values() if m.group_id == group_id)

    async def due_groups(self, *, before: datetime, limit: int) -> list[OpenGroup]:
        return [
            OpenGroup(gid, g["regency"], g["category"], g["closes_at"])  # type: ignore[arg-type]
            for gid, g in self.groups.items()
            if g["status"] in ("open", "closing") and g["closes_at"] <= before  # type: ignore[operator]
        ][:limit]

    async def members(self, group_id: str) -> list[GroupMember]:
        return [m for m in self.members_by_report.values() if m.group_id == group_id]

    async def begin_flush(self, group_id: str, *, now: datetime) -> None:
        self.groups[group_id]["status"] = "closing"

    async def is_open(self, group_id: str) -> bool:
        return self.groups[group_id]["status"] == "open"

    async def mark_flushed(self, group_id: str, *, now: datetime) -> None:
        self.groups[group_id]["status"] = "flushed"


class InMemoryEscalations:
    def __init__(self) -> None:
        self.open_items: dict[str, Escalation] = {}
        self.closed: set[str] = set()
        self.acks: dict[str, str] = {}

    async def open(
        self, *, subject_id: str, reports: list[ReportFacts], deadline: datetime
    ) -> None:
        if subject_id not in self.open_items and subject_id not in self.closed:
            self.open_items[subject_id] = Escalation(subject_id, tuple(reports), 0, deadline)

    async def due(self, *, now: datetime, limit: int) -> list[Escalation]:
        return [e for e in self.open_items.values() if e.deadline <= now][:limit]

    async def advance(self, subject_id: str, *, step: int, deadline: datetime | None) -> None:
        if deadline is None:
            self.open_items.pop(subject_id, None)
            self.closed.add(subject_id)
            return
        current = self.open_items[subject_id]
        self.open_items[subject_id] = dataclasses.replace(current, step=step, deadline=deadline)

    async def acknowledge(self, *, subject_id: str, alert_id: str, by: str, now: datetime) -> bool:
        if subject_id in self.acks:
            return False
        self.acks[subject_id] = by
        return True

    async def acknowledged(self, subject_id: str) -> bool:
        return subject_id in self.acks
