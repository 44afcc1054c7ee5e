"""The in-memory listing index of this process: loaded from the store in the background
at start-up, then kept current by the store's own writes (``ReportStore`` listener).

Writes that land while the load runs are applied at once; a loaded copy older than one
already applied is ignored (``version``), so the load never undoes a write. Until the load
has finished, ``ready`` is false and the API answers from the store (correct, slow).
"""

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python

from pantau.reporting.adapters.store import ReportStore
from pantau.reporting.core.listing import LISTING_FIELDS, ListingIndex
from pantau.reporting.core.query import ReportQuery, SortOrder
from pantau.reporting.core.views import PUBLIC_FIELDS, summary_report

log = logging.getLogger(__name__)

LOAD_LOG_EVERY = 10_000
LOAD_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
_AT = "2024-02-14T08:30:00.123000+00:00"
# A typical list row as JSON: the dictionary each row is compressed against (about a
# fifth of the JSON's size instead of a half). Only its content's likeness matters.
ROW_ZDICT = json.dumps(
    dict.fromkeys(PUBLIC_FIELDS)
    | {
        "report_id": "rpt_0123456789abcdef0123456789abcdef",
        "submitted": True,
        "region": {
            "code": "32.01.01",
            "province": "32",
            "regency": "32.01",
            "district": "32.01.01",
            "village": None,
        },
        "tps": 5,
        "channel": "monitor",
        "occurred_at": _AT,
        "received_at": _AT,
        "anonymous": False,
        "has_reporter_identity": False,
        "classification": {
            "category": "politik_uang",
            "secondary_categories": [],
            "severity": "high",
            "confidence": 0.9,
            "institutions": ["KPU", "Bawaslu", "BPBD", "Polri"],
            "explanation": "",
            "rules_version": "",
            "classified_at": _AT,
        },
        "status": "verified",
        "status_changed_at": _AT,
        "alert_summary": {
            "total": 1,
            "by_status": {"sent": 1, "acknowledged": 0},
            "acknowledged": False,
            "latest_at": _AT,
        },
    },
    separators=(",", ":"),
).encode()


def list_row(document: Mapping[str, Any]) -> Any:
    """A report's row in a list, as the API renders it (pydantic's JSON mode, as FastAPI
    serialises the endpoint's result), so a row from memory is the row from the store."""
    return to_jsonable_python(summary_report(dict(document)))


class MemoryListing:
    """A ``ListingIndex`` fed by ``store``: ``start()`` subscribes to its writes and
    loads every report document in the background."""

    def __init__(self, *, store: ReportStore, batch_size: int = 200) -> None:
        self.index = ListingIndex(row=list_row, zdict=ROW_ZDICT)
        self._store = store
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self.ready = False
        self.load_seconds: float | None = None
        self._active = False
        store.add_write_listener(self._written)

    def _written(self, documents: list[dict[str, Any]]) -> None:
        if self._active:
            self.index.upsert_many(documents)

    def start(self) -> None:
        """Follow the store's writes and begin the background load (at most once); call
        it before this process's consumer starts, so no write is missed."""
        self._active = True
        if self._task is None:
            self._task = asyncio.create_task(self._load_until_done())

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_ready(self) -> None:
        """Until the load has finished (tests, benchmark)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _load_until_done(self) -> None:
        for attempt in range(10**9):
            try:
                await self._load()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = LOAD_RETRY_SECONDS[min(attempt, len(LOAD_RETRY_SECONDS) - 1)]
                log.exception("listing index load failed; retrying in %.0f s", delay)
                await asyncio.sleep(delay)

    async def _load(self) -> None:
        started = time.perf_counter()
        log.info("listing index: loading report documents from the store")
        projection = dict.fromkeys((*LISTING_FIELDS, *PUBLIC_FIELDS), 1)
        seen = 0
        async for document in self._store.scan(projection=projection, batch_size=self._batch_size):
            self.index.upsert(document)
            seen += 1
            if seen % LOAD_LOG_EVERY == 0:
                log.info(
                    "listing index: %d documents loaded (%.1f s)",
                    seen,
                    time.perf_counter() - started,
                )
        self.load_seconds = time.perf_counter() - started
        # Exempt what exists now (the index's containers, the app) from the cyclic
        # collector's full passes: at 100,000 rows one took ~80-130 ms of CPU, inside
        # whichever request triggered it. Refcounting still frees replaced rows.
        gc.collect()
        gc.freeze()
        self.ready = True
        log.info(
            "listing index ready: %d documents read, %d listable, in %.1f s",
            seen,
            len(self.index),
            self.load_seconds,
        )

    def page(
        self, query: ReportQuery, order: SortOrder, after: tuple[Any, str] | None, limit: int
    ) -> list[str]:
        return self.index.page(query, order, after, limit)

    def rows(self, report_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The list rows (``summary_report``) of ``report_ids``, from memory."""
        return self.index.rows(report_ids)
