"""How report and bucket documents are laid out in MongoDB: plain fields for what queries
filter and sort by, the rest packed into BSON binary fields.

FerretDB's cost of writing or reading a document grows with the number of values in it
(it stores a type schema beside every value as JSON, and SQLite parses that JSON again
for the ``_id`` index), far more than with its bytes. Measured on this machine, loading
a report with its ~70 values as fields cost FerretDB 0.7 ms, and 0.18 ms packed; a day's
bucket of a busy scope holds hundreds of counts, and loading and rewriting those took
half of ingest time. So:

- reports: ``view`` holds the fields the API shows but no query filters or sorts by,
  ``sources`` the fold's source slots and the contribution last applied (read only to
  fold the next event and for a report's detail); filters, sort keys and bookkeeping
  stay plain fields;
- buckets: ``counts`` holds the counts, when the single writer writes them whole
  (``ReportStore._apply_journal``); the compare-and-swap path (MongoDB) increments them
  in place, so they stay plain there.

Packing is this module's business alone: the store writes ``to_stored`` and hands
``from_stored`` documents to everyone else; projections go through ``projection``.
Documents written unpacked (by the other path, or before the packing) read as they are.
"""

from collections.abc import Iterable
from typing import Any

import bson
from bson.codec_options import CodecOptions

from pantau.reporting.core.views import PUBLIC_FIELDS

# Decode like the client does (timezone-aware datetimes).
_CODEC = CodecOptions(tz_aware=True)


class Layout:
    """Which fields of a document are packed into which binary field."""

    def __init__(self, groups: dict[str, tuple[str, ...]]) -> None:
        self.groups = groups
        self._group_of = {field: group for group, fields in groups.items() for field in fields}

    def to_stored(self, document: dict[str, Any]) -> dict[str, Any]:
        """``document`` as written: the packed fields it has, in their binaries."""
        stored = dict(document)
        for group, fields in self.groups.items():
            values = {field: stored.pop(field) for field in fields if field in stored}
            if values:
                stored[group] = bson.encode(values)
        return stored

    def from_stored(
        self, stored: dict[str, Any], groups: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """A loaded document with its packed fields unpacked (those of ``groups`` only,
        if given: the others are left out)."""
        if not any(group in stored for group in self.groups):
            return stored
        document = dict(stored)
        for group in self.groups:
            packed = document.pop(group, None)
            if packed is not None and (groups is None or group in groups):
                document.update(bson.decode(packed, codec_options=_CODEC))
        return document

    def projection(self, fields: Iterable[str]) -> dict[str, int]:
        """The stored fields to fetch for ``fields``: a packed one comes with its group,
        and by its own name from a document written unpacked."""
        projection: dict[str, int] = {}
        for field in fields:
            projection[field] = 1
            if field in self._group_of:
                projection[self._group_of[field]] = 1
        return projection


# What the API shows that queries also filter or sort by (``store.query_filter``,
# ``store.sort_spec``): kept plain. The rest of what it shows is packed into ``view``.
QUERIED_PUBLIC_FIELDS = frozenset({"report_id", "status", "occurred_at", "received_at"})
REPORT = Layout(
    {
        "view": tuple(field for field in PUBLIC_FIELDS if field not in QUERIED_PUBLIC_FIELDS),
        "sources": (
            "submission",
            "classification_source",
            "alerts",
            "status_history",
            "stats_applied",
        ),
    }
)
BUCKET = Layout({"counts": ("c", "r")})
