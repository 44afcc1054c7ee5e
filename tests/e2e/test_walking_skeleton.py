"""One report through the whole pipeline: HTTP → intake → Kafka → classifier →
notifier (mail in a real SMTP server) → reporting read model."""

import uuid
from datetime import timedelta

import httpx
import pytest

from pantau.localstack.testing import wait_for
from pantau.shared.auth import Role, issue_token
from pantau.shared.envelope import utcnow

pytestmark = pytest.mark.integration


def _token(env: dict[str, str], role: Role, **claims: str) -> str:
    return issue_token(secret=env["PANTAU_AUTH_SECRET"], issuer="pantau", role=role, **claims)


async def test_a_report_is_classified_alerted_and_readable(stack, pantau_env, smtp_sink):
    monitor = _token(pantau_env, Role.MONITOR, subject="monitor-e2e")
    operator = _token(pantau_env, Role.OPERATOR)
    body = {
        "client_report_id": str(uuid.uuid4()),
        "occurred_at": (utcnow() - timedelta(minutes=3)).isoformat(),
        "region_code": "3201011001",
        "tps": 7,
        "description": "Banjir setinggi pinggang merendam TPS 07, pemungutan suara ditunda.",
        "reporter": {"name": "Siti Rahma", "phone": "081234567890"},
        "anonymous": False,
    }
    async with httpx.AsyncClient(timeout=10) as http:
        posted = await http.post(
            f"{stack['intake'].url}/v1/reports",
            json=body,
            headers={"Authorization": f"Bearer {monitor}"},
        )
        assert posted.status_code == 202, posted.text
        report_id = posted.json()["report_id"]

        seen: dict[str, object] = {}

        async def read_model():
            got = await http.get(
                f"{stack['reporting'].url}/v1/reports/{report_id}",
                headers={"Authorization": f"Bearer {operator}"},
            )
            doc = got.json() if got.status_code == 200 else None
            seen["last"] = (got.status_code, doc)
            return doc if doc and doc.get("classification") and doc.get("alerts") else None

        try:
            doc = await wait_for(read_model, timeout=30)
        except AssertionError as exc:
            logs = "\n".join(f"--- {s.name}\n{s.log_tail(25)}" for s in stack.values())
            raise AssertionError(f"last read model: {seen.get('last')!r}\n{logs}") from exc

        # Operators see the end-to-end latency of each stage in the services' metrics
        # (recorded just after the write the read model shows, hence the wait).
        stages = (("classifier", "classified"), ("reporting", "read_model_classified"))
        for service, stage in stages:

            async def observed(service: str = service, stage: str = stage) -> float:
                metrics = (await http.get(f"{stack[service].url}/metrics")).text
                return _sample(metrics, "pantau_end_to_end_seconds_count", stage=stage)

            assert await wait_for(observed, timeout=10) >= 1

    assert doc["classification"]["category"] == "bencana_alam"
    assert doc["classification"]["severity"] in ("high", "critical")
    assert doc["status"] == "new"
    assert any(alert["status"] == "sent" for alert in _alerts(doc))

    async def mails_about_the_report():
        return [m for m in smtp_sink.messages() if report_id in m.get_body().get_content()]

    mails = await wait_for(mails_about_the_report, timeout=10)
    assert len(mails) == 1
    text = mails[0].get_body().get_content()
    assert "Siti Rahma" not in text and "081234567890" not in text  # identity never in alerts
    assert "Bogor" in text  # region named, not only coded


async def test_a_client_retry_maps_to_the_same_report(stack, pantau_env):
    monitor = _token(pantau_env, Role.MONITOR, subject="monitor-retry")
    body = {
        "client_report_id": str(uuid.uuid4()),
        "occurred_at": utcnow().isoformat(),
        "region_code": "32.01",
        "description": "Kotak suara tiba dalam keadaan rusak di gudang kecamatan.",
        "anonymous": True,
    }
    async with httpx.AsyncClient(timeout=10) as http:
        headers = {"Authorization": f"Bearer {monitor}"}
        first = await http.post(f"{stack['intake'].url}/v1/reports", json=body, headers=headers)
        again = await http.post(f"{stack['intake'].url}/v1/reports", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["report_id"] == again.json()["report_id"]


def _alerts(doc):
    alerts = doc["alerts"]
    return alerts.values() if isinstance(alerts, dict) else alerts


def _sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of the first series ``name`` carrying ``labels`` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return 0.0
