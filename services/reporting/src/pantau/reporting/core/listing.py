"""An in-memory listing index: which reports a list page shows, without the database.

FerretDB 1.24 answers every filter but a lone ``_id`` and every sort by decoding each
document (see the README), so a list page over 100,000 reports takes minutes there. This
index keeps, per listable report, only what the filters and sort orders read, and answers
``page()`` with exactly the semantics of the MongoDB query of ``adapters.store``
(``query_filter`` + ``page_filter`` + ``sort_spec``).

Optionally each row also keeps what the list shows of its report (``row=``), as
zlib-compressed JSON, so a page needs no database read at all: fetching 50 documents by
``_id`` costs FerretDB about 2 ms of CPU each, a whole page's budget.

Layout (measured at 100,000 rows, see the README): the filter columns and sort values
are numpy arrays (a filter is one vectorised comparison); the folded texts sit in one
UTF-8 buffer searched with ``bytearray.find``; a date order takes the ``limit`` smallest
values with ``numpy.partition`` and sorts only those and their ties; the severity orders
(four values, ties everywhere) walk a ``SortedList`` of ``(rank, report_id, slot)`` keys
from the cursor, or sort the matching rows directly when there are few. Each page costs
at most one pass over the columns or the text buffer.
"""

import json
import math
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sortedcontainers import SortedList

from pantau.reporting.core import stats
from pantau.reporting.core.query import ReportQuery, SortOrder

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Below every millisecond value: where MongoDB sorts a null (before numbers and dates).
NULL = -(2**62)
REGION_LEVELS = 4  # province, regency, district, village (``readmodel._region_levels``)
NONE_CODE = -1  # a missing category/severity/status/region level
UNKNOWN_CODE = -2  # a query value no row has ever had: matches nothing
# With at most this many matching rows, sort them directly instead of walking an order.
DIRECT_SORT_MAX = 2048
# Past this many texts containing the search text, test texts while walking instead.
DENSE_TEXT_MATCHES = 4096
SORT_FIELDS = ("occurred_at", "received_at", "severity_rank")
KEYED_FIELD = "severity_rank"
_DATE_FIELDS = frozenset({"occurred_at", "received_at"})
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# What a row holds, as a MongoDB projection of the report documents (``_id`` comes too).
LISTING_FIELDS = (
    "version",
    "region_path",
    "category",
    "severity",
    "status",
    "occurred_at",
    "received_at",
    "severity_rank",
    "search_text",
)

Position = tuple[Any, str]  # a cursor: (sort value as MongoDB holds it, report id)


