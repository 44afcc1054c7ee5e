"""Graceful shutdown: publishes in flight when the app stops still reach Kafka."""

import asyncio

import pytest

from pantau.intake.adapters.kafka import KafkaReportPublisher
from pantau.intake.config import Config
from pantau.localstack.testing import wait_for
from pantau.shared.testing import submitted

from ..conftest import make_config
from ..fakes import sealed
from .kafka_helpers import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def config(pantau_env: dict[str, str]) -> Config:
    return make_config(pantau_env)


async def test_stop_waits_for_in_flight_publishes(config: Config) -> None:
    publisher = KafkaReportPublisher(config=config)
    await publisher.start(wait=10)
    assert publisher.connected
    events = [submitted() for _ in range(200)]
    in_flight = [
        asyncio.create_task(publisher.publish([sealed(event)], traceparent=None))
        for event in events
    ]

    async def publishing() -> bool:
        return publisher.in_flight > 0

    await wait_for(publishing, timeout=5, interval=0.001)
    await publisher.stop()
    results = await asyncio.gather(*in_flight, return_exceptions=True)
    assert all(result is None for result in results), results

    wanted = {event.subject for event in events}
    async with read_topic(config.kafka_bootstrap, config.topics.submitted) as reader:

        async def all_there() -> bool:
            return wanted <= {record.key.decode() for record in reader.records if record.key}

        await wait_for(all_there, timeout=20)
