"""The classifier on the real broker: submitted in, classified out (keyed by regency),
a poison message to the DLQ while the next message still flows."""

import gc
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI

from pantau.classifier.config import Config
from pantau.classifier.main import GC_THRESHOLDS, create_app
from pantau.localstack.testing import wait_for
from pantau.shared import envelope
from pantau.shared.events import ReportClassified
from pantau.shared.testing import submitted

from ..conftest import make_config

pytestmark = pytest.mark.integration


@pytest.fixture
def config(pantau_env: dict[str, str]) -> Config:
    # A prefix per test: topics start empty, so assertions see only this test's events.
    prefix = f"{pantau_env['PANTAU_TOPIC_PREFIX']}{uuid4().hex[:6]}."
    return make_config(pantau_env, topic_prefix=prefix, retry_backoff_seconds=0.01)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    async with app.router.lifespan_context(app):
        yield


class TopicReader:
    """Collects every record of some topics, from the beginning."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self.records: list[ConsumerRecord[bytes, bytes]] = []

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[ConsumerRecord[bytes, bytes]]:
        batches = await self._consumer.getmany(timeout_ms=200)
        for recs in batches.values():
            self.records.extend(recs)
        return self.records

    def on(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        return [r for r in self.records if r.topic == topic]


@asynccontextmanager
async def reader(config: Config, *topics: str) -> AsyncIterator[TopicReader]:
    r = TopicReader(config.kafka_bootstrap, *topics)
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


@asynccontextmanager
async def producer(config: Config) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=config.kafka_bootstrap, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def classified_for(r: TopicReader, topic: str, report_id: str) -> list[Any]:
    return [rec for rec in r.on(topic) if json.loads(rec.value)["subject"] == report_id]


async def test_submitted_comes_out_classified_with_the_regency_key(config: Config) -> None:
    app = create_app(config)
    event = submitted(
        region="32.01.01",
        description="Banjir setinggi 1 meter merendam TPS 05, pemungutan suara ditunda.",
    )
    topics = config.topics
    async with running(app), reader(config, topics.classified) as r, producer(config) as p:
        await p.send_and_wait(
            topics.submitted,
            event.to_bytes(),
            key=event.subject.encode(),
            headers=[(envelope.HEADER_EVENT_TYPE, event.type.encode())],
        )

        async def arrived() -> list[Any]:
            await r.poll()
            return classified_for(r, topics.classified, event.subject)

        (record,) = await wait_for(arrived, timeout=30)
    assert record.key == b"32.01"
    # The partition aiokafka's own ``send`` picks for the key (Java client's murmur2).
    partitions = list(range(topics.all_with_partitions()[topics.classified]))
    assert record.partition == DefaultPartitioner()(b"32.01", partitions, partitions)
    out = ReportClassified.model_validate_json(record.value)
    assert out.data.category == "bencana_alam"
    assert out.data.severity == "high"
    assert out.data.institutions[:2] == ["KPU", "BPBD"]
    assert "banjir" in out.data.explanation
    assert out.data.rules_version == app.state.rules_version
    assert out.data.region == event.data.region
    assert dict(record.headers)[envelope.HEADER_EVENT_TYPE] == b"report.classified.v1"


async def test_poison_goes_to_dlq_and_the_next_message_flows(config: Config) -> None:
    app = create_app(config)
    topics = config.topics
    dlq = topics.dlq(topics.submitted)
    wrong_version = submitted().model_dump(mode="json") | {"type": "report.submitted.v9"}
    good = submitted(region="35.27", description="Ada serangan fajar, amplop dibagi timses")
    async with running(app), reader(config, topics.classified, dlq) as r, producer(config) as p:
        # Same key: one partition, so the good message comes strictly after the poison.
        await p.send_and_wait(topics.submitted, b"{not json", key=b"k")
        await p.send_and_wait(topics.submitted, json.dumps(wrong_version).encode(), key=b"k")
        await p.send_and_wait(topics.submitted, good.to_bytes(), key=b"k")

        async def settled() -> bool:
            await r.poll()
            return len(r.on(dlq)) == 2 and bool(classified_for(r, topics.classified, good.subject))

        await wait_for(settled, timeout=30)
    poison, unknown = r.on(dlq)
    assert poison.value == b"{not json"
    headers = {k: v.decode() for k, v in poison.headers}
    assert headers[envelope.HEADER_DLQ_ERROR_CLASS] == "ContractValidationError"
    assert headers[envelope.HEADER_DLQ_ORIGINAL_TOPIC] == topics.submitted
    assert json.loads(unknown.value)["type"] == "report.submitted.v9"
    (record,) = classified_for(r, topics.classified, good.subject)
    assert record.key == b"35.27"
    assert json.loads(record.value)["data"]["category"] == "politik_uang"


async def test_ops_endpoints(config: Config) -> None:
    app = create_app(config)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            metrics = await http.get("/metrics")
            assert "pantau_messages_processed_total" in metrics.text
            spec = (await http.get("/asyncapi.json")).json()
    channels = json.dumps(spec["channels"])
    assert config.topics.submitted in channels and config.topics.classified in channels


async def test_gc_thresholds_are_raised_while_running_and_restored(config: Config) -> None:
    app = create_app(config)
    before = gc.get_threshold()
    async with running(app):
        assert gc.get_threshold() == GC_THRESHOLDS != before
    assert gc.get_threshold() == before
