"""After a broker restart aiokafka may stop intake's producer for good: intake answers
503 (never a 2xx), reports itself not ready, and reconnects with a new producer."""

import pytest

from pantau.intake.adapters.kafka import KafkaReportPublisher
from pantau.intake.config import Config
from pantau.intake.core.errors import PublishUnavailable
from pantau.localstack.testing import wait_for
from pantau.shared.testing import stop_sender_like_a_broker_restart, submitted

from ..conftest import make_config
from ..fakes import sealed
from .kafka_helpers import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def config(pantau_env: dict[str, str]) -> Config:
    return make_config(pantau_env)


async def test_a_stopped_producer_is_replaced_and_publishing_resumes(config: Config) -> None:
    publisher = KafkaReportPublisher(config=config)
    await publisher.start(wait=10)
    assert publisher.connected
    try:
        await stop_sender_like_a_broker_restart(publisher._producer)

        with pytest.raises(PublishUnavailable):
            await publisher.publish([sealed(submitted())], traceparent=None)
        assert not await publisher.ping()

        async def reconnected() -> bool:
            return publisher.connected and await publisher.ping()

        await wait_for(reconnected, timeout=20)
        event = submitted()
        await publisher.publish([sealed(event)], traceparent=None)
    finally:
        await publisher.stop()

    async with read_topic(config.kafka_bootstrap, config.topics.submitted) as reader:

        async def arrived() -> bool:
            return bool(reader.by_key(event.subject))

        await wait_for(arrived, timeout=20)
