"""``report.status_changed.v1``: a liaison or operator changed a report's status. Key: report id."""

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from pantau.shared.envelope import Contract, Event


class ReportStatus(StrEnum):
    NEW = "new"
    VERIFIED = "verified"
    REJECTED = "rejected"
    IN_FOLLOW_UP = "in_follow_up"
    RESOLVED = "resolved"
    DUPLICATE = "duplicate"


class ReportStatusChangedData(Contract):
    report_id: str
    status: ReportStatus
    duplicate_of: str | None = None
    note: str | None = Field(None, max_length=2000)
    changed_by: str = Field(description="Token subject of the actor.")
    changed_by_role: str
    changed_at: AwareDatetime


class ReportStatusChanged(Event):
    TYPE: ClassVar[str] = "report.status_changed.v1"
    type: Literal["report.status_changed.v1"] = "report.status_changed.v1"
    data: ReportStatusChangedData
