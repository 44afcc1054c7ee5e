"""``python -m pantau.notifier.bench``: routing decisions per second, and the storm.

* Routing: a synthetic national directory (KPU, Bawaslu and BPBD in each of the 514
  regencies, KPU and Bawaslu in each province, regional teams in 1,000 districts, a
  national desk) routes reports from random villages. Baseline, measured in the same
  run: parsing the ``report.classified`` JSON the consumer receives for each report.
* Storm: 1,000 reports about one regency within a minute go through the real core
  (routing, grouping, rendering, ledger, escalation deadlines) on a simulated clock;
  prints messages per recipient and the time to the first alert. ``--mongo URL`` puts
  the ledger and state on a real MongoDB/FerretDB (a throwaway database) and also
  measures the duplicate window: from a channel accepting a message to the ledger
  holding its outcome.
"""

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from lokal import wilayah

from pantau.notifier.core.delivery import DeliveryEngine, RetryPolicy
from pantau.notifier.core.directory import Directory, parse_directory
from pantau.notifier.core.models import Address, ChannelKind, Recipient, ReportFacts, Route
from pantau.notifier.core.notifier import AckLinks, Notifier
from pantau.notifier.core.render import LinkBuilder, Renderer
from pantau.notifier.core.routing import Router
from pantau.notifier.testing import (
    FakeClock,
    InMemoryEscalations,
    InMemoryGroups,
    InMemoryLedger,
    RecordingPublisher,
    RecordingSender,
)
from pantau.shared import testing
from pantau.shared.events import Category, ReportClassified, Severity

EXAMPLE_ROUTES = Path(__file__).parents[3] / "docs" / "routes.example.yaml"
KPU_FIRST = [Category.BENCANA_ALAM, Category.LOGISTIK, Category.DPT_PEMILIH,
             Category.PEMUNGUTAN_SUARA_ULANG, Category.GANGGUAN_TEKNIS]  # fmt: skip
BAWASLU_FIRST = [c for c in Category if c not in (Category.NOT_AN_INCIDENT, Category.BENCANA_ALAM)]


def _recipient(rid: str, institution: str, region: str | None) -> Recipient:
    return Recipient(
        id=rid,
        name=rid,
        institution=institution,
        region=region,
        addresses=(Address(channel=ChannelKind.EMAIL, target=f"{rid}@bench.test"),),
    )


def synthetic_directory(*, rng: random.Random) -> tuple[Directory, list[str]]:
    """A national directory and the village codes reports will come from."""
    recipients: list[Recipient] = [_recipient("ops", "Operator", None)]
    routes: list[Route] = [
        Route(id="national", region=None, recipients=("ops",), min_severity=Severity.CRITICAL)
    ]
    districts: list[str] = []
    for province in wilayah.list_wilayah():
        p = province.code
        for inst in ("KPU", "Bawaslu"):
            recipients.append(_recipient(f"{inst}-{p}", inst, p))
            routes.append(
                Route(
                    id=f"{inst}-{p}",
                    region=p,
                    recipients=(f"{inst}-{p}",),
                    min_severity=Severity.HIGH,
                    institutions=frozenset({inst}),
                )
            )
        for regency in wilayah.list_wilayah(p):
            r = regency.code
            for inst, cats in (
                ("KPU", KPU_FIRST),
                ("Bawaslu", BAWASLU_FIRST),
                ("BPBD", [Category.BENCANA_ALAM]),
            ):
                recipients.append(_recipient(f"{inst}-{r}", inst, r))
                routes.append(
                    Route(
                        id=f"{inst}-{r}",
                        region=r,
                        recipients=(f"{inst}-{r}",),
                        categories=frozenset(cats),
                        min_severity=Severity.MEDIUM,
                    )
                )
            districts.extend(d.code for d in wilayah.list_wilayah(r))
    for code in rng.sample(districts, 1000):
        recipients.append(_recipient(f"tim-{code}", "Tim Regional", code))
        routes.append(Route(id=f"tim-{code}", region=code, recipients=(f"tim-{code}",)))
    villages = [v.code for d in rng.sample(districts, 300) for v in wilayah.list_wilayah(d)]
    return Directory(recipients=recipients, routes=routes), villages


