"""The report read model as a pure fold over events.

A report's state is a set of *source records*, one slot per kind of event:

- ``submission``: the ``report.submitted`` payload (reporter identity still encrypted);
  when intake publishes the same report twice, the earliest receipt wins;
- ``classification``: the ``report.classified`` payload with the newest ``rules_version``
  (then the latest ``classified_at``);
- ``alerts``: one record per ``alert_id``, the latest transition by time;
- ``status_history``: one record per status-change event, keyed by ``event_id``.

Each slot merges with a commutative, associative and idempotent rule (keep the maximum
by a total order, or a union by key), so folding any permutation of a stream, with any
event repeated, gives the same state as the stream in order. Everything a query needs
(``status``, ``category``, the alert summary, ...) is *derived* from the slots by
``derive``; it is never updated in place. Times are kept at millisecond precision,
the precision BSON dates store, so a state read back from MongoDB compares equal.
"""

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pantau.shared.envelope import Event
from pantau.shared.events import (
    AlertEvent,
    ReportClassified,
    ReportStatus,
    ReportStatusChanged,
    ReportSubmitted,
)

State = dict[str, Any]

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# Only to break ties between transitions of one alert recorded in the same millisecond:
# the later stage of the lifecycle wins.
_ALERT_STATUS_RANK = {"sent": 0, "failed": 1, "suppressed": 2, "escalated": 3, "acknowledged": 4}
_VERSION_CHUNK = re.compile(r"(\d+)")
SEARCH_TEXT_LIMIT = 4000


def to_ms(value: datetime) -> datetime:
    """``value`` in UTC truncated to milliseconds (what a BSON date can hold)."""
    utc = value.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def empty_state(report_id: str) -> State:
    """The state of a report no event has mentioned yet."""
    return {
        "report_id": report_id,
        "submission": None,
        "classification": None,
        "alerts": [],
        "status_history": [],
    }


