"""End to end on the real broker and store: events in, read model out over HTTP."""

from typing import Any

import httpx
import pytest

from pantau.localstack.testing import wait_for
from pantau.reporting import testing as reporting_events
from pantau.shared import testing as shared_events
from pantau.shared.auth import Role
from pantau.shared.events import AlertStatus, Category, Severity

pytestmark = pytest.mark.integration

# Bookkeeping of the compare-and-swap writes; everything else is the read model.
_VOLATILE = {"version", "write_token"}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _stored(service: Any, report_id: str) -> dict[str, Any] | None:
    doc = await service.app.state.store.get(report_id)
    return {k: v for k, v in doc.items() if k not in _VOLATILE} if doc else None


async def test_submitted_classified_and_alert_show_in_the_read_model(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any
) -> None:
    submitted = shared_events.submitted(region="32.01.01")
    report_id = submitted.data.report_id
    classified = shared_events.classified(
        submitted, category=Category.KEAMANAN, severity=Severity.CRITICAL
    )
    sent = reporting_events.alert(report_id, status=AlertStatus.SENT)
    await publisher.publish(submitted, classified, sent)
    headers = _auth(token(Role.OPERATOR))

    async def complete() -> dict[str, Any] | None:
        resp = await http.get(f"/v1/reports/{report_id}", headers=headers)
        body = resp.json() if resp.status_code == 200 else None
        return body if body and body["classification"] and body["alerts"] else None

    body = await wait_for(complete, timeout=30)
    assert body["report_id"] == report_id
    assert body["classification"]["category"] == "keamanan"
    assert body["classification"]["severity"] == "critical"
    assert body["status"] == "new"
    assert [a["alert_id"] for a in body["alerts"]] == [sent.data.alert_id]
    assert body["alerts"][0]["status"] == "sent"
    assert body["region"]["regency"] == "32.01"
    assert "reporter" not in body

    listed = await http.get("/v1/reports", params={"region": "32.01"}, headers=headers)
    assert listed.status_code == 200
    assert report_id in [row["report_id"] for row in listed.json()["items"]]

    # The same three events again: the stored document does not change at all.
    before = await service.app.state.store.get(report_id)
    marker = reporting_events.alert(report_id)  # a later event proves the redelivery was read
    await publisher.publish(submitted, classified, sent, marker)

    async def marker_seen() -> bool:
        doc = await service.app.state.store.get(report_id)
        return marker.data.alert_id in [a["alert_id"] for a in doc["alerts"]]

    await wait_for(marker_seen, timeout=30)
    after = await service.app.state.store.get(report_id)
    after["alerts"] = [a for a in after["alerts"] if a["alert_id"] != marker.data.alert_id]
    before_alerts = before["alerts"]
    assert after["alerts"] == before_alerts
    for key in ("submission", "classification_source", "status_history", "classification"):
        assert after[key] == before[key]


async def test_classified_before_submitted_gives_the_in_order_document(
    service: Any, publisher: Any
) -> None:
    # Two reports with the same content (apart from ids): one in order, one reversed.
    in_order = shared_events.submitted(region="32.01.01")
    reversed_ = shared_events.submitted(
        region="32.01.01",
        report_id=f"{in_order.data.report_id}-r",
        received_at=in_order.data.received_at,
        occurred_at=in_order.data.occurred_at,
    )
    classified_in_order = shared_events.classified(in_order)
    classified_reversed = shared_events.classified(reversed_)
    await publisher.publish(in_order, classified_in_order)
    await publisher.publish(classified_reversed)

    async def partial() -> dict[str, Any] | None:
        return await _stored(service, reversed_.data.report_id)

    early = await wait_for(partial, timeout=30)
    # Classified first: listable with its classification, not yet marked as submitted.
    assert early["classification"]["category"] == "bencana_alam"
    assert early["submitted"] is False
    await publisher.publish(reversed_)

    async def both_complete() -> tuple[dict[str, Any], dict[str, Any]] | None:
        a = await _stored(service, in_order.data.report_id)
        b = await _stored(service, reversed_.data.report_id)
        if a and b and a["submitted"] and b["submitted"] and a["classification"]:
            return a, b
        return None

    a, b = await wait_for(both_complete, timeout=30)
    assert _without_ids(a) == _without_ids(b)


def _without_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """A document with everything that names its own report or events blanked out."""
    out = {k: v for k, v in doc.items() if k not in ("_id", "report_id")}
    for source in ("submission", "classification_source"):
        out[source] = {
            k: v
            for k, v in out[source].items()
            if k not in ("event_id", "client_report_id", "classified_at")
        }
    out["classification"] = {k: v for k, v in out["classification"].items() if k != "classified_at"}
    return out


async def test_invalid_message_goes_to_the_dlq_and_the_batch_continues(
    service: Any, publisher: Any, config: Any
) -> None:
    from aiokafka import AIOKafkaConsumer

    dlq_topic = f"{config.topics.submitted}.dlq"
    good = shared_events.submitted()
    await publisher.broker.publish(
        b'{"not": "an event"}', topic=config.topics.submitted, key=b"rpt_bad"
    )
    await publisher.publish(good)

    async def stored() -> bool:
        return await service.app.state.store.get(good.data.report_id) is not None

    await wait_for(stored, timeout=30)
    consumer = AIOKafkaConsumer(
        dlq_topic, bootstrap_servers=config.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:

        async def dead_lettered() -> list[Any]:
            records = await consumer.getmany(timeout_ms=500)
            return [r for batch in records.values() for r in batch if r.key == b"rpt_bad"]

        found = await wait_for(dead_lettered, timeout=30)
        headers = {k: v.decode() for k, v in found[0].headers}
        assert headers["pantau-dlq-error-class"] == "ContractValidationError"
        assert headers["pantau-dlq-original-topic"] == config.topics.submitted
    finally:
        await consumer.stop()
