"""Status changes, identity reads, statistics, exports and duplicates on the real stack."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pantau.localstack.testing import wait_for
from pantau.reporting import testing as reporting_events
from pantau.shared import testing as shared_events
from pantau.shared.auth import Role
from pantau.shared.events import Category, EncryptedIdentity, Location, Severity
from pantau.shared.identity import IdentityCipher

pytestmark = pytest.mark.integration


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _ingest(service: Any, publisher: Any, *events: Any) -> None:
    await publisher.publish(*events)
    ids = {e.subject for e in events}

    async def all_stored() -> bool:
        for rid in ids:
            doc = await service.app.state.store.get(rid)
            if not doc or not doc.get("submitted") or not doc.get("classification"):
                return False
        return True

    await wait_for(all_stored, timeout=30)


async def test_status_change_is_published_and_the_read_model_follows(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any
) -> None:
    submitted = shared_events.submitted(region="32.01.01")
    report_id = submitted.data.report_id
    await _ingest(service, publisher, submitted, shared_events.classified(submitted))
    liaison = _auth(token(Role.LIAISON, region="32.01"))

    resp = await http.post(
        f"/v1/reports/{report_id}/status",
        json={"status": "verified", "note": "Sudah dicek di lapangan"},
        headers=liaison,
    )
    assert resp.status_code == 202, resp.text
    # The document is not written by the request; only the consumed event changes it.

    async def verified() -> dict[str, Any] | None:
        body = (await http.get(f"/v1/reports/{report_id}", headers=liaison)).json()
        return body if body["status"] == "verified" else None

    body = await wait_for(verified, timeout=30)
    assert body["status_history"][-1]["note"] == "Sudah dicek di lapangan"
    assert body["status_history"][-1]["changed_by_role"] == "liaison"
    assert body["status_history"][-1]["event_id"] == resp.json()["event_id"]

    other_region = _auth(token(Role.LIAISON, region="32.04"))
    refused = await http.post(
        f"/v1/reports/{report_id}/status", json={"status": "resolved"}, headers=other_region
    )
    assert refused.status_code == 404
    invalid = await http.post(
        f"/v1/reports/{report_id}/status", json={"status": "duplicate"}, headers=liaison
    )
    assert invalid.status_code == 422
    self_dup = await http.post(
        f"/v1/reports/{report_id}/status",
        json={"status": "duplicate", "duplicate_of": report_id},
        headers=liaison,
    )
    assert self_dup.status_code == 422


async def test_identity_is_decrypted_for_admins_only_and_audited(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any, config: Any
) -> None:
    cipher = IdentityCipher(config.identity_keys.get_secret_value())
    report_id = f"rpt_identity_{datetime.now(UTC).timestamp():.0f}"
    sealed = EncryptedIdentity(
        name=cipher.seal("Siti Aminah", report_id=report_id, field="name"),
        phone=cipher.seal("+6281234567890", report_id=report_id, field="phone"),
    )
    submitted = shared_events.submitted(report_id=report_id, reporter=sealed)
    await _ingest(service, publisher, submitted, shared_events.classified(submitted))

    stored = await service.app.state.store.get(report_id)
    assert "Siti" not in json.dumps(stored, default=str)  # encrypted at rest
    public = await http.get(f"/v1/reports/{report_id}", headers=_auth(token(Role.OPERATOR)))
    assert public.json()["has_reporter_identity"] is True
    assert "Siti" not in public.text

    path = f"/v1/reports/{report_id}/reporter"
    reason = {"reason": "Verifikasi laporan kekerasan"}
    for role in (Role.OPERATOR, Role.LIAISON):
        denied = await http.get(path, params=reason, headers=_auth(token(role, region="32")))
        assert denied.status_code == 403
    admin = _auth(token(Role.ADMIN))
    assert (await http.get(path, headers=admin)).status_code == 422  # a reason is required
    opened = await http.get(path, params=reason, headers=admin)
    assert opened.status_code == 200
    assert opened.json()["reporter"] == {"name": "Siti Aminah", "phone": "+6281234567890"}

    audit = (await http.get("/v1/audit/identity", headers=admin)).json()["items"]
    entry = next(e for e in audit if e["audit_id"] == opened.json()["audit_id"])
    assert entry["report_id"] == report_id
    assert entry["role"] == "admin"
    assert entry["fields"] == ["name", "phone"]
    assert entry["reason"] == reason["reason"]


async def test_stats_count_reports_by_category_severity_hour_and_region(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any
) -> None:
    # A day of its own, far in the past, so other tests' reports do not mix in.
    day = datetime(2024, 2, 14, tzinfo=UTC)
    events = []
    plan = [
        ("32.01.01", 8, Category.POLITIK_UANG, Severity.HIGH),
        ("32.01.01", 8, Category.POLITIK_UANG, Severity.HIGH),
        ("32.01.02", 9, Category.KEAMANAN, Severity.CRITICAL),
        ("32.04.05", 9, Category.LOGISTIK, Severity.MEDIUM),
    ]
    for region, hour, category, severity in plan:
        submitted = shared_events.submitted(
            region=region, occurred_at=day + timedelta(hours=hour, minutes=5)
        )
        events += [
            submitted,
            shared_events.classified(submitted, category=category, severity=severity),
        ]
    await _ingest(service, publisher, *events)
    # Redelivery of everything must not change a count.
    await _ingest(service, publisher, *events)
    params = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
    operator = _auth(token(Role.OPERATOR))

    async def counted() -> dict[str, Any] | None:
        body = (
            await http.get("/v1/stats", params={**params, "region": "32"}, headers=operator)
        ).json()
        return body if body["total"] == 4 and "_none" not in body["by_category"] else None

    province = await wait_for(counted, timeout=30)
    assert province["by_category"] == {"keamanan": 1, "logistik": 1, "politik_uang": 2}
    assert province["by_severity"] == {"critical": 1, "high": 2, "medium": 1}
    assert province["by_region"] == {"32.01": 3, "32.04": 1}
    assert [h["hour"][11:13] for h in province["by_hour"]] == ["08", "09"]

    national = (await http.get("/v1/stats", params=params, headers=operator)).json()
    assert national["scope"] == "ID"
    assert national["by_region"]["32"] == 4
    assert national["region_names"]["32"] == "Jawa Barat"

    liaison = _auth(token(Role.LIAISON, region="32.01"))
    own = (await http.get("/v1/stats", params=params, headers=liaison)).json()
    assert own["scope"] == "32.01" and own["total"] == 3
    assert own["by_region"] == {"32.01.01": 2, "32.01.02": 1}
    other = await http.get("/v1/stats", params={**params, "region": "32.04"}, headers=liaison)
    assert other.status_code == 404
    high = await http.get(
        "/v1/stats", params={**params, "region": "32", "severity": "high"}, headers=operator
    )
    assert high.json()["total"] == 2
    # A window before year 1 cannot be computed: a clear 422, not a server error.
    edge = await http.get("/v1/stats", params={"to": "0001-01-01T00:00:00Z"}, headers=operator)
    assert edge.status_code == 422
    assert "out of range" in edge.json()["detail"]


async def test_exports_stream_csv_and_geojson_within_scope(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any
) -> None:
    marker = f"ekspor-{datetime.now(UTC).timestamp():.0f}"
    inside = shared_events.submitted(
        region="32.01.01",
        description=f"=HYPERLINK(bahaya) {marker}",
        location=Location(lat=-6.48, lon=106.85),
    )
    outside = shared_events.submitted(region="32.04.05", description=f"di luar {marker}")
    await _ingest(
        service,
        publisher,
        inside,
        outside,
        shared_events.classified(inside),
        shared_events.classified(outside),
    )
    liaison = _auth(token(Role.LIAISON, region="32.01"))
    resp = await http.get("/v1/reports/export.csv", params={"q": marker}, headers=liaison)
    assert resp.status_code == 200
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [r["report_id"] for r in rows] == [inside.data.report_id]
    assert rows[0]["description"].startswith("'=")  # no formula injection
    assert rows[0]["regency"] == "32.01"

    operator = _auth(token(Role.OPERATOR))
    geo = await http.get("/v1/reports/export.geojson", params={"q": marker}, headers=operator)
    collection = geo.json()
    assert collection["type"] == "FeatureCollection"
    by_id = {f["id"]: f for f in collection["features"]}
    assert set(by_id) == {inside.data.report_id, outside.data.report_id}
    assert by_id[inside.data.report_id]["geometry"]["coordinates"] == [106.85, -6.48]
    assert by_id[outside.data.report_id]["geometry"] is None


async def test_list_filters_sorting_and_cursor_pagination(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any
) -> None:
    marker = f"halaman{datetime.now(UTC).timestamp():.0f}"
    base = datetime(2024, 3, 1, 12, tzinfo=UTC)
    events, ids = [], []
    for n in range(7):
        submitted = shared_events.submitted(
            region="35.15.01", occurred_at=base + timedelta(minutes=n), description=f"{marker} {n}"
        )
        severity = Severity.CRITICAL if n % 2 else Severity.LOW
        events += [submitted, shared_events.classified(submitted, severity=severity)]
        ids.append(submitted.data.report_id)
    await _ingest(service, publisher, *events)
    operator = _auth(token(Role.OPERATOR))

    async def pages(params: dict[str, Any]) -> list[str]:
        seen, cursor = [], None
        while True:
            query = {**params, "q": marker, "limit": 3, **({"cursor": cursor} if cursor else {})}
            body = (await http.get("/v1/reports", params=query, headers=operator)).json()
            seen += [row["report_id"] for row in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return seen

    assert await pages({}) == list(reversed(ids))
    assert await pages({"sort": "occurred_at"}) == ids
    critical = await pages({"severity": "critical", "sort": "occurred_at"})
    assert critical == ids[1::2]
    window = await pages(
        {
            "from": (base + timedelta(minutes=2)).isoformat(),
            "to": (base + timedelta(minutes=4)).isoformat(),
            "sort": "occurred_at",
        }
    )
    assert window == ids[2:4]
    by_severity = await pages({"sort": "-severity"})
    assert set(by_severity[:3]) == set(ids[1::2])
    assert await pages({"region": "35.16"}) == []
    assert await pages({"status": "resolved"}) == []
    assert len(await pages({"region": "35.15.01", "category": "bencana_alam"})) == 7


async def test_possible_duplicates_match_place_category_time_and_text(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any
) -> None:
    at = datetime(2024, 2, 14, 6, tzinfo=UTC)
    village = "32.01.01.2001"
    original = shared_events.submitted(
        region=village, occurred_at=at, description="Serangan fajar: amplop uang dibagikan warga"
    )
    similar = shared_events.submitted(
        region=village,
        occurred_at=at + timedelta(hours=1),
        description="Warga menerima amplop uang serangan fajar pagi ini",
    )
    unrelated_text = shared_events.submitted(
        region=village, occurred_at=at, description="Kotak suara rusak terkena hujan"
    )
    far_in_time = shared_events.submitted(
        region=village, occurred_at=at + timedelta(days=2), description=similar.data.description
    )
    events = []
    for submitted in (original, similar, unrelated_text, far_in_time):
        events += [submitted, shared_events.classified(submitted, category=Category.POLITIK_UANG)]
    await _ingest(service, publisher, *events)
    resp = await http.get(
        f"/v1/reports/{original.data.report_id}/duplicates", headers=_auth(token(Role.OPERATOR))
    )
    assert resp.status_code == 200
    found = [c["report"]["report_id"] for c in resp.json()["candidates"]]
    assert found == [similar.data.report_id]


async def test_alert_log_and_pipeline_health(
    service: Any, http: httpx.AsyncClient, publisher: Any, token: Any
) -> None:
    submitted = shared_events.submitted()
    sent = reporting_events.alert(submitted.data.report_id)
    await _ingest(service, publisher, submitted, shared_events.classified(submitted), sent)
    operator = _auth(token(Role.OPERATOR))

    async def logged() -> bool:
        items = (await http.get("/v1/alerts", headers=operator)).json()["items"]
        return any(i["alert_id"] == sent.data.alert_id for i in items)

    await wait_for(logged, timeout=30)
    health = (await http.get("/v1/pipeline", headers=operator)).json()
    assert set(health["dlq_messages"]) == set(health["consumer_lag"]["reporting"])
    assert all(v >= 0 for v in health["consumer_lag"]["reporting"].values())
    liaison = await http.get("/v1/pipeline", headers=_auth(token(Role.LIAISON, region="32")))
    assert liaison.status_code == 403
