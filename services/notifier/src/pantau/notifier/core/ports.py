"""What the core needs from the outside world, as protocols the adapters implement."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pantau.notifier.core.models import ChannelKind, Delivery, DeliveryStatus, ReportFacts
from pantau.shared.events import AlertEvent

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class LedgerRow:
    """A ledger entry as stored: the delivery, its state and its attempts."""

    delivery: Delivery
    status: DeliveryStatus
    attempts: int
    published_status: str | None = None
    error: str | None = None
    provider_message_id: str | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Ledger(Protocol):
    """The delivery ledger: one row per (subject, recipient, channel, kind)."""

    async def claim(
        self, delivery: Delivery, *, now: datetime, status: DeliveryStatus, note: str | None
    ) -> bool:
        """Record the intent; ``False`` when a row for this alert id exists already."""
        ...

    async def get(self, alert_id: str) -> LedgerRow | None:
        """The row of ``alert_id``."""
        ...

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
        """Record an attempt's outcome and the row's new state."""
        ...

    async def mark_published(self, alert_id: str, *, status: str) -> None:
        """Remember that the alert event for ``status`` reached Kafka."""
        ...

    async def due_retries(self, *, now: datetime, limit: int) -> list[LedgerRow]:
        """Rows whose scheduled retry is due."""
        ...

    async def subject_rows(self, subject_id: str, *, kind: str) -> list[LedgerRow]:
        """Every row about one report or group, of one kind (``initial`` or ``update``),
        in the order they were claimed."""
        ...

    async def take_retry(self, row: LedgerRow, *, now: datetime) -> bool:
        """Move a due row back to ``pending`` unless another sweeper took it first."""
        ...


class ChannelSender(Protocol):
    """Sends one delivery over one channel; raises the core's delivery errors."""

    channel: ChannelKind

    async def send(self, delivery: Delivery) -> str | None:
        """Deliver; return the provider's message id when it gives one."""
        ...


class AlertPublisher(Protocol):
    async def publish(self, event: AlertEvent, *, key: str) -> None:
        """Publish an alert lifecycle event and wait for the broker's acknowledgement."""
        ...


@dataclass(frozen=True)
class GroupMember:
    report: ReportFacts
    group_id: str
    immediate: bool  # already alerted on its own (the window's first critical)


@dataclass(frozen=True)
class OpenGroup:
    group_id: str
    regency: str
    category: str
    closes_at: datetime


class GroupStore(Protocol):
    """Groups of (regency, category) reports. The consumer owning the regency's partition
    creates groups and adds members (insert-only); the sweep flushes closed groups."""

    async def open_group(
        self, *, regency: str, category: str, now: datetime, window_seconds: float
    ) -> OpenGroup:
        """The group accepting reports now, created when there is none."""
        ...

    async def add_member(self, member: GroupMember, *, now: datetime) -> GroupMember:
        """Insert; on a redelivered report, the member stored the first time."""
        ...

    async def has_immediate(self, group_id: str) -> bool:
        """Whether a report of this group already went out on its own."""
        ...

    async def due_groups(self, *, before: datetime, limit: int) -> list[OpenGroup]:
        """Groups not yet flushed (open, or closing when a flush was cut off) whose
        window ended before ``before``."""
        ...

    async def members(self, group_id: str) -> list[GroupMember]: ...

    async def begin_flush(self, group_id: str, *, now: datetime) -> None:
        """Mark the group ``closing`` before its members are read."""
        ...

    async def is_open(self, group_id: str) -> bool:
        """Whether no flush has begun: a member added now will be in the group's message."""
        ...

    async def mark_flushed(self, group_id: str, *, now: datetime) -> None: ...


@dataclass(frozen=True)
class Escalation:
    subject_id: str
    reports: tuple[ReportFacts, ...]
    step: int
    deadline: datetime


class EscalationStore(Protocol):
    """Acknowledgement deadlines, persisted so they survive restarts."""

    async def open(
        self, *, subject_id: str, reports: list[ReportFacts], deadline: datetime
    ) -> None:
        """Start a deadline (idempotent: an existing one is kept)."""
        ...

    async def due(self, *, now: datetime, limit: int) -> list[Escalation]: ...

    async def advance(self, subject_id: str, *, step: int, deadline: datetime | None) -> None:
        """Record escalation ``step``; ``deadline=None`` closes it (nobody left to add)."""
        ...

    async def acknowledge(self, *, subject_id: str, alert_id: str, by: str, now: datetime) -> bool:
        """Record an acknowledgement (insert-only); ``False`` if one exists already."""
        ...

    async def acknowledged(self, subject_id: str) -> bool: ...


@dataclass(frozen=True)
class Silence:
    id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    route_id: str | None = None
    region: str | None = None
    category: str | None = None
    recipient_id: str | None = None
