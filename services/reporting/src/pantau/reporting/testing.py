"""Sample alert and status events (the shared factories cover submitted and classified).

Used by this package's tests and by ``python -m pantau.reporting.bench``.
"""

from datetime import datetime
from uuid import uuid4

from pantau.shared.envelope import utcnow
from pantau.shared.events import (
    AlertEvent,
    AlertEventData,
    AlertKind,
    AlertStatus,
    ReportStatus,
    ReportStatusChanged,
    ReportStatusChangedData,
)


def alert(
    *report_ids: str,
    alert_id: str | None = None,
    status: AlertStatus = AlertStatus.SENT,
    kind: AlertKind = AlertKind.INITIAL,
    at: datetime | None = None,
    recipient_id: str = "bawaslu-32.01",
    channel: str = "email",
) -> AlertEvent:
    """An ``alert.status_changed`` event about ``report_ids``."""
    return AlertEvent.create(
        producer="notifier",
        subject=report_ids[0],
        data=AlertEventData(
            alert_id=alert_id or f"alr_{uuid4().hex[:16]}",
            report_ids=list(report_ids),
            recipient_id=recipient_id,
            channel=channel,
            kind=kind,
            status=status,
            at=at or utcnow(),
        ),
    )


def status_change(
    report_id: str,
    *,
    status: ReportStatus = ReportStatus.VERIFIED,
    at: datetime | None = None,
    by: str = "operator-test",
    role: str = "operator",
    duplicate_of: str | None = None,
    note: str | None = None,
) -> ReportStatusChanged:
    """A ``report.status_changed`` event."""
    return ReportStatusChanged.create(
        producer="reporting",
        subject=report_id,
        data=ReportStatusChangedData(
            report_id=report_id,
            status=status,
            duplicate_of=duplicate_of,
            note=note,
            changed_by=by,
            changed_by_role=role,
            changed_at=at or utcnow(),
        ),
    )