def to_millis(value: datetime) -> int:
    """Milliseconds since the epoch as a BSON date holds ``value`` (naive means UTC,
    sub-millisecond digits dropped, as PyMongo encodes it)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_millis(millis: int) -> datetime:
    """The UTC datetime MongoDB returns for a BSON date of ``millis``."""
    return EPOCH + timedelta(milliseconds=millis)


def listable(document: Mapping[str, Any]) -> bool:
    """Whether ``document`` is one the list shows (``store._LISTABLE``: it has a date
    of occurrence; documents known only from an alert or a status change have none)."""
    return isinstance(document.get("occurred_at"), datetime)


class ListingIndex:
    """The filter and sort fields of every listable report, for keyset pages."""

    def __init__(
        self,
        *,
        capacity: int = 1024,
        row: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
        zdict: bytes = b"",
    ) -> None:
        # ``row(document)``: what to keep of a listed report, JSON-able (datetimes are
        # kept as ISO 8601 strings); ``zdict``: a typical row's JSON, which makes each
        # compressed row a few hundred bytes.
        self._row = row
        self._packer = _RowPacker(zdict)
        self._rows: list[bytes | None] = []
        self._codes: dict[str, int] = {}
        self._names: list[str] = []  # the value of each code
        # The version of each document seen: a column for listed ones, a dict for others.
        self._unlisted_versions: dict[str, int] = {}
        self._slot_of: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._texts = _TextStore()
        self._free: list[int] = []
        self._capacity = 0
        self._alive = np.zeros(0, dtype=bool)
        self._region = np.zeros((0, REGION_LEVELS), dtype=np.int32)
        self._category = np.zeros(0, dtype=np.int32)
        self._severity = np.zeros(0, dtype=np.int32)
        self._status = np.zeros(0, dtype=np.int32)
        self._version = np.zeros(0, dtype=np.int64)
        self._values = {f: np.zeros(0, dtype=np.int64) for f in SORT_FIELDS}
        # Kept sorted for the severity orders only: five values, so ties are the rule and
        # a page walks them; the date orders are answered from their numpy columns.
        self._orders: dict[str, SortedList] = {KEYED_FIELD: SortedList()}
        self._grow(capacity)

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, report_id: object) -> bool:
        return report_id in self._slot_of

    def version_of(self, report_id: str) -> int | None:
        """The version of ``report_id``'s document the index holds, if it saw one."""
        slot = self._slot_of.get(report_id)
        if slot is not None:
            return int(self._version[slot])
        return self._unlisted_versions.get(report_id)

    # -- writes ---------------------------------------------------------------------

    def upsert_many(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """``upsert`` each document; returns how many changed the index."""
        return sum(self.upsert(doc) for doc in documents)

    def upsert(self, document: Mapping[str, Any]) -> bool:
        """Take ``document`` (a read-model document with ``_id`` or ``report_id`` and
        ``version``) unless the index holds a newer version of it; a document that is not
        listable has no row. Returns whether the index changed."""
        report_id = document.get("_id") or document.get("report_id")
        if not isinstance(report_id, str):
            return False
        version = int(document.get("version") or 0)
        held = self.version_of(report_id)
        if held is not None and held > version:
            return False
        self._remove(report_id)
        self._unlisted_versions.pop(report_id, None)
        if listable(document):
            self._insert(report_id, document, version)
        else:
            self._unlisted_versions[report_id] = version
        return True

    def _insert(self, report_id: str, doc: Mapping[str, Any], version: int) -> None:
        if not self._free:
            self._grow(self._capacity * 2)
        slot = self._free.pop()
        path = [c for c in doc.get("region_path") or [] if isinstance(c, str)]
        codes = [self._intern(c) for c in path[:REGION_LEVELS]]
        self._region[slot] = codes + [NONE_CODE] * (REGION_LEVELS - len(codes))
        self._category[slot] = self._intern(doc.get("category"))
        self._severity[slot] = self._intern(doc.get("severity"))
        self._status[slot] = self._intern(doc.get("status"))
        for field in SORT_FIELDS:
            value = _stored_value(field, doc.get(field))
            self._values[field][slot] = value
        self._orders[KEYED_FIELD].add((int(self._values[KEYED_FIELD][slot]), report_id, slot))
        text = doc.get("search_text")
        self._texts.put(slot, text if isinstance(text, str) else "")
        self._version[slot] = version
        if self._row is not None:
            self._rows[slot] = self._pack(self._row(doc))
        self._ids[slot] = report_id
        self._alive[slot] = True
        self._slot_of[report_id] = slot

    def _remove(self, report_id: str) -> None:
        slot = self._slot_of.pop(report_id, None)
        if slot is None:
            return
        value = int(self._values[KEYED_FIELD][slot])
        self._orders[KEYED_FIELD].remove((value, report_id, slot))
        self._alive[slot] = False
        self._ids[slot] = None
        self._texts.drop(slot)
        if self._rows:
            self._rows[slot] = None
        self._free.append(slot)

    def _grow(self, capacity: int) -> None:
        old = self._capacity
        if capacity <= old:
            return

        def grown(array: np.ndarray, fill: int | bool) -> np.ndarray:
            bigger = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
            bigger[:old] = array
            return bigger

        self._alive = grown(self._alive, False)
        self._region = grown(self._region, NONE_CODE)
        self._category = grown(self._category, NONE_CODE)
        self._severity = grown(self._severity, NONE_CODE)
        self._status = grown(self._status, NONE_CODE)
        self._values = {f: grown(a, NULL) for f, a in self._values.items()}
        self._ids += [None] * (capacity - old)
        self._version = grown(self._version, 0)
        self._texts.grow(capacity)
        self._rows += [None] * (capacity - old)
        self._free += range(capacity - 1, old - 1, -1)  # lowest slot first
        self._capacity = capacity

    def _pack(self, row: Mapping[str, Any]) -> bytes:
        return self._packer.pack(row)

    def rows(self, report_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The kept rows (``row=``) of those of ``report_ids`` the index lists."""
        found: dict[str, dict[str, Any]] = {}
        for report_id in report_ids:
            slot = self._slot_of.get(report_id)
            packed = self._rows[slot] if slot is not None and self._row else None
            if packed is not None:
                found[report_id] = self._packer.unpack(packed)
        return found

    def _intern(self, value: object) -> int:
        if not isinstance(value, str):
            return NONE_CODE
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self._names)
            self._names.append(value)
        return code

    # -- reads ----------------------------------------------------------------------

    def page(
        self, query: ReportQuery, order: SortOrder, after: Position | None, limit: int
    ) -> list[str]:
        """Ids of the first ``limit`` rows matching ``query`` strictly after ``after`` in
        ``order`` (ties broken by report id in the same direction)."""
        if limit <= 0:
            return []
        mask = self._mask(query)
        if mask is None:
            return []
        field = order.field
        if field != KEYED_FIELD:
            slots = np.flatnonzero(mask)
            if after is not None:
                slots = self._after_slots(slots, field, order.descending, after)
            slots, needle = self._text_filter(slots, query.text)
            return self._first_by_value(slots, field, order.descending, needle, limit)
        keys = self._orders[field]
        lo, hi = self._range(query, order, after)
        if lo >= hi:
            return []
        slots, needle = self._text_filter(np.flatnonzero(mask), query.text)
        if needle is None and query.text:
            mask = np.zeros(self._capacity, dtype=bool)
            mask[slots] = True
        if len(slots) <= DIRECT_SORT_MAX and needle is None:
            return self._sorted_direct(slots, field, order.descending, keys, lo, hi, limit)
        return self._walk(keys.islice(lo, hi, reverse=order.descending), mask, needle, limit)

    def _text_filter(self, slots: np.ndarray, text: str | None) -> tuple[np.ndarray, bytes | None]:
        """Those of ``slots`` whose folded text contains ``text`` (a literal, case-folded
        substring, as the store's escaped ``$regex``), or ``slots`` unchanged and the
        pattern to test row by row, when so many texts match that testing them while
        walking the order stops sooner than listing every match."""
        if not text:
            return slots, None
        needle = text.casefold().encode()
        if len(slots) <= DIRECT_SORT_MAX:
            has = self._texts.has
            return slots[[has(slot, needle) for slot in slots.tolist()]], None
        found = self._texts.containing(needle, most=DENSE_TEXT_MATCHES)
        if found is None:
            return slots, needle
        return np.intersect1d(slots, found), None

    def _after_slots(
        self, slots: np.ndarray, field: str, descending: bool, after: Position
    ) -> np.ndarray:
        """Those of ``slots`` strictly after ``after`` (``store.page_filter``)."""
        value, report_id = after
        key = _cursor_value(field, value)
        values = self._values[field][slots]
        if key is None:
            # MongoDB compares values of one type only: a null cursor value (or one of
            # another type) matches no "strictly before/after", only equal values.
            if value is not None:
                return slots[:0]
            key, strict = NULL, np.zeros(len(slots), dtype=bool)
        elif descending:  # nulls are never `$lt` a date
            strict = (values < key) & (values != NULL)
        else:
            strict = values > key
        ids = self._ids
        tied = [
            slot
            for slot in slots[values == key].tolist()
            if (ids[slot] < report_id if descending else ids[slot] > report_id)  # type: ignore[operator]
        ]
        return np.concatenate([slots[strict], np.array(tied, dtype=slots.dtype)])

    def _first_by_value(
        self, slots: np.ndarray, field: str, descending: bool, needle: bytes | None, limit: int
    ) -> list[str]:
        """The ids of the first ``limit`` of ``slots`` by (value, id) in the direction
        (with texts containing ``needle``): a partition picks the smallest values, so
        only they and their ties are sorted in Python."""
        if not len(slots):
            return []
        values = self._values[field][slots]
        ranks = -values if descending else values  # ascending ranks either way
        if needle is not None:
            return self._first_with_text(slots, ranks, descending, needle, limit)
        if len(slots) > limit:
            bound = np.partition(ranks, limit - 1)[limit - 1]
            chosen = ranks <= bound
            slots, ranks = slots[chosen], ranks[chosen]
        return self._ordered(slots.tolist(), ranks.tolist(), descending)[:limit]

    def _first_with_text(
        self, slots: np.ndarray, ranks: np.ndarray, descending: bool, needle: bytes, limit: int
    ) -> list[str]:
        has = self._texts.has
        picked_slots: list[int] = []
        picked_ranks: list[int] = []
        sorted_slots, sorted_ranks = slots[np.argsort(ranks)], np.sort(ranks)
        for slot, rank in zip(sorted_slots.tolist(), sorted_ranks.tolist(), strict=True):
            if len(picked_slots) >= limit and rank != picked_ranks[-1]:
                break  # the page and every row tied with its last are in
            if has(slot, needle):
                picked_slots.append(slot)
                picked_ranks.append(rank)
        return self._ordered(picked_slots, picked_ranks, descending)[:limit]

    def _ordered(self, slots: list[int], ranks: list[int], descending: bool) -> list[str]:
        """Ids of ``slots`` by ascending rank, ties by id in the direction."""
        ids = self._ids
        rows = list(zip(ranks, [str(ids[s]) for s in slots], strict=True))
        rows.sort(key=lambda row: row[1], reverse=descending)
        rows.sort(key=lambda row: row[0])
        return [str(report_id) for _rank, report_id in rows]

    def _walk(
        self, rows: Iterable[Any], mask: np.ndarray, needle: bytes | None, limit: int
    ) -> list[str]:
        """The first ``limit`` of ``rows`` (sorted keys) set in ``mask`` (and whose text
        contains ``needle``)."""
        hits = mask.tobytes()  # one byte per slot: indexing it is the cheapest test
        has = self._texts.has
        found: list[str] = []
        for _value, report_id, slot in rows:
            if hits[slot] and (needle is None or has(slot, needle)):
                found.append(report_id)
                if len(found) == limit:
                    break
        return found

    def _range(
        self, query: ReportQuery, order: SortOrder, after: Position | None
    ) -> tuple[int, int]:
        """The range ``[lo, hi)`` of ``order``'s keys a page may come from."""
        keys = self._orders[order.field]
        lo, hi = 0, len(keys)
        if after is not None:
            lo, hi = self._after_range(order.field, order.descending, after, lo, hi)
        return lo, hi

    def _sorted_direct(
        self,
        slots: np.ndarray,
        field: str,
        descending: bool,
        keys: SortedList,
        lo: int,
        hi: int,
        limit: int,
    ) -> list[str]:
        ids = self._ids
        values = self._values[field][slots].tolist()
        rows = [(v, ids[s], s) for v, s in zip(values, slots.tolist(), strict=True)]
        if lo > 0 or hi < len(keys):  # only the rows within the walk's range
            first, last = keys[lo], keys[hi - 1]
            rows = [row for row in rows if first <= row <= last]
        rows.sort(reverse=descending)
        return [str(report_id) for _v, report_id, _s in rows[:limit]]

    def _after_range(
        self, field: str, descending: bool, after: Position, lo: int, hi: int
    ) -> tuple[int, int]:
        """Narrow ``[lo, hi)`` to the keys after ``after`` (``store.page_filter``)."""
        value, report_id = after
        keys = self._orders[field]
        key = _cursor_value(field, value)
        if key is None:
            # MongoDB compares values of one type only: a null cursor value (or one of
            # another type) matches no "strictly before/after", only equal values.
            if value is not None:
                return 0, 0
            key, strict = NULL, False
        else:
            strict = True
        if descending:
            stop = keys.bisect_left((key, report_id))
            # Strictly lower values, but never nulls: MongoDB does not order a null
            # below a number or a date in a ``$lt``.
            start = keys.bisect_left((NULL + 1,)) if strict else keys.bisect_left((key,))
            return max(lo, start), min(hi, stop)
        start = keys.bisect_right((key, report_id, math.inf))
        stop = hi if strict else keys.bisect_left((NULL + 1,))
        return max(lo, start), min(hi, stop)

    def _mask(self, query: ReportQuery) -> np.ndarray | None:
        """The rows matching every filter but the text; ``None`` when a
        filter names a value no row has."""
        mask = self._alive.copy()
        for code in query.regions:
            wanted = self._codes.get(code, UNKNOWN_CODE)
            if wanted == UNKNOWN_CODE:
                return None
            mask &= (self._region == wanted).any(axis=1)
        for values, column in (
            (query.categories, self._category),
            (query.severities, self._severity),
            (query.statuses, self._status),
        ):
            if values:
                wanted_codes = [self._codes[v] for v in values if v in self._codes]
                if not wanted_codes:
                    return None
                mask &= np.isin(column, wanted_codes)
        occurred = self._values["occurred_at"]
        if query.occurred_from is not None:
            mask &= occurred >= to_millis(query.occurred_from)
        if query.occurred_to is not None:
            mask &= occurred < to_millis(query.occurred_to)
        return mask

    def stats(
        self,
        *,
        scope: str,
        start: datetime,
        end: datetime,
        categories: frozenset[str] = frozenset(),
        severities: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """What ``stats.summarize`` makes of the aggregate buckets of ``scope`` for
        ``[start, end)``, counted from the rows: the buckets count exactly the listed
        reports that have a region (``stats.contribution``), by the UTC hour and day of
        their incident, so the result is the same (one pass over the columns instead of
        loading and decoding the buckets: at 100,000 reports a week of national buckets
        is 200 KB of nested counters, 300 ms for FerretDB to read)."""
        mask = self._alive & (self._region[:, 0] != NONE_CODE)
        level = -1 if scope == stats.NATIONAL else scope.count(".")
        if level >= 0:
            code = self._codes.get(scope, UNKNOWN_CODE)
            if level >= REGION_LEVELS or code == UNKNOWN_CODE:
                return stats.summarize([], start=start, end=end)
            mask &= self._region[:, level] == code
        for column, wanted in ((self._category, categories), (self._severity, severities)):
            if wanted:
                codes = [self._codes[v] for v in wanted if v in self._codes]
                codes += [NONE_CODE] if stats.UNCLASSIFIED in wanted else []
                mask &= np.isin(column, codes)
        occurred = self._values["occurred_at"]
        hour = occurred - occurred % HOUR_MS
        # An hour counts when it overlaps the interval, as the buckets' hourly counts do.
        in_hours = np.flatnonzero(
            mask & (hour < to_millis(end)) & (hour + HOUR_MS > to_millis(start))
        )
        categories_of, severities_of = self._category[in_hours], self._severity[in_hours]
        by_hour: dict[str, dict[str, int]] = {}
        if len(in_hours):
            # One count per (hour, category): a bincount over a combined small key (the
            # interval has at most MAX_STATS_DAYS * 24 hours, a few dozen codes).
            first_hour = int(hour[in_hours].min())
            width = len(self._names) + 1  # every code, NONE_CODE (-1) shifted to 0
            keys = (hour[in_hours] - first_hour) // HOUR_MS * width + (categories_of + 1)
            counts = np.bincount(keys)
            for key in np.flatnonzero(counts).tolist():
                offset, category = divmod(key, width)
                at = from_millis(first_hour + offset * HOUR_MS).isoformat()
                by_hour.setdefault(at, {})[self._label(category - 1)] = int(counts[key])
        # Child regions count whole days (the buckets keep no hours for them).
        by_region: dict[str, int] = {}
        if level + 1 < REGION_LEVELS:
            days = stats.days_between(start, end)
            first = to_millis(datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC))
            child = self._region[:, level + 1]
            in_days = np.flatnonzero(
                mask
                & (child != NONE_CODE)
                & (occurred >= first)
                & (occurred < first + len(days) * DAY_MS)
            )
            by_region = self._counted(child[in_days])
        return {
            "total": len(in_hours),
            "by_category": self._counted(categories_of),
            "by_severity": self._counted(severities_of),
            "by_hour": [
                {"hour": at, "by_category": dict(sorted(by_hour[at].items()))}
                for at in sorted(by_hour)
            ],
            "by_region": by_region,
        }

    def _label(self, code: int) -> str:
        return stats.UNCLASSIFIED if code == NONE_CODE else self._names[code]

    def _counted(self, codes: np.ndarray) -> dict[str, int]:
        counts = np.bincount(codes + 1)  # NONE_CODE (-1) shifted to 0
        found = np.flatnonzero(counts).tolist()
        return dict(sorted((self._label(code - 1), int(counts[code])) for code in found))

    def position(self, report_id: str, order: SortOrder) -> Position | None:
        """The cursor position of ``report_id``'s row in ``order``, its sort value as
        MongoDB returns it (a UTC datetime for dates, an int for the severity rank)."""
        slot = self._slot_of.get(report_id)
        if slot is None:
            return None
        value = int(self._values[order.field][slot])
        if order.field in _DATE_FIELDS:
            return (None if value == NULL else from_millis(value)), report_id
        return value, report_id


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _stored_value(field: str, value: object) -> int:
    if field in _DATE_FIELDS:
        return to_millis(value) if isinstance(value, datetime) else NULL
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return NULL


def _cursor_value(field: str, value: object) -> int | float | None:
    """A cursor value in the key space of ``field``, or ``None`` if MongoDB would not
    compare it with that field's values (another BSON type)."""
    if field in _DATE_FIELDS:
        return to_millis(value) if isinstance(value, datetime) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value if not (isinstance(value, float) and math.isnan(value)) else None
    return None


class _TextStore:
    """Every row's folded text in one append-only UTF-8 buffer, each text after a 0xFF
    byte (never part of UTF-8, so no match spans two texts): a substring search is a few
    ``bytearray.find`` calls in C, and a text costs its bytes, not a Python object.
    A replaced text stays as garbage until garbage outweighs live text; then the buffer
    is rewritten."""

    SEPARATOR = b"\xff"
    COMPACT_MIN_BYTES = 1 << 20

    def __init__(self) -> None:
        self._segment_of = array("q")  # each slot's segment, -1 for none
        self._reset()

    def grow(self, capacity: int) -> None:
        self._segment_of.extend([-1] * (capacity - len(self._segment_of)))

    def _reset(self) -> None:
        self._buffer = bytearray()
        self._starts = array("q")  # where each segment's text begins, ascending
        self._owners = array("q")  # the slot each segment belongs to, -1 once replaced
        self._garbage = 0

    def put(self, slot: int, text: str) -> None:
        self.drop(slot)
        self._append(slot, text.encode())

    def _append(self, slot: int, text: bytes) -> None:
        self._buffer += self.SEPARATOR
        self._segment_of[slot] = len(self._starts)
        self._starts.append(len(self._buffer))
        self._owners.append(slot)
        self._buffer += text

    def drop(self, slot: int) -> None:
        segment = self._segment_of[slot]
        if segment < 0:
            return
        self._segment_of[slot] = -1
        self._owners[segment] = -1
        self._garbage += self._end(segment) - self._starts[segment] + 1
        if self._garbage > max(len(self._buffer) // 2, self.COMPACT_MIN_BYTES):
            self._compact()

    def _end(self, segment: int) -> int:
        if segment + 1 < len(self._starts):
            return self._starts[segment + 1] - 1
        return len(self._buffer)

    def _compact(self) -> None:
        live = [
            (slot, bytes(self._buffer[self._starts[seg] : self._end(seg)]))
            for seg, slot in enumerate(self._owners)
            if slot >= 0
        ]
        self._reset()
        for slot, text in live:
            self._append(slot, text)

    def has(self, slot: int, pattern: bytes) -> bool:
        """Whether ``slot``'s text contains ``pattern`` (UTF-8)."""
        segment = self._segment_of[slot]
        if segment < 0:
            return False
        return self._buffer.find(pattern, self._starts[segment], self._end(segment)) != -1

    def containing(self, pattern: bytes, *, most: int) -> np.ndarray | None:
        """The slots whose text contains ``pattern`` (UTF-8); ``None`` if more than
        ``most`` texts do (stopping there)."""
        buffer, positions = self._buffer, []
        position = buffer.find(pattern)
        while position != -1:
            if len(positions) == most:
                return None
            positions.append(position)
            end = buffer.find(self.SEPARATOR, position + len(pattern))
            if end == -1:
                break
            position = buffer.find(pattern, end)
        if not positions:
            return np.zeros(0, dtype=np.int64)
        starts = np.frombuffer(self._starts, dtype=np.int64)
        segments = np.searchsorted(starts, np.array(positions), side="right") - 1
        owners = np.frombuffer(self._owners, dtype=np.int64)[segments]
        return owners[owners >= 0]


class _RowPacker:
    """Rows as zlib-compressed JSON against a preset dictionary: first ``zdict`` (a
    typical row), then, once ``TRAINING_ROWS`` rows were packed, their own JSON (keys,
    region names, institutions and words that recur), about half the size again. The
    first byte of a packed row names its dictionary."""

    TRAINING_ROWS = 200
    ZDICT_MAX = 32 * 1024  # what zlib's window can use

    def __init__(self, zdict: bytes) -> None:
        self._dicts = [zdict]
        self._samples: list[bytes] | None = []

    def pack(self, row: Mapping[str, Any]) -> bytes:
        data = json.dumps(row, default=_json_default, separators=(",", ":"), ensure_ascii=False)
        raw = data.encode()
        if self._samples is not None:
            self._samples.append(raw)
            if len(self._samples) >= self.TRAINING_ROWS:
                self._dicts.append(b"".join(self._samples)[-self.ZDICT_MAX :])
                self._samples = None
        which = len(self._dicts) - 1
        packer = zlib.compressobj(**_zdict_arg(self._dicts[which]))
        return bytes((which,)) + packer.compress(raw) + packer.flush()

    def unpack(self, packed: bytes) -> Any:
        unpacker = zlib.decompressobj(**_zdict_arg(self._dicts[packed[0]]))
        return json.loads(unpacker.decompress(packed[1:]) + unpacker.flush())


def _zdict_arg(zdict: bytes) -> dict[str, bytes]:
    return {"zdict": zdict} if zdict else {}
