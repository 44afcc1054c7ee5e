"""The store against the real MongoDB-wire server: the fold's guarantees survive storage,
and the aggregates stay exact through redelivery and interrupted writes."""

import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient, monitoring

from pantau.reporting import testing as reporting_events
from pantau.reporting.adapters import store as store_module
from pantau.reporting.adapters.recent import RecentDocuments
from pantau.reporting.adapters.store import ReportStore
from pantau.reporting.adapters.stored_form import BUCKET
from pantau.reporting.config import Config
from pantau.reporting.core import stats
from pantau.reporting.core.readmodel import derive, fold, sources_of
from pantau.shared import testing as shared_events
from pantau.shared.envelope import Event
from pantau.shared.events import Category, ReportStatus, Severity
from pantau.shared.mongo import make_mongo_client

pytestmark = pytest.mark.integration

_BOOKKEEPING = {"_id", "version", "write_token", "stats_applied", "stats_pending"}


@pytest.fixture(scope="module")
async def mongo(config: Config) -> AsyncIterator[AsyncMongoClient[Any]]:
    client = make_mongo_client(config)
    yield client
    await client.close()


# `None`: detected from the server (on FerretDB the `_id`-only writes); `True`: the
# conditional writes MongoDB gets, forced, so both paths run on whichever server is here.
WRITE_MODES = pytest.mark.parametrize("conditional_writes", [None, True], ids=["auto", "cas"])


def _fresh_store(
    mongo: AsyncMongoClient[Any], *, cache: bool = False, database: str | None = None, **kwargs: Any
) -> ReportStore:
    return ReportStore(
        client=mongo,
        database=database or f"pantau_reporting_store_{uuid4().hex[:8]}",
        recent=RecentDocuments(max_bytes=8 * 2**20 if cache else 0),
        **kwargs,
    )


def _report_stream(report_id: str, rng: random.Random) -> list[Event]:
    submitted = shared_events.submitted(report_id=report_id, region="32.01.01")
    events: list[Event] = [submitted]
    for version in rng.sample(["1", "2", "10"], k=rng.randint(1, 3)):
        events.append(
            shared_events.classified(
                submitted,
                category=rng.choice(list(Category)),
                severity=rng.choice(list(Severity)),
                rules_version=version,
            )
        )
    alert_ids = ["a1", "a2"]
    for _ in range(rng.randint(0, 3)):
        events.append(reporting_events.alert(report_id, alert_id=rng.choice(alert_ids)))
    for _ in range(rng.randint(0, 2)):
        events.append(
            reporting_events.status_change(report_id, status=rng.choice(list(ReportStatus)))
        )
    return events


def _batches(events: list[Event], rng: random.Random) -> list[list[Event]]:
    out, i = [], 0
    while i < len(events):
        n = rng.randint(1, 4)
        out.append(events[i : i + n])
        i += n
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(min_value=0, max_value=2**32))
async def test_shuffled_duplicated_batches_store_the_in_order_fold(
    mongo: AsyncMongoClient[Any], seed: int
) -> None:
    await _check_shuffled_replay(mongo, seed, conditional_writes=None)


# The conditional (MongoDB) path on FerretDB: fewer examples, each write scans there.
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(min_value=0, max_value=2**32))
async def test_shuffled_duplicated_batches_with_conditional_writes(
    mongo: AsyncMongoClient[Any], seed: int
) -> None:
    await _check_shuffled_replay(mongo, seed, conditional_writes=True)


# The same with the cache of recently written documents on (as the service runs).
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(min_value=0, max_value=2**32))
async def test_shuffled_duplicated_batches_with_the_write_cache(
    mongo: AsyncMongoClient[Any], seed: int
) -> None:
    await _check_shuffled_replay(mongo, seed, conditional_writes=None, cache=True)


async def _check_shuffled_replay(
    mongo: AsyncMongoClient[Any], seed: int, *, conditional_writes: bool | None, cache: bool = False
) -> None:
    rng = random.Random(seed)
    store = _fresh_store(mongo, conditional_writes=conditional_writes, cache=cache)
    report_id = f"rpt_{uuid4().hex}"
    in_order = _report_stream(report_id, rng)
    replay = in_order + rng.choices(in_order, k=rng.randint(0, len(in_order)))
    rng.shuffle(replay)
    try:
        for batch in _batches(replay, rng):
            await store.apply_events(batch)
        stored = await store.get(report_id)
        assert stored is not None
        expected = derive(fold(in_order, report_id=report_id))
        assert {k: v for k, v in stored.items() if k not in _BOOKKEEPING} == expected
        assert sources_of(stored) == fold(in_order, report_id=report_id)
        assert stored.get("stats_pending", []) == []
    finally:
        await mongo.drop_database(store.database.name)


