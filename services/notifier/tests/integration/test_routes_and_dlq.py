"""Routes reload without restart, the routes API, and the DLQ for invalid payloads."""

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pantau.localstack.testing import wait_for
from pantau.shared import envelope, testing
from pantau.shared.events import Category, Severity
from pantau.shared.topics import Topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROUTES = """
recipients:
  - {{id: ops, name: Ops, institution: Operator, region: national,
     channels: [{{channel: email, target: ops@{tag}.test}}]}}
{extra_recipients}
routes:
  - {{id: national, region: national, min_severity: critical, recipients: [ops]}}
{extra_routes}
"""


async def _now(value):
    return value


async def test_a_changed_routes_file_takes_effect_without_restart(
    tmp_path, notifier_config, notifier_runner, smtp_sink
):
    tag = tmp_path.name.replace("_", "-")[-20:]
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.format(tag=tag, extra_recipients="", extra_routes=""))
    config = notifier_config(notifier_routes_file=path)
    async with notifier_runner(config) as running:
        first = (await running.http.get("/v1/routes", headers=running.token())).json()
        assert [r["id"] for r in first["routes"]] == ["national"]

        path.write_text(
            ROUTES.format(
                tag=tag,
                extra_recipients=(
                    "  - {id: kpu-sby, name: KPU Surabaya, institution: KPU, region: '35.78',\n"
                    f"     channels: [{{channel: email, target: kpu-sby@{tag}.test}}]}}"
                ),
                extra_routes="  - {id: sby, region: '35.78', recipients: [kpu-sby]}",
            )
        )

        async def reloaded():
            now = (await running.http.get("/v1/routes", headers=running.token())).json()
            return now if now["version"] != first["version"] else None

        second = await wait_for(reloaded)
        assert {r["id"] for r in second["routes"]} == {"national", "sby"}
        assert await running.db.directory_versions.count_documents({}) == 2

        event = testing.classified(testing.submitted(region="35.78.01"), category=Category.LOGISTIK)
        await running.publish(event)
        [mail] = await wait_for(
            lambda: _now(
                [m for m in smtp_sink.messages() if event.data.report_id in m.get_content()]
            )
        )
        assert mail["To"] == f"kpu-sby@{tag}.test"

        # A broken edit is refused; the routes in force stay.
        path.write_text("routes: [ {id: oops, recipients: [nobody]} ]\nrecipients: []\n")

        async def refused():
            metrics = await running.http.get("/metrics")
            return 'pantau_notifier_routes_reloads_total{outcome="invalid"}' in metrics.text

        await wait_for(refused)
        explain = await running.http.post(
            "/v1/routes/explain",
            json={"region_code": "35.78.01", "category": "logistik", "severity": "high"},
            headers=running.token(),
        )
        assert explain.status_code == 200, explain.text
        assert explain.json()["recipients"] == ["kpu-sby"]
        assert explain.json()["version"] == second["version"]


async def test_an_invalid_payload_goes_to_the_dead_letter_topic(notifier_config, notifier_runner):
    config = notifier_config()
    async with notifier_runner(config) as running:
        producer = AIOKafkaProducer(bootstrap_servers=config.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                config.topics.classified, b'{"not": "an event"}', key=b"32.01"
            )
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            Topics.dlq(config.topics.classified),
            bootstrap_servers=config.kafka_bootstrap,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            record = await wait_for(lambda: _poll(consumer), timeout=30)
        finally:
            await consumer.stop()
        headers = {k: v.decode() for k, v in record.headers}
        assert headers[envelope.HEADER_DLQ_ERROR_CLASS] == "ContractValidationError"
        assert record.value == b'{"not": "an event"}'
        # The consumer carried on: a valid report after it is still alerted.
        event = testing.classified(severity=Severity.CRITICAL)
        await running.publish(event)

        async def sent():
            return await running.db.deliveries.find_one(
                {"report_ids": event.data.report_id, "status": "sent"}
            )

        await wait_for(sent)


async def _poll(consumer):
    batch = await consumer.getmany(timeout_ms=200)
    for records in batch.values():
        if records:
            return records[0]
    return None
