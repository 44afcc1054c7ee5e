"""Alert lifecycle events on ``pantau.alerts``, one type per transition. Key: report id."""

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from pantau.shared.envelope import Contract, Event


class AlertKind(StrEnum):
    INITIAL = "initial"
    UPDATE = "update"
    ESCALATION = "escalation"


class AlertStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"


class AlertEventData(Contract):
    alert_id: str
    report_ids: list[str] = Field(min_length=1, description="Reports the alert is about.")
    recipient_id: str
    channel: str
    kind: AlertKind
    status: AlertStatus
    attempts: int = Field(1, ge=0)
    error: str | None = None
    at: AwareDatetime


class AlertEvent(Event):
    TYPE: ClassVar[str] = "alert.status_changed.v1"
    type: Literal["alert.status_changed.v1"] = "alert.status_changed.v1"
    data: AlertEventData
