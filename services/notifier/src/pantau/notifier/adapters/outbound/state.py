"""Grouping, escalation, acknowledgement and silence state in MongoDB.

FerretDB has no transactions and no atomic read-modify-write across writers, so each
document has one writer: groups and members are created by the consumer that owns
the regency's partition and only flipped to ``flushed`` by the sweep; escalations are
advanced only by the sweep; acknowledgements are separate insert-only documents.
"""

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from pantau.notifier.core.models import ReportFacts
from pantau.notifier.core.ports import Escalation, GroupMember, OpenGroup, Silence

log = logging.getLogger(__name__)

GROUPS = "groups"
MEMBERS = "group_members"
ESCALATIONS = "escalations"
ESCALATIONS_CLOSED = "escalations_closed"
ACKS = "acknowledgements"
SILENCES = "silences"
SCHEDULE_PREFIX = "escalation_due_"
SCHEDULE_META = "escalation_schedule"
# How far behind the sweep's clock a writer's may run before its minute is dropped.
SCHEDULE_GRACE = timedelta(minutes=2)
BACKFILL_LOG_EVERY = 10_000


def minute_collection(at: datetime) -> str:
    """The schedule collection of the minute ``at`` falls in; names sort in time order."""
    return SCHEDULE_PREFIX + at.strftime("%Y%m%d%H%M")


def schedule_collection(deadline: datetime, *, now: datetime) -> str:
    """The schedule collection of ``deadline``: its minute, or ``now``'s if that is
    later (a deadline already passed goes to the minute being swept, never to one the
    sweep may have dropped)."""
    return minute_collection(max(deadline, now))


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _group(doc: dict[str, Any]) -> OpenGroup:
    return OpenGroup(
        group_id=doc["_id"],
        regency=doc["regency"],
        category=doc["category"],
        closes_at=doc["closes_at"],
    )


