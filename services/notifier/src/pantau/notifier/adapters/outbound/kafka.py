"""Alert lifecycle events to ``pantau.alerts``, keyed by report id."""

from collections import OrderedDict
from datetime import datetime

from faststream.kafka import KafkaBroker

from pantau.shared.events import AlertEvent, AlertStatus
from pantau.shared.kafka import publish_event
from pantau.shared.telemetry import observe_end_to_end

SERVICE = "notifier"
REMEMBERED_REPORTS = 50_000


class AlertedLatency:
    """The ``alerted`` stage of ``pantau_end_to_end_seconds``: from intake's receipt of a
    report to the first alert about it that a channel accepted.

    Alerts name only report ids, so the consumer remembers each report's receipt time
    here (the newest ``limit`` reports; a report grouped longer than that, or across a
    restart, is not observed) and the first ``sent`` event about it observes and forgets.
    """

    def __init__(self, *, limit: int = REMEMBERED_REPORTS) -> None:
        self._limit = limit
        self._received: OrderedDict[str, datetime] = OrderedDict()

    def remember(self, report_id: str, received_at: datetime) -> None:
        self._received[report_id] = received_at
        self._received.move_to_end(report_id)
        while len(self._received) > self._limit:
            self._received.popitem(last=False)

    def observe(self, event: AlertEvent) -> None:
        if event.data.status != AlertStatus.SENT:
            return
        for report_id in event.data.report_ids:
            received_at = self._received.pop(report_id, None)
            if received_at is not None:
                observe_end_to_end(service=SERVICE, stage="alerted", received_at=received_at)


class KafkaAlertPublisher:
    """``AlertPublisher`` on the shared broker (acks=all, idempotent producer)."""

    def __init__(
        self, *, broker: KafkaBroker, topic: str, alerted: AlertedLatency | None = None
    ) -> None:
        self._broker = broker
        self._topic = topic
        self._alerted = alerted

    async def publish(self, event: AlertEvent, *, key: str) -> None:
        await publish_event(self._broker, event, topic=self._topic, key=key)
        if self._alerted is not None:
            self._alerted.observe(event)
