"""``python -m pantau.reporting.bench``: reporting's speed on this machine.

Measures, against the MongoDB-wire server of ``PANTAU_MONGO_URL`` (a throwaway database):

1. ingest: events per second written into the read models through the same path the
   consumer uses (``ReportStore.apply_events`` in batches), aggregates included;
2. list and stats latency (p50/p99) through the HTTP app (ASGI, no network) over a store
   seeded with ``--reports`` reports (seeded in bulk, not through the fold, to save time):
   the list with the in-memory listing index (``PANTAU_REPORTING_LISTING_INDEX=memory``)
   in a fresh process that loads it (load time, RSS) and runs several filter mixes; as
   its baseline, the same mixes through the store path (MongoDB queries) and the index on
   a small second store of ``--baseline-reports`` (the store path over 100,000 reports
   takes minutes per request on FerretDB);
3. export: peak RSS of a fresh process streaming a CSV of every seeded report;
4. baselines on the same server in the same run, to read the figures against: the raw
   ``insert_many`` rate of the ingest's report documents (one command, one storage
   transaction on FerretDB), and at the seeded size one ``_id`` lookup, one ``_id``
   update and one unindexed sorted ``find ... limit 50`` (what FerretDB 1.24 does for
   every list query: it pushes neither filters but a lone ``_id`` nor sorts down).

Prints one JSON object. Targets (the issue): ingest >= 3,000 events/s; list/stats p99
<= 100 ms at 100,000 reports; a 100,000-row export under 200 MB RSS.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import uvicorn

from pantau.reporting import testing as reporting_events
from pantau.reporting.adapters.recent import RecentDocuments
from pantau.reporting.adapters.store import ReportStore
from pantau.reporting.adapters.stored_form import REPORT
from pantau.reporting.config import ReportingSettings, get_config
from pantau.reporting.core import stats
from pantau.reporting.core.readmodel import derive, fold
from pantau.reporting.main import create_app
from pantau.shared import testing as shared_events
from pantau.shared.auth import Role, issue_token
from pantau.shared.envelope import Event
from pantau.shared.events import AlertStatus, Category, ReportStatus, Severity
from pantau.shared.identity import generate_key
from pantau.shared.mongo import make_mongo_client

REGIONS = ["32.01.01", "32.04.05", "35.15.01", "73.71.01", "11.01.01", "51.71.01", "64.72.01"]
WORDS = [
    "banjir",
    "tps",
    "kotak",
    "suara",
    "rusak",
    "amplop",
    "uang",
    "serangan",
    "fajar",
    "saksi",
    "petugas",
    "kpps",
    "surat",
    "logistik",
    "terlambat",
    "intimidasi",
    "warga",
    "kampanye",
    "hitam",
    "pemilih",
    "daftar",
    "tetap",
    "listrik",
    "padam",
    "hujan",
    "deras",
    "jalan",
    "putus",
    "relawan",
    "panitia",
    "pengawas",
    "bawaslu",
    "formulir",
    "c1",
    "hasil",
]
SECRET = uuid4().hex + uuid4().hex
BENCH_SOCKET_TIMEOUT_MS = 3_600_000


def _config(database_suffix: str) -> Any:
    return get_config(
        mongo_db_suffix=database_suffix,
        auth_secret=SECRET,
        identity_keys=f"bench:{generate_key()}",
        page_size_max=200,
        # FerretDB answers an unindexed sorted query over 100,000 reports in minutes;
        # the benchmark measures that instead of failing at the service's 30 s timeout.
        mongo_socket_timeout_ms=BENCH_SOCKET_TIMEOUT_MS,
    )


def report_events(rng: random.Random, *, at: datetime) -> list[Event]:
    """A realistic event stream for one report: submitted, classified, alert, status."""
    submitted = shared_events.submitted(
        region=rng.choice(REGIONS),
        occurred_at=at,
        received_at=at + timedelta(seconds=rng.randint(5, 900)),
        description=" ".join(rng.choices(WORDS, k=12)),
    )
    report_id = submitted.data.report_id
    return [
        submitted,
        shared_events.classified(
            submitted, category=rng.choice(list(Category)), severity=rng.choice(list(Severity))
        ),
        reporting_events.alert(report_id, status=AlertStatus.SENT),
        reporting_events.status_change(report_id, status=ReportStatus.VERIFIED),
    ]


async def bench_ingest(store: ReportStore, *, events: int, batch: int) -> dict[str, Any]:
    rng = random.Random(1)
    now = datetime.now(UTC)
    stream: list[Event] = []
    while len(stream) < events:
        stream += report_events(rng, at=now - timedelta(minutes=rng.randint(0, 1440)))
    # Pessimistic: a report's events spread over the whole run, so nearly every event
    # of a batch touches a different report document.
    rng.shuffle(stream)
    started = time.perf_counter()
    for i in range(0, len(stream), batch):
        await store.apply_events(stream[i : i + batch])
    elapsed = time.perf_counter() - started
    return {
        "events": len(stream),
        "batch": batch,
        "seconds": round(elapsed, 2),
        "events_per_second": round(len(stream) / elapsed),
    }


async def bench_raw_insert(
    client: Any, database: str, *, events: int, batch: int
) -> dict[str, Any]:
    """Baseline: the documents the ingest run writes, inserted raw with ``insert_many``."""
    rng = random.Random(1)
    now = datetime.now(UTC)
    docs = []
    while len(docs) * 4 < events:
        stream = report_events(rng, at=now - timedelta(minutes=rng.randint(0, 1440)))
        doc = derive(fold(stream, report_id=stream[0].subject))
        docs.append(REPORT.to_stored(doc | {"_id": doc["report_id"]}))
    collection = client[database]["raw_insert"]
    per_call = max(1, batch // 4)  # a batch of `batch` events touches ~batch/4 reports
    started = time.perf_counter()
    for i in range(0, len(docs), per_call):
        await collection.insert_many(docs[i : i + per_call], ordered=True)
    elapsed = time.perf_counter() - started
    return {
        "documents": len(docs),
        "documents_per_second": round(len(docs) / elapsed),
        # Four events per report: the event rate an insert-only write path could reach.
        "events_per_second_equivalent": round(4 * len(docs) / elapsed),
    }


async def bench_primitives(store: ReportStore, *, ids: list[str]) -> dict[str, Any]:
    """Baseline at the seeded size: the cost of single-document operations on ``ids``,
    a random sample (FerretDB scans in insertion order and stops at the first match, so
    the first documents would look cheap)."""
    samples = len(ids)

    async def timed(make: Any, n: int = samples) -> float:
        timings = []
        for report_id in ids[:n]:
            started = time.perf_counter()
            await make(report_id)
            timings.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(timings), 2)

    started = time.perf_counter()
    await store.reports.find({}).sort([("occurred_at", -1), ("_id", -1)]).limit(50).to_list(50)
    scan_ms = (time.perf_counter() - started) * 1000
    return {
        "find_one_by_id_ms_median": await timed(lambda i: store.reports.find_one({"_id": i})),
        "update_one_by_id_ms_median": await timed(
            lambda i: store.reports.update_one({"_id": i}, {"$inc": {"bench_touch": 1}})
        ),
        "update_one_by_id_and_version_ms_median": await timed(
            lambda i: store.reports.update_one(
                {"_id": i, "version": {"$gte": 0}}, {"$inc": {"bench_touch": 1}}
            ),
            n=3,  # scans the whole collection on FerretDB
        ),
        "sorted_find_limit_50_ms": round(scan_ms, 1),
    }


async def server_kind(client: Any) -> str:
    info = await client.admin.command("buildInfo")
    if "ferretdbVersion" in info:
        return f"FerretDB {info['ferretdbVersion']}"
    return f"MongoDB {info.get('version')}"


async def seed(store: ReportStore, *, reports: int) -> list[str]:
    """``reports`` classified reports over the last 7 days, with exact aggregates;
    returns a random sample of 20 of their ids."""
    rng = random.Random(2)
    now = datetime.now(UTC)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    docs = []
    picks = set(random.Random(4).sample(range(reports), min(20, reports)))
    sample: list[str] = []
    for n in range(reports):
        events = report_events(rng, at=now - timedelta(minutes=rng.randint(0, 7 * 1440)))
        if n in picks:
            sample.append(events[0].subject)
        doc = derive(fold(events, report_id=events[0].subject))
        contribution = stats.contribution(doc)
        for (bucket, path), delta in stats.deltas(contribution, 1).items():
            counts[bucket][path] += delta
        doc.update(
            {
                "_id": doc["report_id"],
                "version": 1,
                "stats_applied": contribution,
                "stats_pending": [],
            }
        )
        docs.append(REPORT.to_stored(doc))
        if len(docs) == 2000 or n == reports - 1:
            await store.reports.insert_many(docs, ordered=True)
            docs.clear()
    buckets = []
    for bucket, paths in counts.items():
        doc: dict[str, Any] = {
            "_id": bucket,
            "scope": bucket.split("|")[0],
            "day": bucket.split("|")[1],
            "ops": [],
        }
        for path, value in paths.items():
            node = doc
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        buckets.append(doc)
    await store.buckets.insert_many(buckets, ordered=True)
    return sample


async def _latencies(client: httpx.AsyncClient, requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall-clock p50/p99 of ``requests``, and the CPU time this process spent on each
    (the app runs in it): on a shared machine the wall clock's tail also holds the time
    the process waited for a core."""
    timings, cpu = [], []
    for request in requests:
        started, started_cpu = time.perf_counter(), time.process_time()
        response = await client.get(request["path"], params=request["params"])
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        response.raise_for_status()
    timings.sort()
    cpu.sort()
    p99 = min(len(timings) - 1, int(len(timings) * 0.99))
    return {
        "requests": len(timings),
        "p50_ms": round(statistics.median(timings), 1),
        "p99_ms": round(timings[p99], 1),
        "max_ms": round(timings[-1], 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "cpu_p99_ms": round(cpu[p99], 1),
    }


def stats_requests(queries: int) -> list[dict[str, Any]]:
    """Statistics of a regency or province (or the country), over a day or a week."""
    rng = random.Random(3)
    week = {"from": (datetime.now(UTC) - timedelta(days=7)).isoformat()}
    return [
        {
            "path": "/v1/stats",
            "params": rng.choice([{"region": rng.choice([*REGIONS, "32", "35"])[:5]}, {}])
            | rng.choice([{}, week]),
        }
        for _ in range(queries)
    ]


async def bench_stats(config: Any, *, queries: int) -> dict[str, Any]:
    """Statistics latency through the app from the store's aggregate buckets (an app
    without its listing index: what MongoDB answers, and FerretDB until the index is
    loaded)."""
    app = create_app(config)
    try:
        async with _client(app, config) as client:
            await _latencies(client, stats_requests(1))  # warm-up, not counted
            return await _latencies(client, stats_requests(queries))
    finally:
        await app.state.store.database.client.close()


def _client(app: Any, config: Any, role: Role = Role.OPERATOR) -> httpx.AsyncClient:
    token = issue_token(
        secret=config.auth_secret.get_secret_value(), issuer=config.token_issuer, role=role
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        headers={"Authorization": f"Bearer {token}"},
        timeout=3600,
    )


def list_mixes(rng: random.Random, queries: int) -> dict[str, list[dict[str, Any]]]:
    """The list requests of each filter mix (50 rows a page, as the dashboard asks)."""

    def requests(make: Any) -> list[dict[str, Any]]:
        return [{"path": "/v1/reports", "params": make() | {"limit": 50}} for _ in range(queries)]

    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    return {
        "no_filter": requests(lambda: {"sort": rng.choice(["-occurred_at", "-severity"])}),
        "region_prefix": requests(lambda: {"region": rng.choice(REGIONS)[: rng.choice([2, 5, 8])]}),
        "category_severity": requests(
            lambda: {
                "category": rng.choice(list(Category)).value,
                "severity": rng.choice(list(Severity)).value,
            }
        ),
        "free_text": requests(lambda: {"q": rng.choice(WORDS)}),
        # Worst cases: every row's text tested, or every filter column, and nothing found.
        "text_matching_nothing": requests(lambda: {"q": "tidak ada kata ini"}),
        "filters_matching_nothing": requests(
            lambda: {"region": "32", "severity": "critical", "to": week_ago, "sort": "-received_at"}
        ),
    }


async def _deep_cursor(client: httpx.AsyncClient, params: dict[str, Any], pages: int) -> str | None:
    cursor = None
    for _ in range(pages):
        response = await client.get(
            "/v1/reports", params=params | {"limit": 200} | ({"cursor": cursor} if cursor else {})
        )
        response.raise_for_status()
        cursor = response.json()["next_cursor"] or cursor
    return cursor


async def bench_list(app: Any, config: Any, *, queries: int, rows: int) -> dict[str, Any]:
    """List p50/p99 per filter mix through ``app``, and after a cursor deep in the list."""
    results: dict[str, Any] = {}
    async with _client(app, config) as client:
        for name, requests in list_mixes(random.Random(5), queries).items():
            await _latencies(client, requests[:1])  # warm-up, not counted
            results[name] = await _latencies(client, requests)
        deep = {"region": "32", "sort": "-occurred_at"}
        pages = max(1, min(50, rows // 800))  # some 10,000 rows deep at 100,000 reports
        cursor = await _deep_cursor(client, deep, pages)
        results["deep_cursor"] = await _latencies(
            client,
            [{"path": "/v1/reports", "params": deep | {"limit": 50, "cursor": cursor}}] * queries,
        )
        results["deep_cursor"]["rows_skipped"] = pages * 200
    return results


def _rss_mb() -> dict[str, float]:
    """Current and peak RSS of this process. The peak is ``VmHWM``: ``ru_maxrss`` keeps
    the high-water mark of the image before ``exec``, so in a child process it reports
    at least the parent's size at the fork."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "peak_rss_mb": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
    }


async def load_listing(app: Any) -> dict[str, Any]:
    """Start ``app``'s listing index and wait for its load; its size and duration."""
    listing = app.state.listing
    listing.start()
    await listing.wait_ready()
    return {"rows": len(listing.index), "load_seconds": round(listing.load_seconds, 1)}


def listing_child(database_suffix: str, queries: int, *, export: bool) -> None:
    """In a fresh process: load the listing index from the store, measure the list with
    it, print the load time, the process's RSS and the latencies."""

    async def run() -> dict[str, Any]:
        config = get_config(
            mongo_db_suffix=database_suffix,
            mongo_socket_timeout_ms=BENCH_SOCKET_TIMEOUT_MS,
            reporting_listing_index="memory",
        )
        app = create_app(config)
        before = _rss_mb()
        result: dict[str, Any] = {"rss_before_load_mb": before["rss_mb"]}
        result |= await load_listing(app)
        result |= {f"{k}_after_load": v for k, v in _rss_mb().items()}
        result["list"] = await bench_list(app, config, queries=queries, rows=result["rows"])
        async with _client(app, config) as client:
            await _latencies(client, stats_requests(1))  # warm-up, not counted
            result["stats"] = await _latencies(client, stats_requests(queries))
        if export:
            # The service as it runs on FerretDB: the export with the index in memory.
            result["export_with_index"] = await stream_export(app, config)
        result |= {f"{k}_after_queries": v for k, v in _rss_mb().items()}
        await app.state.listing.stop()
        await app.state.store.database.client.close()
        return result

    print(json.dumps(asyncio.run(run())))


async def bench_list_baseline(
    client: Any, suffix: str, *, reports: int, queries: int
) -> dict[str, Any]:
    """The same list mixes through the store path and through the index, on a small
    store of ``reports`` (the store path decodes every document per request on FerretDB)."""
    baseline_suffix = f"{suffix}_small"
    store = ReportStore(client=client, database=f"pantau_reporting{baseline_suffix}")
    await store.ensure_indexes()
    await seed(store, reports=reports)
    results: dict[str, Any] = {"reports": reports, "queries_per_mix": queries}
    for mode in ("store", "memory"):
        config = _config(baseline_suffix).model_copy(update={"reporting_listing_index": mode})
        app = create_app(config)
        try:
            if mode == "memory":
                results["index_load"] = await load_listing(app)
            results[f"list_{mode}_path"] = await bench_list(
                app, config, queries=queries, rows=reports
            )
        finally:
            if app.state.listing is not None:
                await app.state.listing.stop()
            await app.state.store.database.client.close()
    store_p99 = results["list_store_path"]
    index_p99 = results["list_memory_path"]
    results["p99_ratio_store_to_index"] = {
        mix: round(store_p99[mix]["p99_ms"] / max(index_p99[mix]["p99_ms"], 0.1), 1)
        for mix in index_p99
    }
    return results


async def _child_json(*args: str, config: Any) -> dict[str, Any]:
    # Throwaway secrets go to the child in its environment, not on its command line.
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pantau.reporting.bench",
        *args,
        stdout=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "PANTAU_AUTH_SECRET": SECRET,
            "PANTAU_IDENTITY_KEYS": config.identity_keys.get_secret_value(),
        },
    )
    stdout, _ = await child.communicate()
    if child.returncode:
        raise RuntimeError(f"{args[0]} process failed with {child.returncode}")
    return json.loads(stdout.decode().strip().splitlines()[-1])


async def stream_export(app: Any, config: Any) -> dict[str, Any]:
    """Stream the whole CSV export from ``app``: rows, bytes, time, peak RSS. Over a real
    socket from a server in this process (httpx's in-process ASGI transport would hold
    the whole body in memory, counting it against the app)."""
    secret = config.auth_secret.get_secret_value()
    token = issue_token(secret=secret, issuer=config.token_issuer, role=Role.OPERATOR)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises why it stopped
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    rows, size = 0, 0
    started = time.perf_counter()
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=3600) as client,
            client.stream(
                "GET", "/v1/reports/export.csv", headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                rows += chunk.count(b"\n")
                size += len(chunk)
    finally:
        server.should_exit = True
        await serving
    return {
        "rows": rows - 1,
        "bytes": size,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": _rss_mb()["peak_rss_mb"],
    }


def export_child(database_suffix: str) -> None:
    """In a fresh process (no listing index): stream the whole CSV export, print rows
    and peak RSS."""

    async def run() -> dict[str, Any]:
        config = get_config(
            mongo_db_suffix=database_suffix, mongo_socket_timeout_ms=BENCH_SOCKET_TIMEOUT_MS
        )
        return await stream_export(create_app(config), config)

    print(json.dumps(asyncio.run(run())))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    suffix = f"_bench_{uuid4().hex[:8]}"
    config = _config(suffix)
    client = make_mongo_client(config)
    results: dict[str, Any] = {
        "mongo_url": config.mongo_url,
        "server": await server_kind(client),
        "reports": args.reports,
    }
    try:
        recent = RecentDocuments(max_bytes=round(args.write_cache_mb * 2**20))
        ingest_store = ReportStore(
            client=client, database=f"pantau_reporting{suffix}_ingest", recent=recent
        )
        await ingest_store.ensure_indexes()
        if args.preload:
            await seed(ingest_store, reports=args.preload)
        results["ingest"] = await bench_ingest(ingest_store, events=args.events, batch=args.batch)
        results["ingest"]["preloaded_reports"] = args.preload
        results["ingest"]["write_cache"] = {
            "mb": args.write_cache_mb,
            "hits": recent.hits,
            "misses": recent.misses,
        }
        results["baseline_raw_insert"] = await bench_raw_insert(
            client, f"pantau_reporting{suffix}_ingest", events=args.events, batch=args.batch
        )
        results["ingest"]["ratio_to_raw_insert"] = round(
            results["ingest"]["events_per_second"]
            / results["baseline_raw_insert"]["events_per_second_equivalent"],
            3,
        )
        if args.reports == 0:
            return results  # ingest only
        store = ReportStore(client=client, database=f"pantau_reporting{suffix}")
        await store.ensure_indexes()
        started = time.perf_counter()
        sample = await seed(store, reports=args.reports)
        results["seed_seconds"] = round(time.perf_counter() - started, 1)
        results["baseline_at_seeded_size"] = await bench_primitives(store, ids=sample)
        results["listing"] = await _child_json(
            "--listing-child",
            suffix,
            "--queries",
            str(args.queries),
            *(["--no-export"] if args.no_export else []),
            config=config,
        )
        results["stats_from_buckets"] = await bench_stats(config, queries=args.queries)
        if args.baseline_reports:
            results["baseline_list_small_store"] = await bench_list_baseline(
                client, suffix, reports=args.baseline_reports, queries=args.baseline_queries
            )
        if args.no_export:
            return results
        results["export"] = await _child_json("--export-child", suffix, config=config)
    finally:
        for name in (
            f"pantau_reporting{suffix}_ingest",
            f"pantau_reporting{suffix}",
            f"pantau_reporting{suffix}_small",
        ):
            await client.drop_database(name)
        await client.close()
    return results


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events to ingest")
    parser.add_argument("--batch", type=int, default=500, help="events per bulk write")
    parser.add_argument("--reports", type=int, default=100_000, help="reports to seed")
    parser.add_argument("--queries", type=int, default=100, help="list and stats requests each")
    parser.add_argument(
        "--preload", type=int, default=0, help="reports in the ingest store before ingesting"
    )
    parser.add_argument("--no-export", action="store_true", help="skip the export run")
    parser.add_argument(
        "--write-cache-mb",
        type=float,
        default=ReportingSettings.model_fields["reporting_write_cache_mb"].default,
        help="the store's cache of documents it wrote last (0: off; default: the service's)",
    )
    parser.add_argument(
        "--baseline-reports",
        type=int,
        default=2000,
        help="reports of the small store the list's store path is measured on (0: skip)",
    )
    parser.add_argument(
        "--baseline-queries", type=int, default=5, help="list requests per mix on it, each path"
    )
    parser.add_argument("--export-child", help=argparse.SUPPRESS)
    parser.add_argument("--listing-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(args.export_child)
        return
    if args.listing_child:
        listing_child(args.listing_child, args.queries, export=not args.no_export)
        return
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
