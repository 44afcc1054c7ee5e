"""The read models in MongoDB (``pantau_reporting``): one document per report.

Writes go through the pure fold of ``core.readmodel``: load the report's document,
merge the new events into its source slots, derive the rest, and replace the document
with a compare-and-swap on ``version``. The fold makes redelivery and any arrival order
harmless; the compare-and-swap makes two writers of one report (the topics are keyed
differently, so two consumers may hold events of the same report) retry instead of
losing an update. FerretDB has neither transactions nor positional updates, and only
pushes ``_id`` equality (and, as the launcher patches it, ``_id: {$in}``) down to its
storage, so every write and load here is by ``_id``, bulk writes are ordered, and there
documents are written whole (see the README's FerretDB findings).

Documents are stored in the layout of ``stored_form`` (the fields no query filters by
packed into binaries); everything this module returns is unpacked.
"""

import asyncio
import logging
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import date
from typing import Any
from uuid import uuid4

import bson
from bson.codec_options import CodecOptions
from pymongo import AsyncMongoClient, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from pantau.reporting.adapters.recent import RecentDocuments
from pantau.reporting.adapters.stored_form import BUCKET, REPORT
from pantau.reporting.core import stats
from pantau.reporting.core.query import ReportQuery, SortOrder
from pantau.reporting.core.readmodel import (
    State,
    apply_event,
    derive,
    empty_state,
    report_ids_of,
    sources_of,
    to_ms,
)
from pantau.shared.envelope import Event
from pantau.shared.events import AlertEvent

log = logging.getLogger(__name__)

REPORTS = "reports"
BUCKETS = "stats_buckets"
ALERT_LOG = "alert_log"
AUDIT_LOG = "identity_audit"
STATS_JOURNAL = "stats_journal"
JOURNAL_ID = "single_writer"
MAX_CAS_ROUNDS = 20
# Reports per step of the single writer's pipeline (``_apply_as_single_writer``).
PIPELINE_PART = 250
# Reports folded between two turns of the event loop, so that the writes in flight
# take their next step meanwhile.
FOLD_YIELD_EVERY = 10
# Concurrent `_id` lookups of one load; stays well under the client's pool size.
LOAD_CONCURRENCY = 8
# Ids per `_id: {$in: [...]}` lookup where the server answers it from the `_id` index.
LOAD_CHUNK = 500
BULK_CHUNK = 25
# Whole replacements by `_id` per command where the server runs them as one transaction
# without reading the old documents (FerretDB as the launcher builds it; see
# ``id_in_pushed_down``, the same patch level): one commit per chunk.
REPLACE_CHUNK = 250
DUPLICATE_KEY = 11000
NAMESPACE_NOT_FOUND = 26
INDEX_NOT_FOUND = 27
# Decode like the client does (timezone-aware datetimes).
_CODEC = CodecOptions(tz_aware=True)


Checkpoint = Callable[[str], Awaitable[None]]
# Told the report documents a write stored (as written, ``version`` included), right after
# they are durable; e.g. the in-memory listing index of this process.
WriteListener = Callable[[list[dict[str, Any]]], None]


# A report document written: unpacked, and as stored.
_Written = tuple[dict[str, Any], dict[str, Any]]


class _JournalBatch:
    """What one single-writer batch journals: its sequence number and write token, and
    the contribution changes and leftover ops of the reports it writes."""

    def __init__(self, *, seq: int, token: str) -> None:
        self.seq, self.token = seq, token
        self.changes: dict[str, list[dict[str, Any] | None]] = {}
        self.legacy: list[dict[str, Any]] = []
        self._entries_written = 0

    def add(
        self,
        report_id: str,
        applied: dict[str, Any] | None,
        contrib: dict[str, Any] | None,
        leftovers: list[dict[str, Any]],
    ) -> None:
        if contrib != applied:
            self.changes[report_id] = [applied, contrib]
        self.legacy += leftovers

    def changed_since_written(self) -> bool:
        return len(self.changes) + len(self.legacy) > self._entries_written

    def document(self) -> dict[str, Any]:
        """The journal document as of now (encoded at once: later parts add to it)."""
        self._entries_written = len(self.changes) + len(self.legacy)
        entries = bson.encode({"changes": self.changes, "legacy": self.legacy})
        return {"seq": self.seq, "token": self.token, "entries": entries}


class _StatsWork:
    """A report's pending aggregate operations after a write, and which are fresh; with
    the ``version`` of its document as stored with these ops pending."""

    __slots__ = ("fresh", "ops", "version")

    def __init__(self, version: int, ops: list[dict[str, Any]], fresh: tuple[str, ...]) -> None:
        self.version, self.ops, self.fresh = version, ops, fresh