def report_ids_of(event: Event) -> list[str]:
    """The reports an event is about (an alert may cover several grouped reports)."""
    if isinstance(event, AlertEvent):
        return sorted(set(event.data.report_ids))
    return [event.subject]


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order of rules versions: ``2026.11.10`` is newer than ``2026.11.9``."""
    return tuple(
        (0, int(chunk)) if chunk.isdigit() else (1, chunk)
        for chunk in _VERSION_CHUNK.split(version)
        if chunk
    )


def _submission_record(event: ReportSubmitted) -> dict[str, Any]:
    data = event.data
    return {
        "event_id": str(event.event_id),
        "client_id": data.client_id,
        "client_report_id": data.client_report_id,
        "channel": data.channel.value,
        "received_at": to_ms(data.received_at),
        "occurred_at": to_ms(data.occurred_at),
        "region": data.region.model_dump(),
        "tps": data.tps,
        "title": data.title,
        "description": data.description,
        "category_hint": data.category_hint,
        "location": data.location.model_dump() if data.location else None,
        "anonymous": data.anonymous,
        # Sealed fields exactly as intake published them; opened only on an audited read.
        "reporter": data.reporter.model_dump(exclude_none=True) if data.reporter else None,
    }


def _classification_record(event: ReportClassified) -> dict[str, Any]:
    data = event.data
    return {
        "event_id": str(event.event_id),
        "region": data.region.model_dump(),
        "tps": data.tps,
        "channel": data.channel.value,
        "occurred_at": to_ms(data.occurred_at),
        "received_at": to_ms(data.received_at),
        "title": data.title,
        "description": data.description,
        "location": data.location.model_dump() if data.location else None,
        "category": data.category.value,
        "secondary_categories": [c.value for c in data.secondary_categories],
        "severity": data.severity.value,
        "confidence": data.confidence,
        "institutions": list(data.institutions),
        "explanation": data.explanation,
        "rules_version": data.rules_version,
        "classified_at": to_ms(data.classified_at),
    }


def _alert_record(event: AlertEvent) -> dict[str, Any]:
    data = event.data
    return {
        "alert_id": data.alert_id,
        "event_id": str(event.event_id),
        "recipient_id": data.recipient_id,
        "channel": data.channel,
        "kind": data.kind.value,
        "status": data.status.value,
        "attempts": data.attempts,
        "error": data.error,
        "at": to_ms(data.at),
    }


def _status_record(event: ReportStatusChanged) -> dict[str, Any]:
    data = event.data
    return {
        "event_id": str(event.event_id),
        "status": data.status.value,
        "duplicate_of": data.duplicate_of,
        "note": data.note,
        "changed_by": data.changed_by,
        "changed_by_role": data.changed_by_role,
        "changed_at": to_ms(data.changed_at),
    }


def _submission_order(record: dict[str, Any]) -> tuple[Any, ...]:
    # Smaller wins: the first receipt is the submission of record.
    return (record["received_at"], record["event_id"])


def _classification_order(record: dict[str, Any]) -> tuple[Any, ...]:
    # Larger wins: newest rules, then the latest run of them.
    return (_version_key(record["rules_version"]), record["classified_at"], record["event_id"])


def _alert_order(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["at"], _ALERT_STATUS_RANK.get(record["status"], -1), record["event_id"])


def _status_order(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["changed_at"], record["event_id"])


def apply_event(state: State, event: Event) -> State:
    """Merge one event into a report's state; returns a new state, ``state`` is untouched.

    Raises ``ValueError`` for an event type this read model does not know.
    """
    new = dict(state)
    if isinstance(event, ReportSubmitted):
        record = _submission_record(event)
        current = state["submission"]
        if current is None or _submission_order(record) < _submission_order(current):
            new["submission"] = record
    elif isinstance(event, ReportClassified):
        record = _classification_record(event)
        current = state["classification"]
        if current is None or _classification_order(record) > _classification_order(current):
            new["classification"] = record
    elif isinstance(event, AlertEvent):
        record = _alert_record(event)
        by_id = {a["alert_id"]: a for a in state["alerts"]}
        current = by_id.get(record["alert_id"])
        if current is None or _alert_order(record) > _alert_order(current):
            by_id[record["alert_id"]] = record
        new["alerts"] = [by_id[key] for key in sorted(by_id)]
    elif isinstance(event, ReportStatusChanged):
        record = _status_record(event)
        by_event = {s["event_id"]: s for s in state["status_history"]}
        by_event[record["event_id"]] = record
        new["status_history"] = sorted(by_event.values(), key=_status_order)
    else:
        raise ValueError(f"the reporting read model does not handle {type(event).__name__}")
    return new


def fold(events: Iterable[Event], *, report_id: str, state: State | None = None) -> State:
    """Fold the events about ``report_id`` into its state (others are ignored)."""
    current = state or empty_state(report_id)
    for event in events:
        if report_id in report_ids_of(event):
            current = apply_event(current, event)
    return current


def sources_of(document: dict[str, Any]) -> State:
    """The source slots of a stored document (everything else is derived)."""
    return {
        "report_id": document["report_id"],
        "submission": document.get("submission"),
        "classification": document.get("classification_source"),
        "alerts": list(document.get("alerts") or []),
        "status_history": list(document.get("status_history") or []),
    }


def _alert_summary(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for alert in alerts:
        by_status[alert["status"]] = by_status.get(alert["status"], 0) + 1
    return {
        "total": len(alerts),
        "by_status": dict(sorted(by_status.items())),
        "acknowledged": by_status.get("acknowledged", 0) > 0,
        "latest_at": max((a["at"] for a in alerts), default=None),
    }


def derive(state: State) -> dict[str, Any]:
    """The stored document: the source slots plus every field queries filter or show."""
    submission, classification = state["submission"], state["classification"]
    # The submission is the record of the report's public fields; the classification
    # carries the same fields, so a report classified before its submission arrived
    # is already listable.
    public = submission or classification or {}
    region = public.get("region")
    history = state["status_history"]
    latest_status = history[-1] if history else None
    text = " ".join(filter(None, (public.get("title"), public.get("description"))))
    category = classification["category"] if classification else None
    severity = classification["severity"] if classification else None
    return {
        "report_id": state["report_id"],
        "submitted": submission is not None,
        "region": region,
        # Every level of the region, for "region prefix at any level" filters and scoping.
        "region_path": [code for code in _region_levels(region)],
        "tps": public.get("tps"),
        "channel": public.get("channel"),
        "occurred_at": public.get("occurred_at"),
        "received_at": public.get("received_at"),
        "title": public.get("title"),
        "description": public.get("description"),
        "location": public.get("location"),
        "anonymous": submission["anonymous"] if submission else None,
        "has_reporter_identity": bool(submission and submission.get("reporter")),
        "category": category,
        "severity": severity,
        "severity_rank": SEVERITY_RANK.get(severity or "", -1),
        "classification": _public_classification(classification),
        "status": latest_status["status"] if latest_status else ReportStatus.NEW.value,
        "status_changed_at": latest_status["changed_at"] if latest_status else None,
        "duplicate_of": latest_status["duplicate_of"] if latest_status else None,
        "alert_summary": _alert_summary(state["alerts"]),
        "search_text": text.casefold()[:SEARCH_TEXT_LIMIT],
        # Source slots, stored as they are so a later event can be merged into them.
        "submission": submission,
        "classification_source": classification,
        "alerts": state["alerts"],
        "status_history": history,
    }


def _region_levels(region: dict[str, Any] | None) -> list[str]:
    if not region:
        return []
    levels = (region.get(k) for k in ("province", "regency", "district", "village"))
    return [code for code in levels if code]


def _public_classification(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    keys = (
        "category",
        "secondary_categories",
        "severity",
        "confidence",
        "institutions",
        "explanation",
        "rules_version",
        "classified_at",
    )
    return {key: record[key] for key in keys}
