"""The delivery ledger on MongoDB (PyMongo async); also runs on FerretDB 1.24.

Idempotency rests on the unique ``_id`` (the alert id derived from subject, recipient,
channel and kind): inserting the intent twice fails cleanly with a duplicate-key
error, no transaction needed. Every row is written by one task at a time: the
consumer owning the regency's partition, or the sweep for scheduled retries.
"""

import contextlib
import logging
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from pantau.notifier.core.models import (
    ChannelKind,
    Delivery,
    DeliveryStatus,
    RenderedMessage,
)
from pantau.notifier.core.ports import LedgerRow
from pantau.shared import regions
from pantau.shared.events import AlertKind, Category, Severity

log = logging.getLogger(__name__)

LEDGER = "deliveries"
# Scheduled retries live in their own small collection: FerretDB's SQLite backend scans
# a collection for range queries, and the ledger grows with every alert ever sent.
RETRY_QUEUE = "retry_queue"
# A subject's first alerts (kinds initial and update) by subject, for acknowledgements
# and escalation notices: the ledger itself can only be searched by ``_id`` on FerretDB
# without decoding every row ever written.
BY_SUBJECT = "deliveries_by_subject"
INDEXED_KINDS = frozenset({AlertKind.INITIAL, AlertKind.UPDATE})
BACKFILLED = "__backfilled__"
BACKFILL_CHUNK = 500
BACKFILL_LOG_EVERY = 10_000
DUPLICATE_KEY = 11000
ATTEMPT_LOG_LIMIT = 50


def _delivery_doc(delivery: Delivery) -> dict[str, Any]:
    return {
        "_id": delivery.alert_id,
        "subject_id": delivery.subject_id,
        "report_ids": list(delivery.report_ids),
        "recipient_id": delivery.recipient_id,
        "channel": delivery.channel.value,
        "target": delivery.target,
        "kind": delivery.kind.value,
        "escalation_level": delivery.escalation_level,
        "region_code": delivery.region_code,
        "region_path": regions.ancestors(delivery.region_code),
        "regency": delivery.regency,
        "category": delivery.category.value,
        "severity": delivery.severity.value,
        "message": {
            "subject": delivery.message.subject,
            "text": delivery.message.text,
            "data": delivery.message.data,
        },
        "secret_env": delivery.secret_env,
    }


def row_from_doc(doc: dict[str, Any]) -> LedgerRow:
    message = doc.get("message") or {}
    delivery = Delivery(
        alert_id=doc["_id"],
        subject_id=doc["subject_id"],
        report_ids=tuple(doc["report_ids"]),
        recipient_id=doc["recipient_id"],
        channel=ChannelKind(doc["channel"]),
        target=doc["target"],
        kind=AlertKind(doc["kind"]),
        region_code=doc["region_code"],
        regency=doc["regency"],
        category=Category(doc["category"]),
        severity=Severity(doc["severity"]),
        message=RenderedMessage(
            subject=message.get("subject", ""),
            text=message.get("text", ""),
            data=message.get("data") or {},
        ),
        secret_env=doc.get("secret_env"),
        escalation_level=doc.get("escalation_level", 0),
    )
    return LedgerRow(
        delivery=delivery,
        status=DeliveryStatus(doc["status"]),
        attempts=doc.get("attempts", 0),
        published_status=doc.get("published_status"),
        error=doc.get("error"),
        provider_message_id=doc.get("provider_message_id"),
        next_attempt_at=doc.get("next_attempt_at"),
        created_at=doc.get("created_at"),
    )


