"""The group commit on the real broker: many concurrent reports share record batches, and
each gets its 202 only after Kafka acknowledged (acks=all) the batch holding it; all of
them are on the topic, each once, in the partition of its key."""

import asyncio
import functools
from typing import Any

import pytest
from aiokafka.record.default_records import DefaultRecordBatch

from pantau.intake.adapters.kafka import partition_for
from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.localstack.testing import wait_for
from pantau.shared.events import ReportSubmitted

from ..conftest import auth, make_config, report_body, serve
from .kafka_helpers import read_topic

pytestmark = pytest.mark.integration

CONCURRENT = 300


@pytest.fixture(scope="module")
def config(pantau_env: dict[str, str]) -> Config:
    return make_config(pantau_env, client_rate_limit="100000/minute")


def _record_acknowledgements(producer: Any, acknowledged: set[str], batches: list[int]) -> None:
    """Note the keys of every batch the moment Kafka acknowledges it (before intake's own
    callback, which is added after this one)."""
    send_batch = producer.send_batch

    def note(builder: Any, delivery: "asyncio.Future[Any]") -> None:
        if not delivery.cancelled() and delivery.exception() is None:
            for record in DefaultRecordBatch(bytearray(builder._build())):
                acknowledged.add(record.key.decode())

    async def noting_send_batch(builder: Any, topic: str, *, partition: int) -> Any:
        delivery = await send_batch(builder, topic, partition=partition)
        batches.append(builder.record_count())
        delivery.add_done_callback(functools.partial(note, builder))
        return delivery

    producer.send_batch = noting_send_batch


async def test_concurrent_reports_are_acknowledged_before_their_202(config: Config) -> None:
    app = create_app(config)
    acknowledged: set[str] = set()
    batch_sizes: list[int] = []
    answered_before_ack: list[str] = []
    async with serve(app) as client:
        publisher = app.state.publisher
        _record_acknowledgements(publisher._producer, acknowledged, batch_sizes)

        async def post(body: dict[str, Any]) -> str:
            response = await client.post("/v1/reports", json=body, headers=auth(config))
            assert response.status_code == 202, response.text
            report_id: str = response.json()["report_id"]
            if report_id not in acknowledged:
                answered_before_ack.append(report_id)
            return report_id

        ids = await asyncio.gather(*(post(report_body()) for _ in range(CONCURRENT)))
    assert answered_before_ack == []
    assert len(set(ids)) == CONCURRENT
    # Shared batches: fewer sends than reports.
    assert sum(batch_sizes) >= CONCURRENT
    assert len(batch_sizes) < CONCURRENT

    async with read_topic(config.kafka_bootstrap, config.topics.submitted) as reader:

        async def all_there() -> bool:
            return all(reader.by_key(report_id) for report_id in ids)

        await wait_for(all_there, timeout=30)
        mine = [r for r in reader.records if r.key and r.key.decode() in set(ids)]
    assert len(mine) == CONCURRENT  # each once
    partitions = config.topics.all_with_partitions()[config.topics.submitted]
    for record in mine:
        assert record.partition == partition_for(record.key, partitions)
        assert ReportSubmitted.model_validate_json(record.value).subject == record.key.decode()
