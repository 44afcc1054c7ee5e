"""Statistics, the alert log, the identity audit log and pipeline health for the dashboard."""

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from fastapi import APIRouter, Depends, Query

from pantau.reporting.adapters.api import AUTHED, READ_ROLES, reader_auth
from pantau.reporting.adapters.listing import MemoryListing
from pantau.reporting.adapters.store import ReportStore
from pantau.reporting.config import Config
from pantau.reporting.core import stats
from pantau.shared import regions
from pantau.shared.auth import Principal, Role
from pantau.shared.events import Category, Severity
from pantau.shared.http import Problem, problem_responses
from pantau.shared.topics import Topics

MAX_STATS_DAYS = 92


def stats_scope(principal: Principal, region: str | None) -> str:
    """The aggregate scope a caller asks for, checked against their region."""
    if region is not None:
        try:
            region = regions.normalize(region)
        except regions.InvalidRegionCode as exc:
            raise Problem(422, "Invalid request", str(exc)) from exc
    if principal.role in (Role.OPERATOR, Role.ADMIN):
        return region or stats.NATIONAL
    if principal.region is None:
        raise Problem(404, "Region not found", "no region is visible to you")
    if region is None:
        return principal.region
    if not principal.can_see_region(region):
        raise Problem(404, "Region not found", f"region {region} is not visible to you")
    return region


def stats_router(
    *, config: Config, store: ReportStore, listing: MemoryListing | None = None
) -> APIRouter:
    """``/v1/stats``: counts by region, category, severity and hour; from the listing
    index once it is loaded (the same counts, see ``ListingIndex.stats``), else from the
    store's aggregate buckets."""
    router = APIRouter(prefix="/v1", tags=["statistics"])
    Reader = Annotated[Principal, Depends(reader_auth(config, READ_ROLES))]

    @router.get(
        "/stats",
        summary="Report counts by category, severity, hour and region",
        responses=problem_responses(
            *AUTHED, 404, s404="The region does not exist or is outside the caller's region."
        ),
    )
    async def report_stats(
        principal: Reader,
        region: Annotated[str | None, Query(max_length=20)] = None,
        occurred_from: Annotated[datetime | None, Query(alias="from")] = None,
        occurred_to: Annotated[datetime | None, Query(alias="to")] = None,
        category: Annotated[list[Category], Query(max_length=20)] = [],  # noqa: B006
        severity: Annotated[list[Severity], Query(max_length=20)] = [],  # noqa: B006
    ) -> dict[str, Any]:
        """Counts of reports by incident hour (UTC), over `[from, to)` (default: the last
        24 hours), in a region's subtree (default: the caller's whole scope)."""
        scope = stats_scope(principal, region)
        end = (occurred_to or datetime.now(UTC)).astimezone(UTC)
        try:
            start = (occurred_from or end - timedelta(hours=24)).astimezone(UTC)
        except OverflowError as exc:  # `to` within a day of year 1
            raise Problem(422, "Invalid request", "`to` is out of range") from exc
        if start >= end:
            raise Problem(422, "Invalid request", "`from` must be before `to`")
        days = stats.days_between(start, end)
        if len(days) > MAX_STATS_DAYS:
            raise Problem(422, "Invalid request", f"at most {MAX_STATS_DAYS} days at once")
        categories = frozenset(c.value for c in category)
        severities = frozenset(s.value for s in severity)
        if listing is not None and listing.ready:
            summary = listing.index.stats(
                scope=scope, start=start, end=end, categories=categories, severities=severities
            )
        else:
            buckets = await store.buckets_for(scope=scope, days=days)
            summary = stats.summarize(
                buckets, start=start, end=end, categories=categories, severities=severities
            )
        codes = [c for c in (scope, *summary["by_region"]) if c != stats.NATIONAL]
        names = {code: regions.name(code) for code in codes} | {stats.NATIONAL: "Indonesia"}
        return {"scope": scope, "from": start, "to": end, **summary, "region_names": names}

    return router


PIPELINE_RETRY_AFTER_SECONDS = 5


def operations_router(*, config: Config, store: ReportStore) -> APIRouter:
    """The alert log, the identity audit log and pipeline health (operators)."""
    router = APIRouter(prefix="/v1", tags=["operations"])
    Operator = Annotated[Principal, Depends(reader_auth(config, (Role.OPERATOR, Role.ADMIN)))]
    Admin = Annotated[Principal, Depends(reader_auth(config, (Role.ADMIN,)))]

    @router.get(
        "/alerts", summary="The alert log, newest first", responses=problem_responses(*AUTHED)
    )
    async def alert_log(
        principal: Operator, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> dict[str, Any]:
        """Every alert transition notifier reported, newest first."""
        entries = await store.latest_alerts(limit=limit)
        return {"items": [{k: v for k, v in e.items() if k != "_id"} for e in entries]}

    @router.get(
        "/audit/identity",
        summary="Who read reporter identities",
        responses=problem_responses(*AUTHED),
    )
    async def identity_audit(
        principal: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> dict[str, Any]:
        """The identity audit log, newest first."""
        cursor = store.audit_log.find({}).sort([("at", -1)]).limit(limit)
        entries = await cursor.to_list(length=limit)
        return {"items": [{"audit_id": e.pop("_id"), **e} for e in entries]}

    @router.get(
        "/pipeline",
        summary="Consumer lag and dead-letter queue sizes",
        responses=problem_responses(401, 403, 503, s503="Kafka is unreachable; retry later."),
    )
    async def pipeline(principal: Operator) -> dict[str, Any]:
        """Per topic: reporting's consumer lag and the size of its DLQ."""
        try:
            return await pipeline_health(config)
        except (KafkaError, OSError, TimeoutError) as exc:
            # The dashboard polls this; an outage is an answer, not an internal error.
            raise Problem(
                503,
                "Kafka is unreachable",
                "Consumer lag and DLQ sizes need Kafka; retry later.",
                headers={"Retry-After": str(PIPELINE_RETRY_AFTER_SECONDS)},
            ) from exc

    return router


async def pipeline_health(config: Config) -> dict[str, Any]:
    """Lag of every service's consumer group on the four topics, and DLQ sizes."""
    topics = config.topics
    names = [topics.submitted, topics.classified, topics.alerts, topics.status]
    all_topics = [*names, *(Topics.dlq(n) for n in names)]
    admin = AIOKafkaAdminClient(bootstrap_servers=config.kafka_bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=config.kafka_bootstrap)
    try:
        await admin.start()
        await consumer.start()
        described = await admin.describe_topics(all_topics)
        partitions = [
            TopicPartition(topic["topic"], part["partition"])
            for topic in described
            if not topic.get("error_code")
            for part in topic["partitions"]
        ]
        ends = await consumer.end_offsets(partitions)
        begins = await consumer.beginning_offsets(partitions)
        groups: dict[str, dict[str, int]] = {}
        for service in ("reporting", "classifier", "notifier"):
            committed = await admin.list_consumer_group_offsets(config.group_id(service))
            groups[service] = {
                name: sum(
                    ends[tp] - committed[tp].offset
                    for tp in partitions
                    if tp.topic == name and tp in committed and committed[tp].offset >= 0
                )
                for name in names
            }
    finally:
        # Either may never have started (Kafka unreachable); closing is best effort.
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()
    dlq = {
        name: sum(ends[tp] - begins[tp] for tp in partitions if tp.topic == Topics.dlq(name))
        for name in names
    }
    return {"consumer_lag": groups, "dlq_messages": dlq}
