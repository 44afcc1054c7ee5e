"""The listing index against a plain reference of the store's query semantics."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.reporting.core import listing
from pantau.reporting.core.listing import ListingIndex, to_millis
from pantau.reporting.core.query import ReportQuery, SortOrder

T0 = datetime(2024, 2, 14, 8, 0, tzinfo=UTC)
REGIONS = [
    ["32", "32.01", "32.01.01", "32.01.01.2001"],
    ["32", "32.01", "32.01.02"],
    ["32", "32.04"],
    ["35", "35.15", "35.15.01"],
    [],
]
CATEGORIES = ["politik_uang", "intimidasi", "logistik", None]
SEVERITIES = {"low": 0, "medium": 1, "high": 2, "critical": 3}
STATUSES = ["new", "verified", "rejected"]
WORDS = ["amplop", "uang", "fajar", "kotak", "suara", "tps", "Ünïcode"]

times = st.integers(0, 12).map(lambda m: T0 + timedelta(minutes=m * 7, microseconds=m * 1000))
# Query bounds on, between and just past (less than a millisecond) the rows' times.
bounds = st.builds(
    lambda t, shift: t + timedelta(microseconds=shift),
    times,
    st.sampled_from([0, 400, 1000, 3 * 60 * 10**6]),
)


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    severity = draw(st.sampled_from([*SEVERITIES, None]))
    listable = draw(st.booleans() | st.just(True))
    return {
        "_id": f"r{draw(st.integers(0, 30)):02d}",
        "version": draw(st.integers(0, 4)),
        "region_path": draw(st.sampled_from(REGIONS)),
        "category": draw(st.sampled_from(CATEGORIES)),
        "severity": severity,
        "severity_rank": SEVERITIES.get(severity or "", -1),
        "status": draw(st.sampled_from(STATUSES)),
        "occurred_at": draw(times) if listable else None,
        "received_at": draw(times),
        "search_text": " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=4))).casefold(),
    }


queries = st.builds(
    ReportQuery,
    regions=st.lists(st.sampled_from(["32", "32.01", "32.01.01", "35", "99", "-"]), max_size=2).map(
        tuple
    ),
    categories=st.lists(st.sampled_from([*CATEGORIES[:3], "lainnya"]), max_size=2).map(tuple),
    severities=st.lists(st.sampled_from(list(SEVERITIES)), max_size=2).map(tuple),
    statuses=st.lists(st.sampled_from(STATUSES), max_size=2).map(tuple),
    occurred_from=st.none() | bounds | bounds.map(lambda t: t.replace(tzinfo=None)),
    occurred_to=st.none() | bounds,
    text=st.none() | st.sampled_from(["uang", "AMPLOP", "kotak su", "ünï", "zzz"]),
)


def reference_latest(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The document the index should hold per id: the highest version, the later of equals."""
    held: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc["_id"] not in held or doc["version"] >= held[doc["_id"]]["version"]:
            held[doc["_id"]] = doc
    return held


def _ms(value: datetime) -> int:
    return to_millis(value)


def reference_match(doc: dict[str, Any], query: ReportQuery) -> bool:
    """``store.query_filter`` spelled out in Python."""
    if not isinstance(doc["occurred_at"], datetime):
        return False
    at = _ms(doc["occurred_at"])
    return (
        all(code in doc["region_path"] for code in query.regions)
        and (not query.categories or doc["category"] in query.categories)
        and (not query.severities or doc["severity"] in query.severities)
        and (not query.statuses or doc["status"] in query.statuses)
        and (query.occurred_from is None or at >= _ms(query.occurred_from))
        and (query.occurred_to is None or at < _ms(query.occurred_to))
        and (not query.text or query.text.casefold() in doc["search_text"])
    )


