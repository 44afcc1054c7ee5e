"""The HTTP surface on the real stack: auth, scope, problem+json, operations endpoints."""

from typing import Any

import httpx
import pytest

from pantau.localstack.testing import wait_for
from pantau.shared import testing as shared_events
from pantau.shared.auth import Role

pytestmark = pytest.mark.integration


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _publish_and_wait(publisher: Any, service: Any, region: str) -> str:
    submitted = shared_events.submitted(region=region)
    await publisher.publish(submitted, shared_events.classified(submitted))
    report_id = submitted.data.report_id

    async def stored() -> bool:
        doc = await service.app.state.store.get(report_id)
        return bool(doc and doc["submitted"] and doc["classification"])

    await wait_for(stored, timeout=30)
    return report_id


async def test_liaison_of_one_regency_gets_nothing_from_another(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any
) -> None:
    bogor = await _publish_and_wait(publisher, service, "32.01.01")  # Kab. Bogor
    bandung = await _publish_and_wait(publisher, service, "32.04.05")  # Kab. Bandung
    liaison = _auth(token(Role.LIAISON, region="32.01"))

    own = await http.get(f"/v1/reports/{bogor}", headers=liaison)
    assert own.status_code == 200
    other = await http.get(f"/v1/reports/{bandung}", headers=liaison)
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    unknown = await http.get("/v1/reports/rpt_does_not_exist", headers=liaison)
    assert unknown.status_code == 404
    assert unknown.json()["title"] == other.json()["title"]

    for params in ({"region": "32.04"}, {"region": "32"}, {}):
        listed = await http.get("/v1/reports", params=params, headers=liaison)
        assert listed.status_code == 200
        ids = [row["report_id"] for row in listed.json()["items"]]
        assert bandung not in ids
        regencies = {row["region"]["regency"] for row in listed.json()["items"]}
        assert regencies <= {"32.01"}
    mine = await http.get("/v1/reports", params={"region": "32"}, headers=liaison)
    assert bogor in [row["report_id"] for row in mine.json()["items"]]

    operator = _auth(token(Role.OPERATOR))
    both = await http.get("/v1/reports", params={"region": "32", "limit": 200}, headers=operator)
    ids = [row["report_id"] for row in both.json()["items"]]
    assert bogor in ids and bandung in ids


async def test_auth_is_required_and_monitors_are_refused(
    http: httpx.AsyncClient, token: Any
) -> None:
    anonymous = await http.get("/v1/reports")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    monitor = await http.get("/v1/reports", headers=_auth(token(Role.MONITOR)))
    assert monitor.status_code == 403
    forged = await http.get("/v1/reports", headers=_auth("not.a.token"))
    assert forged.status_code == 401


async def test_invalid_filters_are_problem_json(http: httpx.AsyncClient, token: Any) -> None:
    headers = _auth(token(Role.OPERATOR))
    bad_region = await http.get("/v1/reports", params={"region": "3x.01"}, headers=headers)
    assert bad_region.status_code == 422
    assert bad_region.json()["errors"][0]["field"] == "region"
    bad_category = await http.get("/v1/reports", params={"category": "nope"}, headers=headers)
    assert bad_category.status_code == 422
    bad_cursor = await http.get("/v1/reports", params={"cursor": "garbage"}, headers=headers)
    assert bad_cursor.status_code == 400


async def test_operations_endpoints(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"kafka": True, "mongo": True}
    metrics = await http.get("/metrics")
    assert "pantau_messages_processed_total" in metrics.text
    asyncapi = (await http.get("/asyncapi.json")).json()
    assert asyncapi["asyncapi"].startswith("3.")
    assert any("pantau.reports.submitted" in name for name in asyncapi["channels"])