class MongoLedger:
    """``Ledger`` on a MongoDB collection."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self._rows = db[LEDGER]
        self._queue = db[RETRY_QUEUE]
        self._by_subject = db[BY_SUBJECT]

    async def ensure_indexes(self) -> None:
        await self._rows.create_index(
            [
                ("subject_id", ASCENDING),
                ("recipient_id", ASCENDING),
                ("channel", ASCENDING),
                ("kind", ASCENDING),
                ("escalation_level", ASCENDING),
            ],
            unique=True,
            name="ledger_key",
        )
        await self._queue.create_index([("next_attempt_at", ASCENDING)])
        await self._rows.create_index([("created_at", DESCENDING)])
        await self._rows.create_index([("report_ids", ASCENDING)])
        await self._rows.create_index([("region_path", ASCENDING)])

    async def backfill_by_subject(self) -> int:
        """Index rows an older version wrote without ``deliveries_by_subject``: one scan,
        once (then marked done), in chunks of one insert each; safe beside new writes.
        Returns how many rows were indexed."""
        if await self._by_subject.find_one({"_id": BACKFILLED}):
            return 0
        kinds = [kind.value for kind in INDEXED_KINDS]
        chunk: dict[str, list[str]] = {}
        indexed = 0
        rows = self._rows.find({"kind": {"$in": kinds}}, {"subject_id": 1, "kind": 1})
        async for doc in rows:
            chunk.setdefault(f"{doc['subject_id']}|{doc['kind']}", []).append(doc["_id"])
            indexed += 1
            if len(chunk) >= BACKFILL_CHUNK:
                await self._index_many(chunk)
                chunk = {}
                if indexed % BACKFILL_LOG_EVERY < BACKFILL_CHUNK:
                    log.info("ledger by-subject backfill: %d rows indexed", indexed)
        await self._index_many(chunk)
        with contextlib.suppress(DuplicateKeyError):
            await self._by_subject.insert_one({"_id": BACKFILLED})
        return indexed

    async def _index_many(self, chunk: dict[str, list[str]]) -> None:
        docs = [{"_id": key, "alert_ids": ids} for key, ids in chunk.items()]
        if not docs:
            return
        try:
            await self._by_subject.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                key = docs[error["index"]]["_id"]
                await self._by_subject.update_one(
                    {"_id": key}, {"$addToSet": {"alert_ids": {"$each": chunk[key]}}}
                )

    async def _index_subject(self, subject_id: str, kind: str, alert_id: str) -> None:
        key = f"{subject_id}|{kind}"
        try:  # the common case, a subject's first delivery: an insert, the cheapest write
            await self._by_subject.insert_one({"_id": key, "alert_ids": [alert_id]})
        except DuplicateKeyError:
            await self._by_subject.update_one({"_id": key}, {"$addToSet": {"alert_ids": alert_id}})

    async def claim(
        self, delivery: Delivery, *, now: datetime, status: DeliveryStatus, note: str | None
    ) -> bool:
        doc = {
            **_delivery_doc(delivery),
            "status": status.value,
            "attempts": 0,
            "note": note,
            "created_at": now,
            "updated_at": now,
            "attempt_log": [],
            "published_status": None,
        }
        if delivery.kind in INDEXED_KINDS:
            # First, so that no row is ever missing from the index (a crash in between
            # leaves an id without a row, which ``subject_rows`` skips).
            await self._index_subject(delivery.subject_id, delivery.kind.value, delivery.alert_id)
        try:
            await self._rows.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, alert_id: str) -> LedgerRow | None:
        doc = await self._rows.find_one({"_id": alert_id})
        return row_from_doc(doc) if doc else None

    async def get_doc(self, alert_id: str) -> dict[str, Any] | None:
        return await self._rows.find_one({"_id": alert_id})

    async def record_attempt(
        self,
        alert_id: str,
        *,
        now: datetime,
        status: DeliveryStatus,
        attempts: int,
        error: str | None = None,
        provider_message_id: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        entry = {"at": now, "status": status.value, "attempt": attempts, "error": error}
        if status == DeliveryStatus.RETRY_SCHEDULED:
            # Queue first: a crash before the ledger update leaves a queued ``pending``
            # row, which the sweep sends; the other order could strand the row.
            await self._queue.update_one(
                {"_id": alert_id},
                {"$set": {"next_attempt_at": next_attempt_at, "attempts": attempts}},
                upsert=True,
            )
        await self._rows.update_one(
            {"_id": alert_id},
            {
                "$set": {
                    "status": status.value,
                    "attempts": attempts,
                    "error": error,
                    "provider_message_id": provider_message_id,
                    "next_attempt_at": next_attempt_at,
                    "updated_at": now,
                },
                "$push": {"attempt_log": entry},
            },
        )

    async def mark_published(self, alert_id: str, *, status: str) -> None:
        await self._rows.update_one({"_id": alert_id}, {"$set": {"published_status": status}})

    async def due_retries(self, *, now: datetime, limit: int) -> list[LedgerRow]:
        cursor = (
            self._queue.find({"next_attempt_at": {"$lte": now}})
            .sort("next_attempt_at", ASCENDING)
            .limit(limit)
        )
        due = [doc["_id"] async for doc in cursor]
        if not due:
            return []
        # One lookup per id: FerretDB answers `$in` by decoding every row of the ledger.
        found = [await self._rows.find_one({"_id": alert_id}) for alert_id in due]
        rows = {doc["_id"]: row_from_doc(doc) for doc in found if doc is not None}
        for alert_id in due:
            row = rows.get(alert_id)
            if row is None or row.status not in (
                DeliveryStatus.RETRY_SCHEDULED,
                DeliveryStatus.PENDING,
            ):
                await self._queue.delete_one({"_id": alert_id})  # stale: already final
                rows.pop(alert_id, None)
        return [rows[a] for a in due if a in rows]

    async def subject_rows(self, subject_id: str, *, kind: str) -> list[LedgerRow]:
        index = await self._by_subject.find_one({"_id": f"{subject_id}|{kind}"})
        rows = [await self._rows.find_one({"_id": a}) for a in (index or {}).get("alert_ids", [])]
        return [row_from_doc(doc) for doc in rows if doc is not None]

    async def take_retry(self, row: LedgerRow, *, now: datetime) -> bool:
        # Deleting the queue entry is the claim: of two sweepers (two replicas) only one
        # deletes it, so only one sends.
        taken = await self._queue.delete_one({"_id": row.delivery.alert_id})
        if taken.deleted_count != 1:
            return False
        await self._rows.update_one(
            {"_id": row.delivery.alert_id},
            {"$set": {"status": DeliveryStatus.PENDING.value, "updated_at": now}},
        )
        return True

    async def query(
        self,
        *,
        region: str | None,
        report_id: str | None,
        status: str | None,
        limit: int,
        before: datetime | None,
    ) -> list[dict[str, Any]]:
        """Rows for the API, newest first; ``region`` limits to that region's subtree."""
        flt: dict[str, Any] = {}
        if region:
            flt["region_path"] = region
        if report_id:
            flt["report_ids"] = report_id
        if status:
            flt["status"] = status
        if before:
            flt["created_at"] = {"$lt": before}
        cursor = self._rows.find(flt).sort("created_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]