class ReportStore:
    """Loads, folds into and queries the per-report read model and its aggregates."""

    def __init__(
        self,
        *,
        client: AsyncMongoClient[Any],
        database: str,
        checkpoint: Checkpoint | None = None,
        conditional_writes: bool | None = None,
        recent: RecentDocuments | None = None,
    ) -> None:
        self._client = client
        self._db: AsyncDatabase[Any] = client[database]
        self.reports = self._db[REPORTS]
        self.buckets = self._db[BUCKETS]
        self.alert_log = self._db[ALERT_LOG]
        self.audit_log = self._db[AUDIT_LOG]
        self.journal = self._db[STATS_JOURNAL]
        # Called between the steps of a write; tests raise from it to simulate a crash.
        self._checkpoint = checkpoint
        # Whether the server applies a filtered update atomically and cheaply (MongoDB),
        # or only reads by a lone ``_id`` without scanning (FerretDB); asked once unless
        # given (tests run the MongoDB path on FerretDB too: slower there, same results).
        self._conditional_writes = conditional_writes
        # Whether `_id: {$in: [...]}` is answered from the `_id` index (MongoDB; FerretDB
        # as the launcher builds it) instead of a collection scan (upstream FerretDB).
        self._id_in_indexed: bool | None = None
        self._listeners: list[WriteListener] = []
        # The documents this store wrote last, to skip reloading them (adapters/recent.py).
        self.recent = recent if recent is not None else RecentDocuments(max_bytes=0)
        # The single writer's buckets (unpacked), with a share of the same budget.
        self._recent_buckets = RecentDocuments(max_bytes=self.recent.max_bytes // 2)
        # The single-writer path's stats journal (``_apply_as_single_writer``).
        self._journal_settled = False
        self._last_seq = 0

    def add_write_listener(self, listener: WriteListener) -> None:
        """Call ``listener`` with the report documents of every write of this store."""
        self._listeners.append(listener)

    def _tell_listeners(self, documents: list[dict[str, Any]]) -> None:
        for listener in self._listeners:
            try:
                listener(documents)
            except Exception:  # a listener must never fail a durable write
                log.exception("a read-model write listener failed")

    @property
    def database(self) -> AsyncDatabase[Any]:
        return self._db

    def _secondary_indexes(self) -> list[tuple[AsyncCollection[Any], list[tuple[str, int]]]]:
        return [
            (self.reports, [("region_path", 1), ("occurred_at", -1)]),
            (self.reports, [("occurred_at", -1), ("_id", -1)]),
            (self.reports, [("received_at", -1), ("_id", -1)]),
            (self.reports, [("severity_rank", -1), ("_id", -1)]),
            (self.reports, [("category", 1), ("severity", 1)]),
            (self.reports, [("status", 1)]),
            (self.alert_log, [("at", -1)]),
            (self.audit_log, [("at", -1)]),
        ]

    async def ensure_indexes(self) -> None:
        """Indexes for the list filters and sort orders, where the server uses them.
        FerretDB's SQLite backend answers every filter but ``_id`` by scanning and sorts
        in memory, yet maintains each index on every write by parsing the stored JSON
        again (a third of the cost of a write there): none there, and any that an older
        version created are dropped."""
        if await self.conditional_writes():
            for collection, keys in self._secondary_indexes():
                await collection.create_index(keys)
            return
        for collection, keys in self._secondary_indexes():
            try:
                await collection.drop_index(keys)
            except OperationFailure as exc:
                if exc.code not in (INDEX_NOT_FOUND, NAMESPACE_NOT_FOUND):
                    raise

    async def conditional_writes(self) -> bool:
        """True on MongoDB; False on FerretDB (``buildInfo`` names its version), where a
        filter other than a lone ``_id`` scans the collection and is not atomic anyway."""
        if self._conditional_writes is None:
            await self._ask_server()
        assert self._conditional_writes is not None
        return self._conditional_writes

    async def _ask_server(self) -> None:
        info = await self._client.admin.command("buildInfo")
        ferretdb = info.get("ferretdbVersion")
        if self._conditional_writes is None:
            self._conditional_writes = ferretdb is None
        self._id_in_indexed = ferretdb is None or id_in_pushed_down(str(ferretdb))

    async def _loads_by_id_in(self) -> bool:
        if self._id_in_indexed is None:
            await self._ask_server()
        return bool(self._id_in_indexed)

    async def _replace_chunk(self) -> int:
        # The patch level that pushes `_id: {$in}` down also runs a command of whole
        # replacements by `_id` as one transaction without cursors.
        return REPLACE_CHUNK if await self._loads_by_id_in() else BULK_CHUNK

    async def _reached(self, step: str) -> None:
        if self._checkpoint is not None:
            await self._checkpoint(step)

    async def apply_events(self, events: Sequence[Event]) -> int:
        """Merge ``events`` into the read models durably; returns how many report
        documents changed. Idempotent: applying the same events again changes nothing."""
        try:
            return await self._apply_events(events)
        except BaseException:
            # Stopped part-way: what the store holds now is unknown, so load it again,
            # and settle the journal before the next batch.
            self.recent.clear()
            self._recent_buckets.clear()
            self._journal_settled = False
            raise

    async def _apply_events(self, events: Sequence[Event]) -> int:
        by_report: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            for report_id in report_ids_of(event):
                by_report[report_id].append(event)
        if not await self.conditional_writes():
            # The alert log is independent of the reports: written meanwhile.
            alert_log_write = asyncio.ensure_future(self._log_alerts(events))
            try:
                changed = await self._apply_as_single_writer(by_report)
            finally:
                await _finished(alert_log_write)
            alert_log_write.result()
            return changed
        await self._log_alerts(events)
        pending = dict(by_report)
        changed = 0
        stats_work: dict[str, _StatsWork] = {}
        for _ in range(MAX_CAS_ROUNDS):
            if not pending:
                break
            written, conflicts, work, documents = await self._fold_and_write(pending)
            changed += written
            stats_work.update(work)
            for _, document in documents:
                self.recent.put(document)
            self.recent.forget(conflicts)
            if documents and self._listeners:
                self._tell_listeners([document for document, _ in documents])
            for report_id in conflicts:
                stats_work.pop(report_id, None)
            pending = {rid: pending[rid] for rid in conflicts}
        else:
            raise RuntimeError(f"compare-and-swap kept failing for {sorted(pending)[:5]}")
        await self._reached("reports_written")
        await self._apply_stats(stats_work)
        return changed

    async def _apply_as_single_writer(self, by_report: dict[str, list[Event]]) -> int:
        """FerretDB, one writer: the aggregates through the stats journal.

        A batch's contribution changes (old and new, per report) are written first, as
        the one journal document, with the batch's sequence number and write token; then
        the reports (carrying the token), then the touched buckets, each applying the
        batch's increments only if its ``seq`` is older than the batch's. A batch that
        stops part-way is settled before the next one (``_settle_journal``): its changes
        count for exactly the reports that carry its token. Each report is written once
        per batch and each bucket once; nothing is cleared or forgotten afterwards.

        The reports go in parts of ``PIPELINE_PART``, each folded while the one before
        is being written (FerretDB works on one core while this process folds on the
        other); before each part's reports, the journal is rewritten with the changes
        of every part so far.
        """
        await self._settle_journal()
        batch = _JournalBatch(seq=self._next_seq(), token=uuid4().hex)
        report_ids = list(by_report)
        writing: asyncio.Future[int] | None = None
        written = 0
        try:
            for start in range(0, len(report_ids), PIPELINE_PART):
                part = {rid: by_report[rid] for rid in report_ids[start : start + PIPELINE_PART]}
                created, replaced = await self._fold_part(part, batch)
                if writing is not None:
                    written += await writing
                    writing = None
                if created or replaced:
                    journal = batch.document() if batch.changed_since_written() else None
                    writing = asyncio.ensure_future(self._write_part(journal, created, replaced))
            if writing is not None:
                written += await writing
                writing = None
        finally:
            if writing is not None:
                # Folding failed while a part was being written: let the write end
                # before the failure is reported.
                await _finished(writing)
        if not written:
            return 0
        await self._reached("reports_written")
        await self._apply_journal(batch.seq, batch.changes, batch.legacy)
        return written

    async def _fold_part(
        self, part: dict[str, list[Event]], batch: "_JournalBatch"
    ) -> tuple[list[_Written], list[_Written]]:
        """Fold ``part`` into its reports: (new ones, changed ones), each unpacked and
        as stored; their contribution changes go into ``batch``."""
        stored = await self._current(part)
        created: list[_Written] = []
        replaced: list[_Written] = []
        for n, (report_id, events) in enumerate(part.items(), start=1):
            if n % FOLD_YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the part in flight take its next step
            old_stored = stored.get(report_id)
            old, new = _folded(old_stored, report_id, events)
            # Ops the pending-ops path (an earlier version) left in the document.
            leftovers = list(old.get("stats_pending") or []) if old else []
            applied = old.get("stats_applied") if old else None
            contrib = stats.contribution(new)
            new.update(
                {
                    "_id": report_id,
                    "version": (old["version"] if old else 0) + 1,
                    "write_token": batch.token,
                    "stats_applied": contrib,
                }
            )
            new_stored = REPORT.to_stored(new)
            if old_stored is not None and not leftovers and _same_stored(old_stored, new_stored):
                continue  # a redelivery: nothing to write
            batch.add(report_id, applied, contrib, leftovers)
            (replaced if old else created).append((new, new_stored))
        await self._reached("part_folded")
        return created, replaced

    async def _write_part(
        self,
        journal: dict[str, Any] | None,
        created: list[_Written],
        replaced: list[_Written],
    ) -> int:
        """Write the journal (if it changed), then a part's reports; returns how many."""
        if journal is not None:
            await self.journal.replace_one({"_id": JOURNAL_ID}, journal, upsert=True)
        await self._reached("journal_written")
        # New reports in one insert: one storage transaction for all of them.
        if created:
            await self.reports.insert_many([doc for _, doc in created], ordered=True)
        await bulk_write_ordered(
            self.reports,
            [ReplaceOne({"_id": doc["_id"]}, doc) for _, doc in replaced],
            chunk=await self._replace_chunk(),
        )
        written = created + replaced
        for _, document in written:
            self.recent.put(document)
        if self._listeners:
            self._tell_listeners([document for document, _ in written])
        return len(written)

    def _next_seq(self) -> int:
        # Increasing across restarts and even if the journal document were lost: a
        # bucket must never hold a sequence number newer than the next batch's.
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        return self._last_seq

    async def _settle_journal(self) -> None:
        """Finish the last journalled batch if it stopped part-way (once per process,
        and again after any failed write): its changes count for the reports written
        with its token, in the buckets that have not applied it yet."""
        if self._journal_settled:
            return
        journal = await self.journal.find_one({"_id": JOURNAL_ID})
        if journal is not None:
            self._last_seq = max(self._last_seq, journal["seq"])
            entries = bson.decode(journal["entries"], codec_options=_CODEC)
            written = await self.load_many(entries["changes"])
            changes = {
                report_id: change
                for report_id, change in entries["changes"].items()
                if (written.get(report_id) or {}).get("write_token") == journal["token"]
            }
            await self._apply_journal(journal["seq"], changes, entries["legacy"])
        self._journal_settled = True

    async def _apply_journal(
        self,
        seq: int,
        changes: dict[str, list[dict[str, Any] | None]],
        legacy: list[dict[str, Any]],
    ) -> None:
        """Apply a journalled batch to the buckets: its net increments where the bucket's
        ``seq`` is older than ``seq``, and each leftover op of the pending-ops path where
        the bucket does not list its id. Each bucket is written whole, once."""
        increments = _net_increments(changes)
        guarded = _increments_by_op(legacy)
        touched = sorted(increments.keys() | guarded.keys())
        if not touched:
            return
        # The single writer's buckets as it last wrote them (changed in place below: on
        # any failure the cache is cleared with everything else).
        current = self._recent_buckets.get_many(touched)
        missing = [bucket for bucket in touched if bucket not in current]
        loaded = await _load_by_id(self.buckets, missing, batched=await self._loads_by_id_in())
        for bucket, doc in loaded.items():
            current[bucket] = BUCKET.from_stored(doc)
            self._recent_buckets.put(current[bucket], size=_bucket_size(doc))
        created: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for bucket in touched:
            doc = current.get(bucket)
            fresh = doc is None
            if doc is None:
                doc = {"_id": bucket, **_new_bucket(bucket)}
            if _apply_to_bucket(doc, seq, increments.get(bucket), guarded.get(bucket, [])):
                (created if fresh else changed).append(doc)
        stored_created = [BUCKET.to_stored(doc) for doc in created]
        stored_changed = [BUCKET.to_stored(doc) for doc in changed]
        if stored_created:
            await self.buckets.insert_many(stored_created, ordered=True)
        await bulk_write_ordered(
            self.buckets,
            [ReplaceOne({"_id": doc["_id"]}, doc) for doc in stored_changed],
            chunk=await self._replace_chunk(),
        )
        for doc, stored in zip(created + changed, stored_created + stored_changed, strict=True):
            self._recent_buckets.put(doc, size=_bucket_size(stored))
        await self._reached("buckets_updated")

    async def _log_alerts(self, events: Sequence[Event]) -> None:
        # Append-only, keyed by event id: one unordered insert (one storage transaction
        # on FerretDB, where each upsert would be its own); a redelivered event's entry
        # is already there, and its duplicate-key error is the expected outcome.
        entries = {
            str(event.event_id): {"_id": str(event.event_id), **alert_log_entry(event)}
            for event in events
            if isinstance(event, AlertEvent)
        }
        if entries:
            await insert_new(self.alert_log, list(entries.values()))

    async def _fold_and_write(
        self, by_report: dict[str, list[Event]]
    ) -> tuple[int, set[str], dict[str, _StatsWork], list[_Written]]:
        """One compare-and-swap round: (documents written, ids that lost a race, their
        aggregate work, the documents written, each unpacked and as stored)."""
        stored = await self._current(by_report)
        token = uuid4().hex
        ops: list[ReplaceOne[Any] | UpdateOne] = []
        expected: dict[str, int] = {}
        work: dict[str, _StatsWork] = {}
        documents: dict[str, _Written] = {}
        for report_id, events in by_report.items():
            old_stored = stored.get(report_id)
            old, new = _folded(old_stored, report_id, events)
            leftovers = list(old.get("stats_pending") or []) if old else []
            version = (old["version"] if old else 0) + 1
            contrib = stats.contribution(new)
            pending_ops, fresh = _stats_ops(old, contrib, op_id=f"{report_id}:{version}")
            new.update(
                {
                    "_id": report_id,
                    "version": version,
                    "write_token": token,
                    "stats_applied": contrib,
                    "stats_pending": pending_ops,
                }
            )
            new_stored = REPORT.to_stored(new)
            if old is not None and old_stored is not None and _same_stored(old_stored, new_stored):
                if leftovers:  # an earlier attempt stopped before the aggregates
                    work[report_id] = _StatsWork(old["version"], leftovers, fresh=())
                continue  # otherwise a redelivery: nothing to write
            expected[report_id] = version
            documents[report_id] = (new, new_stored)
            if pending_ops:
                work[report_id] = _StatsWork(version, pending_ops, fresh)
            if old is None:
                # Create a version-0 placeholder if still absent (never overwriting a
                # concurrent creator), then swap it like any other version. Not the
                # whole document: FerretDB's $setOnInsert drops null and empty fields.
                placeholder = {"report_id": report_id, "version": 0}
                ops.append(
                    UpdateOne({"_id": report_id}, {"$setOnInsert": placeholder}, upsert=True)
                )
            ops.append(ReplaceOne({"_id": report_id, "version": version - 1}, new_stored))
        if not expected:
            return 0, set(), work, []
        modified = await bulk_write_ordered(self.reports, ops)
        if modified == len(expected):
            return len(expected), set(), work, list(documents.values())
        # Some compare-and-swap lost a race: find which by our write token, retry those.
        after = await self.load_many(expected)
        conflicts = {rid for rid in expected if (after.get(rid) or {}).get("write_token") != token}
        log.info("read-model write conflicts, retrying %d report(s)", len(conflicts))
        kept = [doc for rid, doc in documents.items() if rid not in conflicts]
        return len(expected) - len(conflicts), conflicts, work, kept

    async def _apply_stats(self, work: dict[str, _StatsWork]) -> None:
        """Apply the pending aggregate operations of ``work``, exactly once each (the
        compare-and-swap path)."""
        if not work:
            return
        plans = _plan_bucket_updates(work)
        if plans:
            await bulk_write_ordered(
                self.buckets,
                [
                    UpdateOne({"_id": b}, {"$setOnInsert": _new_bucket(b)}, upsert=True)
                    for b in sorted({plan.bucket for plan in plans})
                ],
            )
            await bulk_write_ordered(self.buckets, [plan.guarded_update() for plan in plans])
        await self._reached("buckets_updated")
        # The ops are applied: drop them from the reports (bumping the version, so a
        # writer holding an older copy with the ops still pending must reload), then
        # forget their ids in the buckets.
        await bulk_write_ordered(
            self.reports,
            [
                UpdateOne(
                    {"_id": rid, "version": item.version},
                    {"$set": {"stats_pending": []}, "$inc": {"version": 1}},
                )
                for rid, item in work.items()
            ],
        )
        self._cleared_in_recent(work)
        await self._reached("reports_cleared")
        await self._forget_applied(work)

    def _cleared_in_recent(self, work: dict[str, _StatsWork]) -> None:
        # As the clear wrote them. A guarded clear that lost to another writer (MongoDB)
        # leaves a stale copy here: the next write's compare-and-swap fails, reloads it.
        for doc in self.recent.get_many(work).values():
            doc["stats_pending"] = []
            doc["version"] += 1
            self.recent.put(doc)

    async def _forget_applied(self, work: dict[str, _StatsWork]) -> None:
        # Only ops no report still lists as pending: another writer that carried an op
        # over will apply it (a no-op thanks to the guard) and forget it itself.
        cleared = await self.load_many(work)
        done_ids: dict[str, list[str]] = defaultdict(list)
        for rid, item in work.items():
            still = {op["op"] for op in (cleared.get(rid) or {}).get("stats_pending") or []}
            for op in item.ops:
                if op["op"] in still:
                    continue
                for bucket in sorted({delta["b"] for delta in op["d"]}):
                    done_ids[bucket].append(op["op"])
        pulls = [UpdateOne({"_id": b}, {"$pullAll": {"ops": ids}}) for b, ids in done_ids.items()]
        await bulk_write_ordered(self.buckets, pulls)

    async def sweep_applied_ops(self) -> int:
        """Forget op ids that buckets still remember although no report lists them as
        pending (a crash between clearing a report and forgetting its ops leaves them);
        returns how many were forgotten. Run periodically; safe at any time."""
        forgotten = 0
        async for bucket in self.buckets.find({"ops": {"$ne": []}}, {"ops": 1}):
            ids = [op for op in bucket.get("ops") or [] if isinstance(op, str)]
            if not ids:
                continue
            reports = await self.load_many(op.rpartition(":")[0] for op in ids)
            pending = {
                op["op"] for doc in reports.values() for op in doc.get("stats_pending") or []
            }
            done = [op for op in ids if op not in pending]
            if done:
                await self.buckets.update_one({"_id": bucket["_id"]}, {"$pullAll": {"ops": done}})
                forgotten += len(done)
        return forgotten

    async def _current(self, report_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored documents of ``report_ids`` that exist, from the cache of recent
        writes or else the store, in their stored form."""
        current = self.recent.get_many(report_ids)
        missing = [report_id for report_id in report_ids if report_id not in current]
        current.update(
            await _load_by_id(self.reports, missing, batched=await self._loads_by_id_in())
        )
        return current

    async def load_many(self, report_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Documents by report id (see ``_load_by_id``), source slots unpacked."""
        found = await _load_by_id(self.reports, report_ids, batched=await self._loads_by_id_in())
        return {report_id: REPORT.from_stored(doc) for report_id, doc in found.items()}

    async def get(self, report_id: str) -> dict[str, Any] | None:
        """One report's document, or ``None`` (also while it is a creation placeholder)."""
        document = await self.reports.find_one({"_id": report_id})
        return REPORT.from_stored(document) if document and "status" in document else None

    async def buckets_for(self, *, scope: str, days: Sequence[date]) -> list[dict[str, Any]]:
        """The aggregate buckets of ``scope`` on ``days`` that exist."""
        found = await _load_by_id(
            self.buckets,
            [stats.bucket_id(scope, d) for d in days],
            batched=await self._loads_by_id_in(),
        )
        return [BUCKET.from_stored(bucket) for bucket in found.values()]

    async def find(
        self,
        *,
        filter_: dict[str, Any],
        sort: list[tuple[str, int]],
        limit: int,
        projection: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Documents matching a MongoDB filter, in ``sort`` order, at most ``limit``."""
        cursor = self.reports.find(filter_, _mapped(projection)).sort(sort).limit(limit)
        return [REPORT.from_stored(doc) for doc in await cursor.to_list(length=limit)]

    def stream(
        self,
        *,
        filter_: dict[str, Any],
        sort: list[tuple[str, int]],
        projection: dict[str, Any] | None = None,
        batch_size: int = 500,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching document, fetched ``batch_size`` at a time."""
        cursor = self.reports.find(filter_, _mapped(projection))
        return _unpacked(cursor.sort(sort).batch_size(batch_size))

    def scan(
        self, *, projection: dict[str, Any], batch_size: int = 1000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every report document (``projection`` of it), unsorted (with a sort, FerretDB
        would decode and sort the whole collection first)."""
        return _unpacked(self.reports.find({}, _mapped(projection)).batch_size(batch_size))

    async def latest_alerts(self, *, limit: int) -> list[dict[str, Any]]:
        """The newest entries of the alert log."""
        cursor = self.alert_log.find({}).sort([("at", -1), ("_id", -1)]).limit(limit)
        return await cursor.to_list(length=limit)

    async def record_audit(self, entry: dict[str, Any]) -> None:
        """Append one entry to the audit log, durably (majority write on MongoDB)."""
        await self.audit_log.insert_one(dict(entry))


async def _finished(task: asyncio.Future[Any]) -> None:
    """Wait until ``task`` ends, whatever happens meanwhile: a write still in flight
    must not race what follows a failure (its redelivery)."""
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved here; the caller raises it where it matters


def _mapped(projection: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if projection is None else REPORT.projection(projection)


async def _unpacked(cursor: AsyncCursor[Any]) -> AsyncIterator[dict[str, Any]]:
    try:
        async for document in cursor:
            yield REPORT.from_stored(document)
    finally:
        await cursor.close()


async def bulk_write_ordered(
    collection: AsyncCollection[Any], ops: Sequence[Any], *, chunk: int = BULK_CHUNK
) -> int:
    """Ordered bulk writes in chunks of ``chunk`` statements; returns how many
    documents were modified. FerretDB 1.24 (SQLite) keeps every statement's read cursor,
    a pooled SQLite connection, open until the whole ``update`` command ends, and has at
    most 100 per database: a command of about 100 modifying statements, or several
    concurrent commands adding up to that, waits forever and blocks the whole server.
    Small chunks, and one bulk command in flight per process, keep it well below (the
    launcher's FerretDB runs a command of whole replacements by ``_id`` without those
    cursors, in one transaction: ``REPLACE_CHUNK`` for those)."""
    modified = 0
    for start in range(0, len(ops), chunk):
        result = await collection.bulk_write(list(ops[start : start + chunk]), ordered=True)
        modified += result.modified_count
    return modified


class _BucketPlan:
    """Increments for one bucket, to apply only if none of ``op_ids`` is applied there."""

    __slots__ = ("bucket", "incs", "op_ids")

    def __init__(self, bucket: str, incs: dict[str, int], op_ids: list[str]) -> None:
        self.bucket, self.incs, self.op_ids = bucket, incs, op_ids

    def guarded_update(self) -> UpdateOne:
        update: dict[str, Any] = {"$push": {"ops": {"$each": self.op_ids}}}
        if self.incs:
            update["$inc"] = self.incs
        return UpdateOne({"_id": self.bucket, "ops": {"$nin": self.op_ids}}, update)


def _bucket_size(stored: dict[str, Any]) -> int:
    # About the memory of a bucket's counts unpacked into nested dictionaries: a few
    # times their BSON (a plain, unpacked bucket is counted by its key paths instead).
    packed = stored.get("counts")
    return 4 * (len(packed) if isinstance(packed, bytes) else len(bson.encode(stored)))


def _net_increments(
    changes: dict[str, list[dict[str, Any] | None]],
) -> dict[str, dict[str, int]]:
    """Bucket id -> field path -> net count change of contribution changes (old, new)."""
    increments: dict[str, dict[str, int]] = defaultdict(dict)
    for old, new in changes.values():
        for (bucket, path), delta in stats.change(old, new).items():
            target = increments[bucket]
            target[path] = target.get(path, 0) + delta
    return increments


def _increments_by_op(ops: list[dict[str, Any]]) -> dict[str, list[tuple[str, dict[str, int]]]]:
    """Bucket id -> (op id, field path -> count change) of pending-ops path ops."""
    guarded: dict[str, list[tuple[str, dict[str, int]]]] = defaultdict(list)
    for op in ops:
        for bucket, incs in _op_increments(op).items():
            guarded[bucket].append((op["op"], incs))
    return guarded


def _op_increments(op: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Bucket id -> field path -> count change of one pending-ops path op."""
    per_bucket: dict[str, dict[str, int]] = defaultdict(dict)
    for delta in op["d"]:
        paths = per_bucket[delta["b"]]
        paths[delta["p"]] = paths.get(delta["p"], 0) + delta["n"]
    return per_bucket


def _apply_to_bucket(
    doc: dict[str, Any],
    seq: int,
    increments: dict[str, int] | None,
    by_op: list[tuple[str, dict[str, int]]],
) -> bool:
    """Apply a journalled batch to one bucket in memory; whether anything changed."""
    changed = False
    if increments is not None and doc.get("seq", -1) < seq:
        _add_counts(doc, increments)
        doc["seq"] = seq
        changed = True
    for op_id, incs in by_op:
        if op_id not in (doc.get("ops") or []):
            _add_counts(doc, incs)
            doc["ops"] = [*(doc.get("ops") or []), op_id]
            changed = True
    return changed


def _add_counts(doc: dict[str, Any], incs: dict[str, int]) -> None:
    """Apply ``$inc``-style dotted ``incs`` to a bucket document in memory."""
    for path, delta in incs.items():
        node = doc
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = node.get(leaf, 0) + delta


async def insert_new(collection: AsyncCollection[Any], documents: list[dict[str, Any]]) -> None:
    """Insert ``documents``, skipping those whose ``_id`` is already there."""
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
        if others or exc.details.get("writeConcernErrors"):
            raise


def _plan_bucket_updates(work: dict[str, _StatsWork]) -> list[_BucketPlan]:
    """The guarded bucket updates: one per bucket merging every fresh op (none of them
    applied anywhere yet), one per bucket and op for ops left by an interrupted attempt
    (maybe applied to some buckets already)."""
    fresh_incs: dict[str, dict[str, int]] = defaultdict(dict)
    fresh_ids: dict[str, list[str]] = defaultdict(list)
    guarded: list[_BucketPlan] = []
    for item in work.values():
        for op in item.ops:
            per_bucket = _op_increments(op)
            if op["op"] not in item.fresh:
                guarded += [_BucketPlan(b, incs, [op["op"]]) for b, incs in per_bucket.items()]
                continue
            for bucket, incs in per_bucket.items():
                target = fresh_incs[bucket]
                for path, delta in incs.items():
                    target[path] = target.get(path, 0) + delta
                fresh_ids[bucket].append(op["op"])
    guarded += [_BucketPlan(b, fresh_incs[b], ids) for b, ids in fresh_ids.items()]
    return guarded


def _new_bucket(bucket: str) -> dict[str, Any]:
    scope, _, day = bucket.partition("|")
    return {"scope": scope, "day": day, "ops": []}


def id_in_pushed_down(ferretdb_version: str) -> bool:
    """Whether a FerretDB of this version answers ``_id: {$in: [...]}`` from its ``_id``
    index: the launcher's build from patch level 2 on (``v1.24.2-pantau.2``; see
    pantau/localstack/cache.py); upstream FerretDB 1.24 scans the collection for it."""
    _, _, level = ferretdb_version.partition("-pantau.")
    return level.isdigit() and int(level) >= 2


async def _load_by_id(
    collection: AsyncCollection[Any], ids: Iterable[str], *, batched: bool
) -> dict[str, dict[str, Any]]:
    """Documents by ``_id``: with ``batched``, ``LOAD_CHUNK`` ids per ``$in`` query; else
    one ``_id`` equality lookup each, a few at a time (all upstream FerretDB answers
    without scanning the collection)."""
    keys = list(dict.fromkeys(ids))
    if batched:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), LOAD_CHUNK):
            chunk = keys[start : start + LOAD_CHUNK]
            async for doc in collection.find({"_id": {"$in": chunk}}):
                found[doc["_id"]] = doc
        return found
    semaphore = asyncio.Semaphore(LOAD_CONCURRENCY)

    async def one(doc_id: str) -> dict[str, Any] | None:
        async with semaphore:
            return await collection.find_one({"_id": doc_id})

    loaded = await asyncio.gather(*(one(k) for k in keys))
    return {k: doc for k, doc in zip(keys, loaded, strict=True) if doc is not None}


def alert_log_entry(event: AlertEvent) -> dict[str, Any]:
    """One alert transition as the alert log keeps it."""
    data = event.data
    return {
        "event_id": str(event.event_id),
        "alert_id": data.alert_id,
        "report_ids": list(data.report_ids),
        "recipient_id": data.recipient_id,
        "channel": data.channel,
        "kind": data.kind.value,
        "status": data.status.value,
        "attempts": data.attempts,
        "error": data.error,
        "at": to_ms(data.at),
    }


def _stats_ops(
    old: dict[str, Any] | None, contrib: dict[str, Any] | None, *, op_id: str
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """A report's pending aggregate ops after a write: those an earlier attempt left,
    plus op ``op_id`` if its contribution changes (then also returned as fresh)."""
    pending = list(old.get("stats_pending") or []) if old else []
    applied = old.get("stats_applied") if old else None
    if contrib == applied:
        return pending, ()
    net = stats.change(applied, contrib)
    # A list of documents: FerretDB stores no nested arrays.
    deltas = [{"b": b, "p": p, "n": n} for (b, p), n in net.items()]
    return [*pending, {"op": op_id, "d": deltas}], (op_id,)


_BOOKKEEPING = frozenset({"_id", "version", "write_token", "stats_pending"})


def _folded(
    stored: dict[str, Any] | None, report_id: str, events: list[Event]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the fields of the stored document the fold reads, or ``None``; the document
    derived with ``events`` folded in, without bookkeeping). Only the packed sources are
    unpacked: the rest of the old document is derived anew."""
    old = REPORT.from_stored(stored, groups=("sources",)) if stored is not None else None
    state: State = sources_of(old) if old else empty_state(report_id)
    for event in events:
        state = apply_event(state, event)
    return old, derive(state)


def _same_stored(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two stored documents hold the same model (bookkeeping aside): packed
    fields compare as bytes, which the same values always encode to."""
    if len(old.keys() - _BOOKKEEPING) != len(new.keys() - _BOOKKEEPING):
        return False
    return all(old.get(key) == value for key, value in new.items() if key not in _BOOKKEEPING)


# Excludes documents that know a report only from an alert or status event (no
# submission or classification yet): they have no region, time or text to list.
_LISTABLE = {"$type": "date"}


def query_filter(query: ReportQuery) -> dict[str, Any]:
    """The MongoDB filter of a ``ReportQuery``."""
    clauses: list[dict[str, Any]] = [{"occurred_at": dict(_LISTABLE)}]
    clauses += [{"region_path": code} for code in query.regions]
    if query.categories:
        clauses.append({"category": {"$in": list(query.categories)}})
    if query.severities:
        clauses.append({"severity": {"$in": list(query.severities)}})
    if query.statuses:
        clauses.append({"status": {"$in": list(query.statuses)}})
    if query.occurred_from:
        clauses.append({"occurred_at": {"$gte": query.occurred_from}})
    if query.occurred_to:
        clauses.append({"occurred_at": {"$lt": query.occurred_to}})
    if query.text:
        # Literal substring match of the folded text; user input is never a pattern.
        clauses.append({"search_text": {"$regex": re.escape(query.text.casefold())}})
    return {"$and": clauses}


def page_filter(order: SortOrder, after: tuple[Any, str] | None) -> dict[str, Any]:
    """Rows strictly after the cursor position in ``order`` (keyset pagination)."""
    if after is None:
        return {}
    value, report_id = after
    op = "$lt" if order.descending else "$gt"
    return {"$or": [{order.field: {op: value}}, {order.field: value, "_id": {op: report_id}}]}


def sort_spec(order: SortOrder) -> list[tuple[str, int]]:
    """The sort of ``order``, with the report id as tie-breaker for a total order."""
    direction = -1 if order.descending else 1
    return [(order.field, direction), ("_id", direction)]