class MongoGroups:
    """``GroupStore``."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self._groups = db[GROUPS]
        self._members = db[MEMBERS]
        # This process owns the regency's partition, so the open group it found or made
        # stays right until it closes (groups only close by time); this saves a query
        # per report. After a rebalance the new owner starts empty and asks the store.
        self._open: dict[tuple[str, str], OpenGroup] = {}
        self._immediate: set[str] = set()

    async def ensure_indexes(self) -> None:
        await self._groups.create_index(
            [("regency", ASCENDING), ("category", ASCENDING), ("closes_at", ASCENDING)]
        )
        await self._groups.create_index([("status", ASCENDING), ("closes_at", ASCENDING)])
        await self._members.create_index([("group_id", ASCENDING)])

    async def open_group(
        self, *, regency: str, category: str, now: datetime, window_seconds: float
    ) -> OpenGroup:
        cached = self._open.get((regency, category))
        if cached is not None and cached.closes_at > now:
            return cached
        group = await self._find_or_create(
            regency=regency, category=category, now=now, window_seconds=window_seconds
        )
        self._open[(regency, category)] = group
        return group

    async def _find_or_create(
        self, *, regency: str, category: str, now: datetime, window_seconds: float
    ) -> OpenGroup:
        found = await self._groups.find_one(
            {"regency": regency, "category": category, "closes_at": {"$gt": now}},
            sort=[("closes_at", ASCENDING)],
        )
        if found:
            return _group(found)
        doc = {
            "_id": f"grp_{regency}_{category}_{int(now.timestamp() * 1000)}",
            "regency": regency,
            "category": category,
            "opened_at": now,
            "closes_at": now + timedelta(seconds=window_seconds),
            "status": "open",
        }
        try:
            await self._groups.insert_one(doc)
        except DuplicateKeyError:  # the same report redelivered in the same millisecond
            existing = await self._groups.find_one({"_id": doc["_id"]})
            assert existing is not None
            return _group(existing)
        return _group(doc)

    async def add_member(self, member: GroupMember, *, now: datetime) -> GroupMember:
        doc = {
            "_id": member.report.report_id,
            "group_id": member.group_id,
            "immediate": member.immediate,
            "report": member.report.to_doc(),
            "added_at": now,
        }
        try:
            await self._members.insert_one(doc)
        except DuplicateKeyError:
            existing = await self._members.find_one({"_id": member.report.report_id})
            assert existing is not None
            return self._member(existing)
        if member.immediate:
            self._immediate.add(member.group_id)
        return member

    @staticmethod
    def _member(doc: dict[str, Any]) -> GroupMember:
        return GroupMember(
            report=ReportFacts.from_doc(doc["report"]),
            group_id=doc["group_id"],
            immediate=doc["immediate"],
        )

    async def has_immediate(self, group_id: str) -> bool:
        if group_id in self._immediate:
            return True
        return await self._members.count_documents({"group_id": group_id, "immediate": True}) > 0

    async def due_groups(self, *, before: datetime, limit: int) -> list[OpenGroup]:
        cursor = (
            self._groups.find(
                {"status": {"$in": ["open", "closing"]}, "closes_at": {"$lte": before}}
            )
            .sort("closes_at", ASCENDING)
            .limit(limit)
        )
        return [_group(doc) async for doc in cursor]

    async def members(self, group_id: str) -> list[GroupMember]:
        return [self._member(doc) async for doc in self._members.find({"group_id": group_id})]

    async def begin_flush(self, group_id: str, *, now: datetime) -> None:
        await self._groups.update_one(
            {"_id": group_id}, {"$set": {"status": "closing", "closing_at": now}}
        )

    async def is_open(self, group_id: str) -> bool:
        # By ``_id`` alone, the status checked here: FerretDB scans for any other filter.
        found = await self._groups.find_one({"_id": group_id}, {"status": 1})
        return found is not None and found.get("status") == "open"

    async def mark_flushed(self, group_id: str, *, now: datetime) -> None:
        await self._groups.update_one(
            {"_id": group_id}, {"$set": {"status": "flushed", "flushed_at": now}}
        )


class MongoEscalations:
    """``EscalationStore`` plus the insert-only acknowledgements.

    Open escalations are documents by subject id. The sweep finds the due ones through
    a schedule of small per-minute collections (``escalation_due_<YYYYMMDDHHMM>``, one
    entry per subject and step) instead of a deadline query: FerretDB's SQLite backend
    answers a range filter by decoding every document, so the old ``status``/``deadline``
    query cost 0.1 ms per open escalation, every check (575 ms at 5,000 open ones), and
    open escalations pile up all election day when nobody acknowledges. The sweep reads
    only the minutes that have begun and drops each past minute once nothing in it is
    due any more. Entries are insert-only, so any number of writers is safe; an entry
    whose escalation has moved on (another step, acknowledged, closed) is stale and is
    deleted when met.
    """

    def __init__(self, db: AsyncDatabase[Any], *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._db = db
        self._clock = clock
        self._escalations = db[ESCALATIONS]
        self._closed = db[ESCALATIONS_CLOSED]
        self._acks = db[ACKS]

    async def ensure_indexes(self) -> None:
        """Nothing to index: every read is by ``_id`` or of a small schedule minute."""

    async def backfill_schedule(self) -> int:
        """Schedule escalations an older version opened without the schedule: one scan,
        once (then marked done); safe beside new writes. Returns how many."""
        meta = self._db[SCHEDULE_META]
        if await meta.find_one({"_id": "backfilled"}):
            return 0
        scheduled = 0
        async for doc in self._escalations.find({"status": "open"}, {"step": 1, "deadline": 1}):
            if doc.get("deadline") is not None:
                await self._schedule(doc["_id"], step=doc["step"], deadline=doc["deadline"])
                scheduled += 1
                if scheduled % BACKFILL_LOG_EVERY == 0:
                    log.info("escalation schedule backfill: %d scheduled", scheduled)
        with contextlib.suppress(DuplicateKeyError):
            await meta.insert_one({"_id": "backfilled"})
        return scheduled

    async def open(
        self, *, subject_id: str, reports: list[ReportFacts], deadline: datetime
    ) -> None:
        if await self._closed.count_documents({"_id": subject_id}):
            return  # a redelivery after the escalation ended
        doc = {
            "_id": subject_id,
            "reports": [r.to_doc() for r in reports],
            "step": 0,
            "deadline": deadline,
            "status": "open",
        }
        try:
            await self._escalations.insert_one(doc)
        except DuplicateKeyError:
            # A redelivery, or another recipient of the same group: keep the first
            # deadline, and schedule it again in case a crash came before it was.
            found = await self._escalations.find_one({"_id": subject_id})
            if found is None or found.get("deadline") is None:
                return
            doc = found
        await self._schedule(subject_id, step=doc["step"], deadline=doc["deadline"])

    async def _schedule(self, subject_id: str, *, step: int, deadline: datetime) -> None:
        entry = {"_id": f"{subject_id}|{step}", "subject_id": subject_id, "step": step}
        entry["deadline"] = deadline
        collection = self._db[schedule_collection(deadline, now=self._clock())]
        with contextlib.suppress(DuplicateKeyError):
            await collection.insert_one(entry)

    async def due(self, *, now: datetime, limit: int) -> list[Escalation]:
        found: list[Escalation] = []
        for name in await self._schedule_minutes(up_to=now):
            minute = self._db[name]
            entries = [doc async for doc in minute.find({})]
            for entry in sorted(entries, key=lambda e: (e["deadline"], e["_id"])):
                if len(found) >= limit:
                    return found
                if entry["deadline"] > now:
                    break  # sorted: the rest of this minute is not due yet either
                doc = await self._escalations.find_one({"_id": entry["subject_id"]})
                current = (
                    doc is not None
                    and doc.get("status") == "open"
                    and doc.get("step") == entry["step"]
                    and doc.get("deadline") is not None
                )
                if not current:
                    await minute.delete_one({"_id": entry["_id"]})  # stale
                    continue
                assert doc is not None
                if doc["deadline"] > now:
                    continue  # rescheduled later at the same step; its own entry waits
                found.append(
                    Escalation(
                        subject_id=doc["_id"],
                        reports=tuple(ReportFacts.from_doc(r) for r in doc["reports"]),
                        step=doc["step"],
                        deadline=doc["deadline"],
                    )
                )
            if not entries and name < minute_collection(now - SCHEDULE_GRACE):
                # Past, with a grace for a writer whose clock runs behind, and empty.
                await self._db.drop_collection(name)
        return found

    async def _schedule_minutes(self, *, up_to: datetime) -> list[str]:
        last = minute_collection(up_to)
        names = await self._db.list_collection_names()
        return sorted(n for n in names if n.startswith(SCHEDULE_PREFIX) and n <= last)

    async def advance(self, subject_id: str, *, step: int, deadline: datetime | None) -> None:
        if deadline is not None:
            await self._escalations.update_one(
                {"_id": subject_id}, {"$set": {"step": step, "deadline": deadline}}
            )
            await self._schedule(subject_id, step=step, deadline=deadline)
            return
        # Closed: move it out of the collection the sweep scans (copy, then delete; a
        # crash in between leaves an open copy that the next sweep closes again).
        doc = await self._escalations.find_one({"_id": subject_id})
        if doc is None:
            return
        doc.update(step=step, deadline=None, status="closed")
        await self._closed.replace_one({"_id": subject_id}, doc, upsert=True)
        await self._escalations.delete_one({"_id": subject_id})

    async def get(self, subject_id: str) -> dict[str, Any] | None:
        found = await self._escalations.find_one({"_id": subject_id})
        return found or await self._closed.find_one({"_id": subject_id})

    async def acknowledge(self, *, subject_id: str, alert_id: str, by: str, now: datetime) -> bool:
        try:
            await self._acks.insert_one(
                {"_id": subject_id, "alert_id": alert_id, "by": by, "at": now}
            )
        except DuplicateKeyError:
            return False
        return True

    async def acknowledged(self, subject_id: str) -> bool:
        return await self._acks.count_documents({"_id": subject_id}) > 0

    async def acknowledgement(self, subject_id: str) -> dict[str, Any] | None:
        return await self._acks.find_one({"_id": subject_id})

    async def acknowledgements(self, subject_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Acknowledgements by subject, for the ledger API (read-time join: ledger rows
        keep their one writer)."""
        cursor = self._acks.find({"_id": {"$in": list(set(subject_ids))}})
        return {doc["_id"]: doc async for doc in cursor}


