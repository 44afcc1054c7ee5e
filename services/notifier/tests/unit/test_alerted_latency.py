"""The notifier's ``alerted`` stage of ``pantau_end_to_end_seconds``."""

from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY

from pantau.notifier.adapters.outbound.kafka import AlertedLatency, KafkaAlertPublisher
from pantau.shared.envelope import utcnow
from pantau.shared.events import AlertEvent, AlertEventData, AlertKind, AlertStatus


def _count() -> float:
    labels = {"service": "notifier", "stage": "alerted"}
    return REGISTRY.get_sample_value("pantau_end_to_end_seconds_count", labels) or 0.0


def _sum() -> float:
    labels = {"service": "notifier", "stage": "alerted"}
    return REGISTRY.get_sample_value("pantau_end_to_end_seconds_sum", labels) or 0.0


def _event(status: AlertStatus, *report_ids: str) -> AlertEvent:
    return AlertEvent.create(
        producer="notifier",
        subject=report_ids[0],
        data=AlertEventData(
            alert_id=f"alt_{report_ids[0]}_{status.value}",
            report_ids=list(report_ids),
            recipient_id="kpu-bogor",
            channel="email",
            kind=AlertKind.INITIAL,
            status=status,
            at=utcnow(),
        ),
    )


class RecordingBroker:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, body: bytes, **kwargs: Any) -> None:
        self.published.append(kwargs)


async def test_the_first_sent_alert_of_a_report_observes_the_alerted_stage() -> None:
    alerted = AlertedLatency()
    publisher = KafkaAlertPublisher(
        broker=RecordingBroker(),  # type: ignore[arg-type]
        topic="pantau.alerts",
        alerted=alerted,
    )
    alerted.remember("rpt_a", utcnow() - timedelta(seconds=3))
    alerted.remember("rpt_b", utcnow() - timedelta(seconds=1))
    count, total = _count(), _sum()

    await publisher.publish(_event(AlertStatus.FAILED, "rpt_a"), key="rpt_a")
    assert _count() == count  # a failed delivery alerted nobody

    await publisher.publish(_event(AlertStatus.SENT, "rpt_a", "rpt_b"), key="rpt_a")
    assert _count() == count + 2
    assert 3.5 < _sum() - total < 10

    await publisher.publish(_event(AlertStatus.SENT, "rpt_a"), key="rpt_a")
    assert _count() == count + 2  # the second recipient's alert is not a new first alert


def test_only_the_newest_reports_are_remembered() -> None:
    alerted = AlertedLatency(limit=2)
    for report_id in ("rpt_1", "rpt_2", "rpt_3"):
        alerted.remember(report_id, utcnow())
    count = _count()
    alerted.observe(_event(AlertStatus.SENT, "rpt_1", "rpt_2", "rpt_3"))
    assert _count() == count + 2
