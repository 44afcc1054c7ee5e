"""Aggregates by region (every level) × category × severity × hour, kept exact.

Counts live in *bucket* documents, one per (scope, UTC day): ``scope`` is ``ID`` (the
whole country) or a region code at any level. A bucket holds

- ``c.h<HH>.<category>.<severity>``: reports of that hour in the scope;
- ``r.<child>.<category>.<severity>``: the same day split by the next region level.

A report *contributes* one count to the buckets of each level of its region. When its
contribution changes (it arrives, it is classified, it is reclassified) the store applies
the change (``change``) to the buckets exactly once, through a crash-safe record of it
written before the report: a per-batch journal where the store is the single writer
(FerretDB), a per-report operation guarded by its id where several write (MongoDB); see
``adapters/store.py``.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

NATIONAL = "ID"
UNCLASSIFIED = "_none"


def bucket_id(scope: str, day: date) -> str:
    """``_id`` of the bucket of ``scope`` on ``day``."""
    return f"{scope}|{day.isoformat()}"


def field_key(code: str) -> str:
    """A region code as a field name (dots separate path components in updates)."""
    return code.replace(".", "_")


def code_of(key: str) -> str:
    return key.replace("_", ".")


def contribution(document: dict[str, Any]) -> dict[str, Any] | None:
    """What a derived report document counts in the aggregates, or ``None`` if nothing.

    A report counts once it has a region and an incident time (from its submission or
    its classification); until it is classified its category and severity are ``_none``.
    """
    occurred_at: datetime | None = document.get("occurred_at")
    levels: list[str] = list(document.get("region_path") or [])
    if occurred_at is None or not levels:
        return None
    at = occurred_at.astimezone(UTC)
    return {
        "day": at.date().isoformat(),
        "hour": at.hour,
        "category": document.get("category") or UNCLASSIFIED,
        "severity": document.get("severity") or UNCLASSIFIED,
        "levels": levels,
    }


def deltas(contrib: dict[str, Any] | None, sign: int) -> dict[tuple[str, str], int]:
    """``{(bucket id, field path): ±1}`` adding (``sign=1``) or removing a contribution."""
    if contrib is None:
        return {}
    day = date.fromisoformat(contrib["day"])
    tail = f"{contrib['category']}.{contrib['severity']}"
    scopes = [NATIONAL, *contrib["levels"]]
    out: dict[tuple[str, str], int] = {}
    for depth, scope in enumerate(scopes):
        bid = bucket_id(scope, day)
        out[(bid, f"c.h{contrib['hour']:02d}.{tail}")] = sign
        if depth + 1 < len(scopes):
            child = field_key(scopes[depth + 1])
            out[(bid, f"r.{child}.{tail}")] = sign
    return out


def change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[tuple[str, str], int]:
    """The net deltas turning contribution ``old`` into ``new`` (zeros dropped)."""
    net = deltas(old, -1)
    for key, value in deltas(new, 1).items():
        net[key] = net.get(key, 0) + value
    return {key: value for key, value in net.items() if value}


def days_between(start: datetime, end: datetime) -> list[date]:
    """Every UTC day touched by the half-open interval ``[start, end)``."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def summarize(
    buckets: Iterable[dict[str, Any]],
    *,
    start: datetime,
    end: datetime,
    categories: frozenset[str] = frozenset(),
    severities: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Totals of bucket documents within ``[start, end)``, by category, severity, hour
    and child region. Child-region counts are per whole day (buckets keep no hours for
    them), so they cover every day the interval touches."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)

    def wanted(category: str, severity: str) -> bool:
        return (not categories or category in categories) and (
            not severities or severity in severities
        )

    total = 0
    by_category: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    by_hour: dict[str, dict[str, int]] = {}
    by_region: dict[str, int] = {}
    for bucket in buckets:
        day = date.fromisoformat(bucket["day"])
        for hour_key, per_category in (bucket.get("c") or {}).items():
            hour = datetime(day.year, day.month, day.day, int(hour_key[1:]), tzinfo=UTC)
            if not (hour < end and hour + timedelta(hours=1) > start):
                continue  # the hour does not overlap the interval
            for category, per_severity in per_category.items():
                for severity, count in per_severity.items():
                    if not count or not wanted(category, severity):
                        continue
                    total += count
                    by_category[category] = by_category.get(category, 0) + count
                    by_severity[severity] = by_severity.get(severity, 0) + count
                    slot = by_hour.setdefault(hour.isoformat(), {})
                    slot[category] = slot.get(category, 0) + count
        for child, per_category in (bucket.get("r") or {}).items():
            for category, per_severity in per_category.items():
                for severity, count in per_severity.items():
                    if count and wanted(category, severity):
                        code = code_of(child)
                        by_region[code] = by_region.get(code, 0) + count
    return {
        "total": total,
        "by_category": dict(sorted(by_category.items())),
        "by_severity": dict(sorted(by_severity.items())),
        "by_hour": [{"hour": h, "by_category": by_hour[h]} for h in sorted(by_hour)],
        "by_region": dict(sorted(by_region.items())),
    }
