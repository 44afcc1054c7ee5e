"""What a list, export or statistics request asks for, independent of any database.

``ReportQuery`` holds validated filters; sorting is keyset-paginated with an opaque
cursor (the last row's sort value and report id), so a page is as fast as the first
whatever its depth and rows inserted meanwhile are neither skipped nor repeated.
"""

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class SortOrder(StrEnum):
    NEWEST = "-occurred_at"
    OLDEST = "occurred_at"
    NEWEST_RECEIVED = "-received_at"
    OLDEST_RECEIVED = "received_at"
    MOST_SEVERE = "-severity"
    LEAST_SEVERE = "severity"

    @property
    def field(self) -> str:
        """The document field this order sorts on."""
        name = self.value.lstrip("-")
        return "severity_rank" if name == "severity" else name

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


class InvalidCursor(ValueError):
    """The cursor was not issued by this API for this sort order."""


@dataclass(frozen=True, kw_only=True)
class ReportQuery:
    """Filters of the list, export and duplicates endpoints (all optional, ANDed)."""

    regions: tuple[str, ...] = ()  # every code must be an ancestor-or-self of the report's
    categories: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def scoped_to(self, region: str | None) -> "ReportQuery":
        """The same query limited to ``region``'s subtree (a liaison's scope)."""
        # A scope of None means "no region at all": match nothing.
        return replace(self, regions=(*self.regions, region or "-"))


def encode_cursor(*, order: SortOrder, value: Any, report_id: str) -> str:
    """An opaque cursor continuing after the row with ``value`` and ``report_id``."""
    if isinstance(value, datetime):
        payload = {"o": order.value, "t": "dt", "v": value.isoformat(), "id": report_id}
    else:
        payload = {"o": order.value, "t": "raw", "v": value, "id": report_id}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, order: SortOrder) -> tuple[Any, str]:
    """The (sort value, report id) a cursor continues after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        if payload["o"] != order.value:
            raise InvalidCursor("the cursor belongs to another sort order")
        value = payload["v"]
        if payload["t"] == "dt":
            value = datetime.fromisoformat(value)
        elif value is not None and not isinstance(value, int | float | str):
            raise InvalidCursor("malformed cursor value")
        report_id = payload["id"]
        if not isinstance(report_id, str):
            raise InvalidCursor("malformed cursor id")
    except InvalidCursor:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("malformed cursor") from exc
    return value, report_id