class Crash(Exception):
    """Simulated process death between two steps of a write."""


class CrashAt:
    """A store checkpoint that raises ``Crash`` at ``step`` once, after letting it pass
    ``passes`` times (a later part of the same batch)."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.passes = 0

    def arm(self, step: str | None, passes: int = 0) -> None:
        self.step, self.passes = step, passes

    async def __call__(self, step: str) -> None:
        if self.step != step:
            return
        if self.passes > 0:
            self.passes -= 1
            return
        self.step = None
        raise Crash(step)


async def _bucket_counts(store: ReportStore) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    async for stored in store.buckets.find({}):
        bucket = BUCKET.from_stored(stored)
        assert all(isinstance(op, str) for op in bucket.get("ops", [])), bucket
        for hour, per_category in (bucket.get("c") or {}).items():
            for category, per_severity in per_category.items():
                for severity, n in per_severity.items():
                    if n:
                        counts[(bucket["_id"], f"c.{hour}.{category}.{severity}")] += n
        for child, per_category in (bucket.get("r") or {}).items():
            for category, per_severity in per_category.items():
                for severity, n in per_severity.items():
                    if n:
                        counts[(bucket["_id"], f"r.{child}.{category}.{severity}")] += n
    return counts


async def _expected_counts(store: ReportStore) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    async for doc in store.reports.find({}):
        for key, delta in stats.deltas(stats.contribution(doc), 1).items():
            counts[key] += delta
    return counts


@WRITE_MODES
@pytest.mark.parametrize("cache", [False, True], ids=["load", "cache"])
async def test_aggregates_stay_exact_through_crashes_and_redelivery(
    mongo: AsyncMongoClient[Any],
    conditional_writes: bool | None,
    cache: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Parts of two reports, folding one report between turns of the event loop: the
    # single writer's batches are pipelined (a part folded while the last is written),
    # and a crash can stop them between any two parts.
    monkeypatch.setattr(store_module, "PIPELINE_PART", 2)
    monkeypatch.setattr(store_module, "FOLD_YIELD_EVERY", 1)
    rng = random.Random(7)
    crash_at = CrashAt()
    database = f"pantau_reporting_store_{uuid4().hex[:8]}"

    def start() -> ReportStore:
        return _fresh_store(
            mongo,
            database=database,
            checkpoint=crash_at,
            conditional_writes=conditional_writes,
            cache=cache,
        )

    store = start()
    events: list[Event] = []
    # Fewer reports on the forced MongoDB path: on FerretDB its writes scan collections.
    for n in range(12 if conditional_writes is None else 6):
        events += _report_stream(f"rpt_{n:03d}_{uuid4().hex[:6]}", rng)
    rng.shuffle(events)
    if await store.conditional_writes():
        steps = ["reports_written", "buckets_updated", "reports_cleared", None]
    else:  # the single writer's journal
        steps = ["part_folded", "journal_written", "reports_written", "buckets_updated", None]
    try:
        position = 0
        while position < len(events):
            batch = events[position : position + rng.randint(1, 6)]
            crash_at.arm(rng.choice(steps), passes=rng.randint(0, 2))
            try:
                await store.apply_events(batch)
            except Crash:
                if rng.random() < 0.5:
                    store = start()  # the process restarted
                await store.apply_events(batch)  # the redelivery
            crash_at.arm(None)  # a crash the batch did not reach is not carried over
            # Sometimes the whole batch is delivered once more.
            if rng.random() < 0.3:
                await store.apply_events(batch)
            position += len(batch)
        expected = await _expected_counts(store)
        assert sum(expected.values()) > 0
        assert await _bucket_counts(store) == expected
        async for doc in store.reports.find({}):
            assert doc.get("stats_pending", []) == []
        # Crashes between clearing a report and forgetting its ops leave op ids behind;
        # the periodic sweep forgets them without touching a count.
        await store.sweep_applied_ops()
        assert await _bucket_counts(store) == expected
        async for bucket in store.buckets.find({}):
            assert bucket.get("ops", []) == []
    finally:
        await mongo.drop_database(store.database.name)


async def test_the_single_writer_takes_over_ops_the_pending_ops_path_left(
    mongo: AsyncMongoClient[Any],
) -> None:
    # A store of the earlier version (pending ops in each report, cleared afterwards)
    # stopped after writing reports: its ops are pending, some applied, some not. The
    # journalled single writer that follows must count each of them exactly once.
    rng = random.Random(11)
    database = f"pantau_reporting_store_{uuid4().hex[:8]}"
    stop_at = CrashAt()
    earlier = _fresh_store(mongo, database=database, checkpoint=stop_at, conditional_writes=True)
    if await _fresh_store(mongo).conditional_writes():
        pytest.skip("MongoDB keeps the compare-and-swap path: no single writer takes over")
    streams = [_report_stream(f"rpt_{n:03d}_{uuid4().hex[:6]}", rng) for n in range(4)]
    try:
        for stream, step in zip(streams, ["reports_written", "buckets_updated"] * 2, strict=True):
            stop_at.arm(step)
            with pytest.raises(Crash):
                await earlier.apply_events(stream[:2])
        left = [doc async for doc in earlier.reports.find({"stats_pending": {"$ne": []}})]
        assert len(left) == 4  # every report still lists its ops as pending
        later = _fresh_store(mongo, database=database)
        assert not await later.conditional_writes()
        for stream in streams:
            await later.apply_events(stream)
            await later.apply_events(stream[:2])  # redelivered
        expected = await _expected_counts(later)
        # Per report: an hour count in four scopes (national to district), and a child
        # region count in the three above the district.
        assert sum(expected.values()) == 4 * 7
        assert await _bucket_counts(later) == expected
        async for doc in later.reports.find({}):
            assert doc.get("stats_pending", []) == []
    finally:
        await mongo.drop_database(database)


async def test_the_write_cache_saves_the_reload_and_a_stale_copy_never_wins(
    mongo: AsyncMongoClient[Any],
) -> None:
    # Two replicas with caches on the conditional (MongoDB) path, writing one report in
    # turn: each one's cached copy is stale after the other wrote, the compare-and-swap
    # catches it, and the stored document is the fold of every event.
    name = f"pantau_reporting_store_{uuid4().hex[:8]}"
    first = _fresh_store(mongo, database=name, conditional_writes=True, cache=True)
    second = _fresh_store(mongo, database=name, conditional_writes=True, cache=True)
    report_id = f"rpt_{uuid4().hex}"
    submitted = shared_events.submitted(report_id=report_id, region="32.01.01")
    events: list[Event] = [
        submitted,
        shared_events.classified(submitted, category=Category.LOGISTIK),
        reporting_events.alert(report_id, alert_id="a1"),
        reporting_events.status_change(report_id, status=ReportStatus.VERIFIED),
    ]
    try:
        await first.apply_events(events[:1])
        await second.apply_events(events[1:2])
        await first.apply_events(events[2:3])  # its copy is a version behind
        await first.apply_events(events[3:])  # and now current: no reload
        stored = await first.get(report_id)
        assert stored is not None
        expected = derive(fold(events, report_id=report_id))
        assert {k: v for k, v in stored.items() if k not in _BOOKKEEPING} == expected
        assert first.recent.hits >= 2  # the stale copy, then the current one
        assert stored.get("stats_pending", []) == []
    finally:
        await mongo.drop_database(name)


class _UpdateFilters(monitoring.CommandListener):
    """Records the filter of every update statement the client sends."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update":
            self.filters += [dict(statement["q"]) for statement in event.command["updates"]]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_on_ferretdb_every_write_filters_by_id_alone(config: Config) -> None:
    # FerretDB 1.24 (SQLite) only avoids a full collection scan in Go for a filter that
    # is a lone `_id`; the compare-and-swap's `{_id, version}` decoded every document.
    listener = _UpdateFilters()
    client = make_mongo_client(config, event_listeners=[listener])
    store = _fresh_store(client)
    try:
        if await store.conditional_writes():
            pytest.skip("MongoDB: conditional writes are indexed and atomic there")
        rng = random.Random(3)
        events = _report_stream(f"rpt_{uuid4().hex}", rng)
        await store.apply_events(events[:2])
        await store.apply_events(events)  # the same report again: updates, not inserts
        assert listener.filters
        assert all(list(f) == ["_id"] and isinstance(f["_id"], str) for f in listener.filters)
        stored = await store.get(events[0].subject)
        assert stored is not None
        assert sources_of(stored) == fold(events, report_id=events[0].subject)
        expected = await _expected_counts(store)
        assert sum(expected.values()) > 0
        assert await _bucket_counts(store) == expected
    finally:
        await client.drop_database(store.database.name)
        await client.close()