def _silence(doc: dict[str, Any]) -> Silence:
    return Silence(
        id=doc["_id"],
        starts_at=doc["starts_at"],
        ends_at=doc["ends_at"],
        reason=doc["reason"],
        route_id=doc.get("route_id"),
        region=doc.get("region"),
        category=doc.get("category"),
        recipient_id=doc.get("recipient_id"),
    )


class MongoSilences:
    """Silences as documents; ending one early sets its ``ends_at``."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self._silences = db[SILENCES]

    async def ensure_indexes(self) -> None:
        await self._silences.create_index([("ends_at", ASCENDING)])

    async def create(self, *, silence: dict[str, Any], created_by: str, now: datetime) -> Silence:
        doc = {"_id": f"sil_{uuid4().hex[:16]}", **silence, "created_by": created_by}
        doc["created_at"] = now
        await self._silences.insert_one(doc)
        return _silence(doc)

    async def active(self, *, now: datetime) -> list[Silence]:
        cursor = self._silences.find({"ends_at": {"$gt": now}, "starts_at": {"$lte": now}})
        return [_silence(doc) async for doc in cursor]

    async def listing(self, *, now: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self._silences.find({"ends_at": {"$gt": now}}).sort("ends_at", ASCENDING)
        return [doc async for doc in cursor.limit(limit)]

    async def end(self, silence_id: str, *, now: datetime) -> bool:
        result = await self._silences.update_one(
            {"_id": silence_id, "ends_at": {"$gt": now}}, {"$set": {"ends_at": now}}
        )
        return result.modified_count > 0


class MongoDirectoryStore:
    """The routes in force, stored beside the ledger: which version routed an alert,
    and what operators read at ``GET /v1/routes``. The file stays the source."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self._versions = db["directory_versions"]

    async def save(self, *, version: str, snapshot: dict[str, Any], now: datetime) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._versions.insert_one({"_id": version, **snapshot, "loaded_at": now})

    async def get(self, version: str) -> dict[str, Any] | None:
        return await self._versions.find_one({"_id": version})
