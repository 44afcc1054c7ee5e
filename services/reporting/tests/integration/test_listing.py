"""The in-memory listing index on the real store: the list endpoint gives the same pages
from the index as from MongoDB queries, after writes and after a restart."""

import contextlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from pantau.localstack.testing import wait_for
from pantau.reporting import testing as reporting_events
from pantau.reporting.config import Config
from pantau.reporting.main import _wants_memory_listing, create_app
from pantau.shared import testing as shared_events
from pantau.shared.auth import Role
from pantau.shared.envelope import Event
from pantau.shared.events import Category, ReportStatus, Severity

pytestmark = pytest.mark.integration

TokenFactory = Any


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


REGIONS = ["32.01.01", "32.04.05", "35.15.01", "73.71.01"]
WORDS = ["banjir", "amplop", "uang", "kotak", "suara", "rusak", "intimidasi", "tps"]
T0 = datetime(2024, 2, 14, 6, 0, tzinfo=UTC)
FILTERS: list[dict[str, Any]] = [
    {},
    {"region": "32"},
    {"region": "32.01"},
    {"category": ["politik_uang", "keamanan"], "severity": "high"},
    {"status": "verified"},
    {"q": "Amplop"},
    {"from": "2024-02-14T06:20:00", "to": "2024-02-14T07:00:00+00:00"},
    {"region": "99"},  # nothing
]


def _reports(rng: random.Random, n: int) -> tuple[list[str], list[Event]]:
    ids, events = [], []
    for _ in range(n):
        at = T0 + timedelta(minutes=5 * rng.randint(0, 12))  # many equal times: ties
        submitted = shared_events.submitted(
            region=rng.choice(REGIONS),
            occurred_at=at,
            received_at=at + timedelta(minutes=rng.randint(0, 2)),
            description=" ".join(rng.choices(WORDS, k=4)),
        )
        ids.append(submitted.data.report_id)
        events += [
            submitted,
            shared_events.classified(
                submitted,
                category=rng.choice([Category.POLITIK_UANG, Category.KEAMANAN, *Category]),
                severity=rng.choice(list(Severity)),
            ),
        ]
    return ids, events


async def _all_pages(client: httpx.AsyncClient, params: dict[str, Any], headers: Any) -> list:
    pages, cursor = [], None
    for _ in range(100):
        response = await client.get(
            "/v1/reports", params=params | ({"cursor": cursor} if cursor else {}), headers=headers
        )
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("paging did not end")


async def _assert_same_pages(
    index_client: httpx.AsyncClient, store_client: httpx.AsyncClient, token: TokenFactory
) -> int:
    operator = auth(token(Role.OPERATOR))
    liaison = auth(token(Role.LIAISON, region="32.01"))
    rows = 0
    for headers, filters in ((operator, FILTERS), (liaison, FILTERS[:2])):
        for params in filters:
            for sort in ("-occurred_at", "received_at", "-severity", "severity"):
                query = params | {"sort": sort, "limit": 10}
                from_index = await _all_pages(index_client, query, headers)
                from_store = await _all_pages(store_client, query, headers)
                assert from_index == from_store, query
                rows += sum(len(page["items"]) for page in from_index)
    return rows


async def _assert_same_stats(
    index_client: httpx.AsyncClient, store_client: httpx.AsyncClient, token: TokenFactory
) -> None:
    """`/v1/stats` from the index equals the store's aggregate buckets' answer."""
    operator = auth(token(Role.OPERATOR))
    liaison = auth(token(Role.LIAISON, region="32.01"))
    day = {"from": T0.isoformat(), "to": (T0 + timedelta(days=1)).isoformat()}
    hour = {"from": "2024-02-14T06:20:00+00:00", "to": "2024-02-14T07:00:00+00:00"}
    nonzero = 0
    for headers, params in (
        (operator, day),
        (operator, hour),
        (operator, day | {"region": "32"}),
        (operator, day | {"region": "32.01.01", "severity": "critical"}),
        (operator, hour | {"category": ["politik_uang", "keamanan"]}),
        (liaison, day),
        (liaison, hour | {"region": "32.01"}),
        (operator, {"to": T0.isoformat()}),  # the day before: nothing
    ):
        from_index = await index_client.get("/v1/stats", params=params, headers=headers)
        from_store = await store_client.get("/v1/stats", params=params, headers=headers)
        assert from_index.status_code == from_store.status_code == 200, from_index.text
        assert from_index.json() == from_store.json(), params
        nonzero += from_index.json()["total"] > 0
    assert nonzero >= 6