def _comparable(value: Any, order: SortOrder) -> Any:
    if isinstance(value, datetime):
        return ("date", _ms(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("number", value)
    return ("other", value)


def reference_after(doc: dict[str, Any], order: SortOrder, after: tuple[Any, str]) -> bool:
    """``store.page_filter``: MongoDB compares values of the same type only."""
    value, report_id = after
    mine, theirs = _comparable(doc[order.field], order), _comparable(value, order)
    # {field: {$lt|$gt: value}}
    if mine[0] == theirs[0] != "other" and mine[1] != theirs[1]:
        return mine[1] < theirs[1] if order.descending else mine[1] > theirs[1]
    # {field: value, _id: {$lt|$gt: report_id}}
    if mine != theirs:
        return False
    return doc["_id"] < report_id if order.descending else doc["_id"] > report_id


def reference_page(
    docs: dict[str, dict[str, Any]],
    query: ReportQuery,
    order: SortOrder,
    after: tuple[Any, str] | None,
    limit: int,
) -> list[str]:
    rows = [
        d
        for d in docs.values()
        if reference_match(d, query) and (after is None or reference_after(d, order, after))
    ]
    rows.sort(key=lambda d: (_comparable(d[order.field], order), d["_id"]))
    if order.descending:
        rows.reverse()
    return [d["_id"] for d in rows[:limit]]


def _index(docs: list[dict[str, Any]]) -> ListingIndex:
    index = ListingIndex(capacity=2)  # grows while filling
    for doc in docs:
        index.upsert(doc)
    return index


@settings(max_examples=300, deadline=None)
@given(
    docs=st.lists(documents(), max_size=60),
    query=queries,
    order=st.sampled_from(list(SortOrder)),
    limit=st.integers(1, 7),
)
def test_paging_through_every_page_gives_the_reference_order(
    docs: list[dict[str, Any]], query: ReportQuery, order: SortOrder, limit: int
) -> None:
    index = _index(docs)
    latest = reference_latest(docs)
    expected = reference_page(latest, query, order, None, len(latest) + 1)
    seen: list[str] = []
    after = None
    for _ in range(len(latest) + 2):
        page = index.page(query, order, after, limit)
        assert page == reference_page(latest, query, order, after, limit)
        seen += page
        if len(page) < limit:
            break
        last = latest[page[-1]]
        after = (last[order.field], last["_id"])  # what the API puts in the cursor
        assert index.position(page[-1], order) == after
    assert seen == expected  # no gaps, no repeats


@settings(max_examples=300, deadline=None)
@given(
    docs=st.lists(documents(), max_size=40),
    query=queries,
    order=st.sampled_from(list(SortOrder)),
    value=st.none()
    | times
    | st.integers(-2, 4)
    | st.floats(-1, 4, allow_nan=False)
    | st.sampled_from(["2024", True]),
    report_id=st.sampled_from(["", "r00", "r15", "r15x", "s"]),
    limit=st.integers(1, 50),
)
def test_any_cursor_gives_the_reference_rows(
    docs: list[dict[str, Any]],
    query: ReportQuery,
    order: SortOrder,
    value: Any,
    report_id: str,
    limit: int,
) -> None:
    index = _index(docs)
    after = (value, report_id)
    assert index.page(query, order, after, limit) == reference_page(
        reference_latest(docs), query, order, after, limit
    )


def test_an_older_version_never_replaces_a_newer_one() -> None:
    index = ListingIndex()
    newer = {
        "_id": "r1",
        "version": 3,
        "region_path": ["32"],
        "category": "logistik",
        "severity": "high",
        "severity_rank": 2,
        "status": "verified",
        "occurred_at": T0,
        "received_at": T0,
        "search_text": "kotak",
    }
    assert index.upsert(newer)
    assert not index.upsert(newer | {"version": 2, "status": "new"})  # a stale loaded copy
    assert index.page(ReportQuery(statuses=("verified",)), SortOrder.NEWEST, None, 5) == ["r1"]
    assert index.page(ReportQuery(statuses=("new",)), SortOrder.NEWEST, None, 5) == []
    assert index.upsert(newer | {"version": 4, "occurred_at": None})  # no longer listable
    assert index.page(ReportQuery(), SortOrder.NEWEST, None, 5) == []
    assert len(index) == 0 and index.version_of("r1") == 4


def test_many_matching_rows_are_walked_in_order() -> None:
    # Above the direct-sort threshold the page walks the sorted keys from the cursor.
    docs = [
        {
            "_id": f"r{n:05d}",
            "version": 1,
            "region_path": ["32", "32.01"] if n % 3 else ["35"],
            "category": "logistik",
            "severity": "low",
            "severity_rank": n % 4,
            "status": "new",
            "occurred_at": T0 + timedelta(seconds=n // 2),
            "received_at": T0,
            "search_text": "uang" if n % 5 == 0 else "kotak",
        }
        for n in range(6000)
    ]
    index = _index(docs)
    latest = reference_latest(docs)
    queries = [ReportQuery(regions=("32",)), ReportQuery(text="kotak"), ReportQuery(text="uang")]
    for query in [*queries, ReportQuery(regions=("32",), text="uang"), ReportQuery()]:
        for order in SortOrder:
            after = None
            for _ in range(3):
                page = index.page(query, order, after, 100)
                assert page == reference_page(latest, query, order, after, 100)
                last = latest[page[-1]]
                after = (last[order.field], last["_id"])


def test_texts_stay_searchable_through_replacements_and_compaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listing._TextStore, "COMPACT_MIN_BYTES", 0)  # compact often
    rng = random.Random(3)
    index = ListingIndex()
    docs: list[dict[str, Any]] = []
    for version in range(1, 400):
        doc = {
            "_id": f"r{rng.randint(0, 40):02d}",
            "version": version,
            "region_path": ["32"],
            "occurred_at": T0 + timedelta(minutes=rng.randint(0, 5)),
            "received_at": T0,
            "severity_rank": 1,
            "search_text": " ".join(rng.choices(WORDS, k=rng.randint(0, 3))).casefold(),
        }
        if rng.random() < 0.1:
            doc["occurred_at"] = None  # drops the row (and its text)
        index.upsert(doc)
        docs.append(doc)
        latest = reference_latest(docs)
        for text in ("uang", "ünï", "kotak suara", "a"):
            query = ReportQuery(text=text)
            assert index.page(query, SortOrder.OLDEST, None, 100) == reference_page(
                latest, query, SortOrder.OLDEST, None, 100
            )


def test_rows_are_kept_compressed_and_follow_the_newest_version() -> None:
    def row(doc: Any) -> dict[str, Any]:
        return {"id": doc["_id"], "status": doc["status"], "at": doc["occurred_at"].isoformat()}

    index = ListingIndex(row=row, zdict=b'{"id":"r1","status":"verified","at":"2024"}')
    doc = {"_id": "r1", "version": 1, "occurred_at": T0, "status": "new", "search_text": ""}
    index.upsert(doc)
    assert index.rows(["r1", "r2"]) == {"r1": {"id": "r1", "status": "new", "at": T0.isoformat()}}
    index.upsert(doc | {"version": 2, "status": "verified"})
    index.upsert(doc | {"version": 1, "status": "rejected"})  # stale: ignored
    assert index.rows(["r1"])["r1"]["status"] == "verified"
    index.upsert(doc | {"version": 3, "occurred_at": None})
    assert index.rows(["r1"]) == {}
    assert ListingIndex().rows(["r1"]) == {}  # no rows kept without ``row=``


def test_rows_packed_before_and_after_the_dictionary_is_trained_read_back() -> None:
    def row(doc: Any) -> dict[str, Any]:
        return {"id": doc["_id"], "text": doc["search_text"], "n": doc["version"]}

    index = ListingIndex(row=row)
    docs = [
        {"_id": f"r{n:04d}", "version": n, "occurred_at": T0, "search_text": f"kotak {n} ünï"}
        for n in range(listing._RowPacker.TRAINING_ROWS + 50)
    ]
    index.upsert_many(docs)
    assert index.rows(d["_id"] for d in docs) == {d["_id"]: row(d) for d in docs}
