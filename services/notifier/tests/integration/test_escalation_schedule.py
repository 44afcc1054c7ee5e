"""The escalation schedule on the real store: due deadlines are found through the
per-minute schedule, never by a deadline query over every open escalation (which
FerretDB answers by decoding the whole collection, every check)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from pantau.notifier.adapters.outbound.state import (
    ESCALATIONS,
    SCHEDULE_META,
    SCHEDULE_PREFIX,
    MongoEscalations,
)
from pantau.notifier.core.models import ReportFacts
from pantau.notifier.testing import FakeClock
from pantau.shared.events import Category, Severity

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def _facts(report_id: str) -> ReportFacts:
    return ReportFacts(
        report_id=report_id,
        region_code="32.01.01.2001",
        regency="32.01",
        category=Category.LOGISTIK,
        severity=Severity.HIGH,
        institutions=("bawaslu",),
        occurred_at=T0,
        received_at=T0,
        description="Saksi diintimidasi di TPS 7 oleh orang tak dikenal",
    )


@pytest.fixture
def db(scratch_db: Any) -> Any:
    return scratch_db


async def _schedule_names(db: Any) -> list[str]:
    return sorted(n for n in await db.list_collection_names() if n.startswith(SCHEDULE_PREFIX))


async def test_due_deadlines_come_from_the_schedule_in_order_and_once(db: Any) -> None:
    clock = FakeClock(now=T0)
    store = MongoEscalations(db, clock=clock)
    await store.ensure_indexes()
    for minutes, subject in [(30, "late"), (10, "early"), (20, "middle")]:
        await store.open(
            subject_id=subject, reports=[_facts(subject)], deadline=T0 + timedelta(minutes=minutes)
        )
    # A redelivered open keeps the first deadline and schedules nothing new.
    await store.open(subject_id="early", reports=[_facts("early")], deadline=T0)
    assert await store.due(now=T0 + timedelta(minutes=9), limit=10) == []

    due = await store.due(now=T0 + timedelta(minutes=25), limit=10)
    assert [(e.subject_id, e.step) for e in due] == [("early", 0), ("middle", 0)]
    assert due[0].reports == (_facts("early"),)
    assert [e.subject_id for e in await store.due(now=T0 + timedelta(minutes=25), limit=1)] == [
        "early"
    ]

    # Escalated to step 1 with a new deadline: due again only then, at the new step.
    clock.now = T0 + timedelta(minutes=25)
    await store.advance("early", step=1, deadline=T0 + timedelta(minutes=55))
    await store.advance("middle", step=0, deadline=None)  # closed
    assert [e.subject_id for e in await store.due(now=T0 + timedelta(minutes=40), limit=10)] == [
        "late"
    ]
    later = await store.due(now=T0 + timedelta(minutes=56), limit=10)
    assert [(e.subject_id, e.step) for e in later] == [("late", 0), ("early", 1)]


async def test_past_minutes_are_dropped_once_nothing_in_them_is_due(db: Any) -> None:
    clock = FakeClock(now=T0)
    store = MongoEscalations(db, clock=clock)
    await store.open(subject_id="a", reports=[_facts("a")], deadline=T0 + timedelta(minutes=5))
    await store.open(subject_id="b", reports=[_facts("b")], deadline=T0 + timedelta(minutes=50))
    assert await _schedule_names(db) == [
        f"{SCHEDULE_PREFIX}202611280305",
        f"{SCHEDULE_PREFIX}202611280350",
    ]

    at = T0 + timedelta(minutes=20)
    clock.now = at
    [due] = await store.due(now=at, limit=10)
    await store.advance(due.subject_id, step=due.step, deadline=None)
    await store.due(now=at, limit=10)  # meets the stale entry: deletes it
    await store.due(now=at, limit=10)  # the minute is empty and past: drops it
    assert await _schedule_names(db) == [f"{SCHEDULE_PREFIX}202611280350"]


async def test_a_deadline_already_passed_is_scheduled_in_the_current_minute(db: Any) -> None:
    clock = FakeClock(now=T0 + timedelta(hours=1))
    store = MongoEscalations(db, clock=clock)
    await store.open(subject_id="s", reports=[_facts("s")], deadline=T0)
    assert await _schedule_names(db) == [f"{SCHEDULE_PREFIX}202611280400"]
    assert [e.subject_id for e in await store.due(now=clock.now, limit=10)] == ["s"]


async def test_escalations_opened_before_the_schedule_existed_are_backfilled_once(
    db: Any,
) -> None:
    deadline = T0 + timedelta(minutes=15)
    await db[ESCALATIONS].insert_one(
        {"_id": "old", "reports": [_facts("old").to_doc()], "step": 2, "deadline": deadline}
        | {"status": "open"}
    )
    store = MongoEscalations(db, clock=FakeClock(now=T0))
    assert await store.backfill_schedule() == 1
    assert await db[SCHEDULE_META].find_one({"_id": "backfilled"})
    assert await store.backfill_schedule() == 0  # once
    [due] = await store.due(now=deadline, limit=10)
    assert (due.subject_id, due.step) == ("old", 2)


async def test_the_sweep_never_filters_open_escalations_by_anything_but_id(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(now=T0)
    store = MongoEscalations(db, clock=clock)
    await store.ensure_indexes()
    for i in range(20):
        deadline = T0 + timedelta(minutes=10 + i)
        await store.open(subject_id=f"s{i}", reports=[_facts(f"s{i}")], deadline=deadline)
    filters: list[dict[str, Any]] = []
    find = AsyncCollection.find  # find_one goes through it too

    def spy_find(self: AsyncCollection[Any], filter: Any = None, *a: Any, **k: Any) -> Any:
        if self.name == ESCALATIONS:
            filters.append(dict(filter or {}))
        return find(self, filter, *a, **k)

    monkeypatch.setattr(AsyncCollection, "find", spy_find)
    due = await store.due(now=T0 + timedelta(minutes=14, seconds=30), limit=100)
    assert [e.subject_id for e in due] == ["s0", "s1", "s2", "s3", "s4"]
    # Only the due ones were read, each by its id.
    assert filters == [{"_id": f"s{i}"} for i in range(5)]


async def test_an_empty_past_minute_is_kept_for_the_grace_then_dropped(db: Any) -> None:
    clock = FakeClock(now=T0)
    store = MongoEscalations(db, clock=clock)
    await store.open(subject_id="a", reports=[_facts("a")], deadline=T0 + timedelta(minutes=5))
    at = T0 + timedelta(minutes=6)
    [due] = await store.due(now=at, limit=10)
    await store.advance(due.subject_id, step=due.step, deadline=None)
    await store.due(now=at, limit=10)  # deletes the stale entry
    await store.due(now=at, limit=10)  # empty, but a writer's clock may run 2 min behind
    assert await _schedule_names(db) == [f"{SCHEDULE_PREFIX}202611280305"]
    await store.due(now=T0 + timedelta(minutes=8), limit=10)
    assert await _schedule_names(db) == []
