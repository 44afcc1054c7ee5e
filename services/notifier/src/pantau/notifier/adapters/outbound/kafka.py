"""Alert lifecycle events to ``pantau.alerts``, keyed by report id."""

from faststream.kafka import KafkaBroker

from pantau.shared.events import AlertEvent
from pantau.shared.kafka import publish_event


class KafkaAlertPublisher:
    """``AlertPublisher`` on the shared broker (acks=all, idempotent producer)."""

    def __init__(self, *, broker: KafkaBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic

    async def publish(self, event: AlertEvent, *, key: str) -> None:
        await publish_event(self._broker, event, topic=self._topic, key=key)
