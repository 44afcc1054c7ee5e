"""Statistics from the listing index against the aggregate buckets' own summary."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.reporting.core import stats
from pantau.reporting.core.listing import ListingIndex

MIDNIGHT = datetime(2024, 2, 15, tzinfo=UTC)
REGIONS = [
    ["32", "32.01", "32.01.01", "32.01.01.2001"],
    ["32", "32.01", "32.01.02"],
    ["32", "32.04"],
    ["35", "35.15", "35.15.01"],
    ["35"],
    [],  # no region: counted nowhere
]
CATEGORIES = ["politik_uang", "intimidasi", "logistik", None]
SEVERITIES = ["low", "high", "critical", None]
SCOPES = ["ID", "32", "32.01", "32.01.01", "32.01.01.2001", "32.01.02", "32.04", "35", "35.15"]
SCOPES += ["33", "99.99"]  # no report there

# Around two midnights, on and just off hour boundaries.
times = st.builds(
    lambda hours, ms: MIDNIGHT + timedelta(hours=hours, milliseconds=ms),
    st.integers(-30, 30),
    st.sampled_from([0, 1, 59 * 60_000, 3_599_999]),
)


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    return {
        "_id": f"r{draw(st.integers(0, 40)):02d}",
        "version": draw(st.integers(0, 3)),
        "region_path": draw(st.sampled_from(REGIONS)),
        "category": draw(st.sampled_from(CATEGORIES)),
        "severity": draw(st.sampled_from(SEVERITIES)),
        "status": "new",
        "occurred_at": draw(times | st.none()),
        "received_at": MIDNIGHT,
        "severity_rank": 0,
        "search_text": "",
    }


def buckets_of(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The aggregate buckets the store keeps for these documents (as `bench.seed`)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for doc in docs.values():
        for (bucket, path), delta in stats.deltas(stats.contribution(doc), 1).items():
            counts[bucket][path] += delta
    buckets = {}
    for bucket, paths in counts.items():
        scope, _, day = bucket.partition("|")
        doc: dict[str, Any] = {"_id": bucket, "scope": scope, "day": day, "ops": []}
        for path, value in paths.items():
            node = doc
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        buckets[bucket] = doc
    return buckets


def latest(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    held: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc["_id"] not in held or doc["version"] >= held[doc["_id"]]["version"]:
            held[doc["_id"]] = doc
    return held


@settings(max_examples=400, deadline=None)
@given(
    docs=st.lists(documents(), max_size=40),
    scope=st.sampled_from(SCOPES),
    start=times,
    span=st.sampled_from([timedelta(minutes=1), timedelta(hours=1), timedelta(hours=25)]),
    categories=st.frozensets(st.sampled_from(["politik_uang", "logistik", "lainnya"]), max_size=2),
    severities=st.frozensets(st.sampled_from(["high", "critical"]), max_size=1),
)
def test_stats_from_the_index_equal_the_buckets_summary(
    docs: list[dict[str, Any]],
    scope: str,
    start: datetime,
    span: timedelta,
    categories: frozenset[str],
    severities: frozenset[str],
) -> None:
    index = ListingIndex()
    index.upsert_many(docs)
    end = start + span
    buckets = buckets_of(latest(docs))
    days = stats.days_between(start, end)
    wanted = [buckets[b] for b in (stats.bucket_id(scope, d) for d in days) if b in buckets]
    expected = stats.summarize(
        wanted,
        start=start,
        end=end,
        categories=categories,
        severities=severities,
    )

    got = index.stats(
        scope=scope, start=start, end=end, categories=categories, severities=severities
    )

    assert got == expected


def test_a_report_moving_region_or_category_moves_its_count() -> None:
    index = ListingIndex()
    at = MIDNIGHT + timedelta(hours=3, minutes=5)
    base = {"_id": "r1", "occurred_at": at, "severity": "high", "status": "new"}
    index.upsert(base | {"version": 1, "region_path": ["32", "32.01"], "category": None})
    index.upsert(base | {"version": 2, "region_path": ["35", "35.15"], "category": "logistik"})

    day = {"start": MIDNIGHT, "end": MIDNIGHT + timedelta(days=1)}
    assert index.stats(scope="32", **day)["total"] == 0
    moved = index.stats(scope="ID", **day)
    assert moved["by_region"] == {"35": 1}
    assert moved["by_category"] == {"logistik": 1}
    assert moved["by_hour"] == [
        {"hour": "2024-02-15T03:00:00+00:00", "by_category": {"logistik": 1}}
    ]