def _reports(villages: list[str], n: int, *, rng: random.Random) -> list[ReportClassified]:
    categories = [c for c in Category if c != Category.NOT_AN_INCIDENT]
    return [
        testing.classified(
            testing.submitted(region=rng.choice(villages)),
            category=rng.choice(categories),
            severity=rng.choice(list(Severity)),
        )
        for _ in range(n)
    ]


def bench_routing(*, n: int, runs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    directory, villages = synthetic_directory(rng=rng)
    events = _reports(villages, n, rng=rng)
    raw = [e.to_bytes() for e in events]
    reports = [ReportFacts.from_event(e.data) for e in events]
    router = Router(directory)
    routing, parsing, alerted = [], [], 0
    for _ in range(runs):
        started = time.perf_counter()
        alerted = sum(len(router.decide(r).recipients) for r in reports)
        routing.append(n / (time.perf_counter() - started))
        started = time.perf_counter()
        for body in raw:
            ReportClassified.model_validate_json(body)
        parsing.append(n / (time.perf_counter() - started))
    return {
        "recipients": len(directory.recipients),
        "routes": len(directory.routes),
        "reports": n,
        "runs": runs,
        "decisions_per_s_median": round(statistics.median(routing)),
        "decisions_per_s_runs": [round(x) for x in routing],
        "baseline_parse_per_s_median": round(statistics.median(parsing)),
        "ratio_routing_to_parse": round(statistics.median(routing) / statistics.median(parsing), 2),
        "mean_recipients_per_report": round(alerted / n, 2),
    }


class _TimedSender(RecordingSender):
    """Notes when each message was accepted, to measure the duplicate window."""

    def __init__(self) -> None:
        super().__init__(ChannelKind.EMAIL)
        self.accepted: dict[str, float] = {}

    async def send(self, delivery: Any) -> str | None:
        result = await super().send(delivery)
        self.accepted[delivery.alert_id] = time.perf_counter()
        return result


async def _stores(mongo_url: str | None) -> tuple[Any, Any, Any, Any]:
    if mongo_url is None:
        return InMemoryLedger(), InMemoryGroups(), InMemoryEscalations(), None
    from pymongo import AsyncMongoClient

    from pantau.notifier.adapters.outbound.mongo import MongoLedger
    from pantau.notifier.adapters.outbound.state import MongoEscalations, MongoGroups

    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    db = client[f"pantau_notifier_bench_{uuid.uuid4().hex[:8]}"]
    ledger, groups, escalations = MongoLedger(db), MongoGroups(db), MongoEscalations(db)
    await ledger.ensure_indexes()
    await groups.ensure_indexes()
    await escalations.ensure_indexes()
    return ledger, groups, escalations, (client, db)


async def bench_storm(
    *, reports: int, seconds: float, window: float, seed: int, mongo_url: str | None
) -> dict[str, Any]:
    rng = random.Random(seed)
    clock = FakeClock()
    sender = _TimedSender()
    ledger, groups, escalations, handle = await _stores(mongo_url)
    recorded: dict[str, float] = {}
    record_attempt = ledger.record_attempt

    async def timed_record(alert_id: str, **kwargs: Any) -> None:
        await record_attempt(alert_id, **kwargs)
        if kwargs.get("status") == "sent":
            recorded[alert_id] = time.perf_counter()

    ledger.record_attempt = timed_record
    engine = DeliveryEngine(
        ledger=ledger,
        senders={ChannelKind.EMAIL: sender, ChannelKind.TELEGRAM: sender},
        publisher=RecordingPublisher(),
        clock=clock,
        sleep=clock.sleep,
        policy=RetryPolicy(inline_attempts=3, max_attempts=10, initial_seconds=1, max_seconds=60),
    )
    router = Router(_email_only(parse_directory(EXAMPLE_ROUTES.read_text())))
    notifier = Notifier(
        router=lambda: router,
        renderer=Renderer(links=LinkBuilder(reporting_base_url="http://127.0.0.1:8001")),
        engine=engine,
        ack_links=AckLinks(public_url="http://127.0.0.1:8002", secret=lambda: "b" * 32),
        clock=clock,
        escalations=escalations,
        groups=groups,
        group_window_seconds=window,
    )
    villages = [v.code for v in wilayah.list_wilayah("32.01.01")]  # Cibinong, Kab. Bogor
    storm = []
    for i in range(reports):
        severity = rng.choices(list(Severity), weights=(10, 50, 35, 5))[0]
        category = rng.choice([Category.KEAMANAN, Category.LOGISTIK, Category.BENCANA_ALAM])
        event = testing.classified(
            testing.submitted(region=rng.choice(villages)), category=category, severity=severity
        )
        storm.append((i * seconds / reports, ReportFacts.from_event(event.data)))
    start = clock()
    first_alert: float | None = None
    next_sweep = 1.0
    wall = time.perf_counter()
    for offset, report in storm:
        clock.now = start + timedelta(seconds=offset)
        while offset >= next_sweep:  # the periodic sweep, once per simulated second
            await notifier.flush_groups(grace_seconds=1)
            next_sweep += 1.0
        await notifier.handle_report(replace(report, received_at=clock()))
        if first_alert is None and sender.sent:
            first_alert = offset
    while not sender.sent or clock() < start + timedelta(seconds=seconds + window + 2):
        clock.advance(seconds=1)
        await notifier.flush_groups(grace_seconds=1)
        if first_alert is None and sender.sent:
            first_alert = (clock() - start).total_seconds()
    wall = time.perf_counter() - wall
    per_recipient = Counter(d.recipient_id for d in sender.sent)
    windows = [recorded[a] - sender.accepted[a] for a in recorded if a in sender.accepted]
    result: dict[str, Any] = {
        "reports": reports,
        "over_seconds": seconds,
        "group_window_seconds": window,
        "store": "mongodb" if mongo_url else "in-memory",
        "messages_total": len(sender.sent),
        "messages_per_recipient": dict(sorted(per_recipient.items())),
        "time_to_first_alert_s": first_alert,
        "wall_seconds_to_process": round(wall, 2),
        "reports_per_s_processed": round(reports / wall),
    }
    if mongo_url and windows:
        result["duplicate_window_ms_p50"] = round(statistics.median(windows) * 1000, 2)
        result["duplicate_window_ms_max"] = round(max(windows) * 1000, 2)
    if handle is not None:
        client, db = handle
        await client.drop_database(db.name)
        await client.close()
    return result


def _email_only(directory: Directory) -> Directory:
    """The example directory with every recipient on email only (one sender to count)."""
    recipients = [
        replace(r, addresses=tuple(a for a in r.addresses if a.channel == ChannelKind.EMAIL))
        for r in directory.recipients.values()
    ]
    return Directory(recipients=recipients, routes=directory.routes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=50_000, help="reports to route")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--storm", type=int, default=1000, help="reports in the storm")
    parser.add_argument("--storm-seconds", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=60.0, help="grouping window (s)")
    parser.add_argument("--mongo", help="MongoDB URL for the storm's stores (else in memory)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    import json

    print(json.dumps({"routing": bench_routing(n=args.reports, runs=args.runs, seed=args.seed)}))
    storm = asyncio.run(
        bench_storm(
            reports=args.storm,
            seconds=args.storm_seconds,
            window=args.window,
            seed=args.seed,
            mongo_url=args.mongo,
        )
    )
    print(json.dumps({"storm": storm}, ensure_ascii=False))


if __name__ == "__main__":
    main()
