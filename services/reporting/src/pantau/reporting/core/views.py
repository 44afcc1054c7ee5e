"""What the API shows of a stored report document (never the sealed identity)."""

from typing import Any

PUBLIC_FIELDS = (
    "report_id",
    "submitted",
    "region",
    "tps",
    "channel",
    "occurred_at",
    "received_at",
    "title",
    "description",
    "location",
    "anonymous",
    "has_reporter_identity",
    "classification",
    "status",
    "status_changed_at",
    "duplicate_of",
    "alert_summary",
)


def public_report(document: dict[str, Any]) -> dict[str, Any]:
    """The read model of one report as the API returns it."""
    view = {key: document.get(key) for key in PUBLIC_FIELDS}
    view["alerts"] = [
        {key: alert.get(key) for key in _ALERT_FIELDS} for alert in document.get("alerts") or []
    ]
    view["status_history"] = [
        {key: change.get(key) for key in _STATUS_FIELDS}
        for change in document.get("status_history") or []
    ]
    return view


def summary_report(document: dict[str, Any]) -> dict[str, Any]:
    """The row of one report in a list (no alert and status details)."""
    return {key: document.get(key) for key in PUBLIC_FIELDS}


_ALERT_FIELDS = ("alert_id", "recipient_id", "channel", "kind", "status", "attempts", "error", "at")
_STATUS_FIELDS = (
    "event_id",
    "status",
    "duplicate_of",
    "note",
    "changed_by",
    "changed_by_role",
    "changed_at",
)