@contextlib.asynccontextmanager
async def _in_process(config: Config, *, mode: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app without its lifespan (no consumer): only its HTTP routes on the store."""
    app = create_app(config.model_copy(update={"reporting_listing_index": mode}))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://reporting", timeout=60
        ) as client:
            yield app, client
    finally:
        if app.state.listing is not None:
            await app.state.listing.stop()
        await app.state.store.database.client.close()


async def test_index_pages_equal_store_pages_after_writes_and_restart(
    own_config: Config, start_service: Any, token: TokenFactory
) -> None:
    # `memory` whatever the server (`auto` picks it on FerretDB only).
    own = own_config.model_copy(update={"reporting_listing_index": "memory"})
    rng = random.Random(6)
    async with start_service(own) as service, _in_process(own, mode="store") as (_, by_store):
        listing = service.app.state.listing
        assert listing is not None
        await wait_for(lambda: _true(listing.ready), timeout=30)
        store = service.app.state.store
        operator = auth(token(Role.OPERATOR))
        used = _count_pages(listing)
        stats_used = _count_stats(listing)
        first, events = _reports(rng, 30)
        await store.apply_events(events)
        assert len(listing.index) == 30
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as by_index:
            assert await _assert_same_pages(by_index, by_store, token) > 30
            assert used, "the list endpoint did not ask the index"
            await _assert_same_stats(by_index, by_store, token)
            assert stats_used, "the stats endpoint did not ask the index"

            # New reports, status changes, reclassification and an alert-only report
            # (not listable) through the store: the index follows without a restart.
            added, events = _reports(rng, 10)
            events += [
                shared_events.classified(
                    shared_events.submitted(report_id=rid),
                    category=Category.POLITIK_UANG,
                    severity=Severity.CRITICAL,
                    rules_version="test-2",
                )
                for rid in first[:5]
            ]
            events += [
                reporting_events.status_change(rid, status=ReportStatus.VERIFIED)
                for rid in rng.sample(first, 12)
            ]
            events += [reporting_events.alert(f"rpt_{uuid4().hex}")]
            await store.apply_events(events)
            assert len(listing.index) == 40
            verified = await by_index.get(
                "/v1/reports",
                params={"status": "verified", "limit": 50},
                headers=operator,
            )
            assert len(verified.json()["items"]) == 12
            newest = await by_index.get(
                "/v1/reports", params={"sort": "-severity", "limit": 50}, headers=operator
            )
            newest_ids = [item["report_id"] for item in newest.json()["items"]]
            assert set(added) <= set(newest_ids)
            await _assert_same_pages(by_index, by_store, token)
            await _assert_same_stats(by_index, by_store, token)

        # A restart: a new process loads the index from the collection.
        async with _in_process(own, mode="memory") as (restarted, by_loaded):
            assert not restarted.state.listing.ready
            restarted.state.listing.start()
            await restarted.state.listing.wait_ready()
            assert len(restarted.state.listing.index) == 40
            loaded_used = _count_pages(restarted.state.listing)
            await _assert_same_pages(by_loaded, by_store, token)
            assert loaded_used


async def _true(value: bool) -> bool:
    return value


def _count_stats(listing: Any) -> list[int]:
    """Records each statistics answer the index gives."""
    calls: list[int] = []
    answer = listing.index.stats

    def counted(**kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return answer(**kwargs)

    listing.index.stats = counted
    return calls


def _count_pages(listing: Any) -> list[int]:
    """Records each page the index answers (the endpoint must ask it, not the store)."""
    calls: list[int] = []
    answer = listing.page

    def page(*args: Any) -> list[str]:
        calls.append(1)
        return answer(*args)

    listing.page = page
    return calls


class _Server:
    def __init__(self, *, mongodb: bool) -> None:
        self.mongodb = mongodb

    async def conditional_writes(self) -> bool:
        return self.mongodb


@pytest.mark.parametrize(
    ("setting", "mongodb", "memory"),
    [
        ("auto", False, True),
        ("auto", True, False),
        ("memory", True, True),
        ("store", False, False),
    ],
)
async def test_auto_keeps_the_index_on_ferretdb_only(
    config: Config, setting: str, mongodb: bool, memory: bool
) -> None:
    chosen = config.model_copy(update={"reporting_listing_index": setting})
    assert await _wants_memory_listing(chosen, _Server(mongodb=mongodb)) is memory  # type: ignore[arg-type]
