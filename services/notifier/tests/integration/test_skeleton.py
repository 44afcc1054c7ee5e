"""The walking skeleton end to end: real broker, real FerretDB/MongoDB, real SMTP sink."""

import json

import pytest

from pantau.localstack.testing import wait_for
from pantau.shared import testing
from pantau.shared.auth import Role
from pantau.shared.envelope import utcnow
from pantau.shared.events import (
    AlertEvent,
    ReportStatus,
    ReportStatusChanged,
    ReportStatusChangedData,
    Severity,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _mails_about(sink, report_id: str):
    return [m for m in sink.messages() if report_id in m.get_content()]


async def test_classified_report_sends_one_mail_records_it_and_announces_it(
    notifier_config, notifier_runner, smtp_sink
):
    config = notifier_config(alert_email_to="ops-skeleton@pantau.local")
    event = testing.classified(severity=Severity.HIGH)
    report_id = event.data.report_id
    async with notifier_runner(config) as running:
        ready = await running.http.get("/readyz")
        assert ready.status_code == 200, ready.text

        await running.publish(event)

        [mail] = await wait_for(lambda: _async(_mails_about(smtp_sink, report_id)))
        assert mail["To"] == "ops-skeleton@pantau.local"
        body = mail.get_content()
        assert "Kabupaten Bogor" in body and "Cibinong" in body
        assert "Bencana alam" in body and "TINGGI" in body
        assert f"{config.public_base_url}/v1/reports/{report_id}" in body

        async def alert_for_report():
            return [
                AlertEvent.model_validate_json(r.value)
                for r in running.alerts
                if r.key == report_id.encode()
            ]

        [alert] = await wait_for(alert_for_report)
        assert alert.data.status == "sent" and alert.data.channel == "email"
        assert alert.data.report_ids == [report_id]

        rows = await running.db.deliveries.find({"report_ids": report_id}).to_list(None)
        assert len(rows) == 1
        assert rows[0]["status"] == "sent" and rows[0]["target"] == "ops-skeleton@pantau.local"
        assert rows[0]["attempts"] == 1

        # The same event again (a Kafka redelivery): nothing new is sent or announced.
        await running.publish(event)
        marker = testing.classified(severity=Severity.LOW)
        await running.publish(marker)  # same regency → same partition, processed after it
        await wait_for(lambda: _async(_mails_about(smtp_sink, marker.data.report_id)))
        assert len(_mails_about(smtp_sink, report_id)) == 1
        assert len(await alert_for_report()) == 1
        assert await running.db.deliveries.count_documents({"report_ids": report_id}) == 1

        listed = await running.http.get(
            "/v1/alerts", params={"report_id": report_id}, headers=running.token()
        )
        assert listed.status_code == 200, listed.text
        [item] = listed.json()["items"]
        assert item["alert_id"] == alert.data.alert_id and item["status"] == "sent"
        one = await running.http.get(f"/v1/alerts/{item['alert_id']}", headers=running.token())
        assert one.status_code == 200 and one.json()["attempt_log"][0]["status"] == "sent"


async def test_api_needs_a_token_and_scopes_liaisons(notifier_config, notifier_runner, smtp_sink):
    config = notifier_config()
    event = testing.classified()  # Kabupaten Bogor, Jawa Barat
    async with notifier_runner(config) as running:
        await running.publish(event)

        async def listed():
            r = await running.http.get("/v1/alerts", headers=running.token())
            return r.json()["items"]

        [item] = await wait_for(listed)
        anonymous = await running.http.get("/v1/alerts")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        monitor = await running.http.get("/v1/alerts", headers=running.token(Role.MONITOR))
        assert monitor.status_code == 403

        bogor = running.token(Role.LIAISON, region="32.01")
        surabaya = running.token(Role.LIAISON, region="35.78")
        mine = await running.http.get("/v1/alerts", headers=bogor)
        assert [i["alert_id"] for i in mine.json()["items"]] == [item["alert_id"]]
        theirs = await running.http.get("/v1/alerts", headers=surabaya)
        assert theirs.json()["items"] == []
        hidden = await running.http.get(f"/v1/alerts/{item['alert_id']}", headers=surabaya)
        assert hidden.status_code == 404

        # Acknowledging needs the region too; the first acknowledgement wins.
        ack_path = f"/v1/alerts/{item['alert_id']}/ack"
        assert (await running.http.post(ack_path)).status_code == 401
        assert (await running.http.post(ack_path, headers=surabaya)).status_code == 404
        first = await running.http.post(ack_path, headers=bogor)
        assert first.status_code == 200 and first.json()["first"] is True
        again = await running.http.post(ack_path, headers=running.token())
        assert again.json()["first"] is False
        assert again.json()["acknowledged_by"] == first.json()["acknowledged_by"]
        acked = await running.http.get(f"/v1/alerts/{item['alert_id']}", headers=bogor)
        assert acked.json()["acknowledged_at"] is not None

        spec = await running.http.get("/asyncapi.json")
        channels = json.dumps(spec.json())
        assert config.topics.classified in channels and config.topics.alerts in channels
        metrics = await running.http.get("/metrics")
        assert "pantau_notifier_deliveries_total" in metrics.text


async def _async(value):
    return value


async def test_acting_on_a_report_acknowledges_its_alerts(notifier_config, notifier_runner):
    config = notifier_config()
    event = testing.classified(severity=Severity.CRITICAL)
    report_id = event.data.report_id
    async with notifier_runner(config) as running:
        await running.publish(event)

        async def sent():
            return await running.db.deliveries.find_one({"report_ids": report_id, "status": "sent"})

        await wait_for(sent)
        # The default route has nobody to escalate to, so it keeps no deadline.
        assert await running.db.escalations.count_documents({}) == 0
        status = ReportStatusChanged.create(
            producer="reporting",
            subject=report_id,
            data=ReportStatusChangedData(
                report_id=report_id,
                status=ReportStatus.IN_FOLLOW_UP,
                changed_by="liaison-kpu-bogor",
                changed_by_role="liaison",
                changed_at=utcnow(),
            ),
        )
        await running.publish_to(status, topic=config.topics.status, key=report_id)

        async def acknowledged():
            return [
                AlertEvent.model_validate_json(r.value)
                for r in running.alerts
                if r.key == report_id.encode() and b'"acknowledged"' in r.value
            ]

        [ack] = await wait_for(acknowledged)
        shown = await running.http.get(f"/v1/alerts/{ack.data.alert_id}", headers=running.token())
        assert shown.json()["acknowledged_by"] == "status:liaison-kpu-bogor"
