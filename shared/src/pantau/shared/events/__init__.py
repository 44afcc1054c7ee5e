"""Event payload models, one module per producing service."""

from pantau.shared.events.alerts import AlertEvent, AlertEventData, AlertKind, AlertStatus
from pantau.shared.events.classified import (
    Category,
    ReportClassified,
    ReportClassifiedData,
    Severity,
)
from pantau.shared.events.status import ReportStatus, ReportStatusChanged, ReportStatusChangedData
from pantau.shared.events.submitted import (
    Attachment,
    Channel,
    EncryptedField,
    EncryptedIdentity,
    Location,
    RegionRef,
    ReportSubmitted,
    ReportSubmittedData,
)

ALL_EVENTS = (ReportSubmitted, ReportClassified, AlertEvent, ReportStatusChanged)

__all__ = [
    "ALL_EVENTS",
    "AlertEvent",
    "AlertEventData",
    "AlertKind",
    "AlertStatus",
    "Attachment",
    "Category",
    "Channel",
    "EncryptedField",
    "EncryptedIdentity",
    "Location",
    "RegionRef",
    "ReportClassified",
    "ReportClassifiedData",
    "ReportStatus",
    "ReportStatusChanged",
    "ReportStatusChangedData",
    "ReportSubmitted",
    "ReportSubmittedData",
    "Severity",
]
