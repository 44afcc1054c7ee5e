"""The sealed event is written straight to JSON (no event model round trip): its bytes
must parse with the shared contract and equal, byte for byte, what the model path
(``ReportSubmitted.model_validate(...).model_dump_json()``) writes for the same values."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantau.intake.core.intake import Origin, ReportSealer, SealedReport
from pantau.intake.core.models import ALLOWED_MEDIA_TYPES, INDONESIA_LAT, INDONESIA_LON, ReportIn
from pantau.shared.events import Category, Channel, RegionRef, ReportSubmitted
from pantau.shared.identity import IDENTITY_FIELDS, IdentityCipher, generate_key

from ..conftest import report_body

FULL = {
    "title": "TPS 05 terendam",
    "category_hint": "bencana_alam",
    "region_code": "3201011002",
    "reporter": {"name": "Siti", "phone": "0812-3456-7890", "email": "s@x.id", "nik": "1" * 16},
    "attachments": [
        {
            "url": "https://f.example.id/a.jpg",
            "sha256": "a" * 64,
            "media_type": "image/jpeg",
            "size": 9,
        }
    ],
}
CIPHER = IdentityCipher(f"k1:{generate_key()}")
SEALER = ReportSealer(cipher=CIPHER)


def model_path_bytes(
    report: ReportIn, *, origin: Origin, received_at: datetime, sealed: ReportSubmitted
) -> bytes:
    """The event as the model path built it (the code before the direct JSON), with the
    random parts (event id, emission time, nonces) taken from ``sealed``."""
    data = sealed.data
    return ReportSubmitted.model_validate(
        {
            "event_id": sealed.event_id,
            "occurred_at": sealed.occurred_at,
            "producer": "intake",
            "subject": data.report_id,
            "data": {
                "report_id": data.report_id,
                "client_id": origin.client_id,
                "client_report_id": str(report.client_report_id),
                "channel": origin.channel,
                "received_at": received_at,
                "occurred_at": report.occurred_at,
                "region": RegionRef.from_code(report.region_code),
                "tps": report.tps,
                "title": report.title,
                "description": report.description,
                "category_hint": report.category_hint.value if report.category_hint else None,
                "location": (
                    {"lat": report.location.lat, "lon": report.location.lon}
                    if report.location
                    else None
                ),
                "anonymous": report.anonymous,
                "reporter": data.reporter,
                "attachments": [attachment.model_dump() for attachment in report.attachments],
            },
        }
    ).to_bytes()


def check_against_the_model_path(
    report: ReportIn, *, origin: Origin, received_at: datetime
) -> ReportSubmitted:
    out = SEALER.seal(report, origin=origin, received_at=received_at)
    assert isinstance(out, SealedReport)
    parsed = ReportSubmitted.model_validate_json(out.value)
    assert out.report_id == parsed.subject == parsed.data.report_id
    assert out.value == model_path_bytes(
        report, origin=origin, received_at=received_at, sealed=parsed
    )
    assert out.value == parsed.to_bytes()
    # Identity: present exactly when given and not anonymous, opens to the plaintext.
    reporter = report.reporter
    if (
        report.anonymous
        or reporter is None
        or not any(getattr(reporter, f) for f in IDENTITY_FIELDS)
    ):
        assert parsed.data.reporter is None
    else:
        assert parsed.data.reporter is not None
        for field in IDENTITY_FIELDS:
            plaintext = getattr(reporter, field)
            sealed = getattr(parsed.data.reporter, field)
            if not plaintext:
                assert sealed is None
                continue
            assert sealed is not None
            assert CIPHER.open(sealed, report_id=out.report_id, field=field) == plaintext
            assert plaintext.encode() not in out.value
    return parsed


@pytest.mark.parametrize(
    "overrides",
    [FULL, {"anonymous": True}, {"reporter": None, "location": None, "tps": None}],
    ids=["every-field", "anonymous", "minimal"],
)
def test_sealed_event_round_trips_through_the_contract(overrides: dict) -> None:
    report = ReportIn.model_validate(report_body(**overrides))
    origin = Origin(client_id="app-1", channel=Channel.MONITOR)
    parsed = check_against_the_model_path(report, origin=origin, received_at=datetime.now(UTC))
    assert parsed.data.region.code == "32.01.01.1002"
    assert parsed.data.region.regency == "32.01"
    if overrides is FULL:
        assert parsed.data.category_hint == "bencana_alam"
        assert parsed.data.reporter is not None and parsed.data.reporter.nik is not None


def test_each_event_has_its_own_id() -> None:
    report = ReportIn.model_validate(report_body(client_report_id=str(uuid4())))
    origin = Origin(client_id="app-1", channel=Channel.MONITOR)
    first = SEALER.seal(report, origin=origin, received_at=datetime.now(UTC))
    again = SEALER.seal(report, origin=origin, received_at=datetime.now(UTC))
    assert first.report_id == again.report_id
    parsed = [ReportSubmitted.model_validate_json(s.value) for s in (first, again)]
    assert parsed[0].event_id != parsed[1].event_id


# Generated reports: every optional field present or not, odd floats (tiny, negative
# zero, many digits), offsets, microseconds, non-ASCII text, each region level.
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1)
_offsets = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=7)),
        timezone(timedelta(hours=9)),
        timezone(-timedelta(hours=3, minutes=30)),
    ]
)


@st.composite
def report_bodies(draw: st.DrawFn) -> dict[str, Any]:
    now = datetime.now(UTC)
    occurred = now - timedelta(seconds=draw(st.integers(0, 3_000_000)))
    occurred = occurred.replace(microsecond=draw(st.sampled_from([0, 1, 500_000, 999_999])))
    body: dict[str, Any] = {
        "client_report_id": str(draw(st.uuids())),
        "occurred_at": occurred.astimezone(draw(_offsets)).isoformat(),
        "region_code": draw(
            st.sampled_from(["32", "32.01", "3201", "32.01.01", "32.01.01.1002", "3201011002"])
        ),
        "description": "Laporan: " + draw(_text.filter(lambda t: t.strip())),
        "anonymous": draw(st.booleans()),
    }
    if draw(st.booleans()):
        body["tps"] = draw(st.integers(1, 999))
    if draw(st.booleans()):
        body["title"] = "Judul " + draw(_text)
    if draw(st.booleans()):
        body["category_hint"] = draw(st.sampled_from(list(Category))).value
    if draw(st.booleans()):
        lat = st.floats(INDONESIA_LAT[0], INDONESIA_LAT[1], allow_nan=False)
        lon = st.floats(INDONESIA_LON[0], INDONESIA_LON[1], allow_nan=False)
        body["location"] = {
            "lat": draw(st.one_of(lat, st.sampled_from([0.0, -0.0, 1e-7, -5e-324]))),
            "lon": draw(lon),
        }
    if draw(st.booleans()):
        reporter = {
            "name": "Nama " + draw(_text),
            "phone": "08" + str(draw(st.integers(10**7, 10**12))),
            "email": draw(st.sampled_from(["a@b.id", "siti.r@contoh.go.id"])),
            "nik": str(draw(st.integers(10**15, 10**16 - 1))),
        }
        kept = draw(st.sets(st.sampled_from(IDENTITY_FIELDS)))
        body["reporter"] = {k: v for k, v in reporter.items() if k in kept}
    if draw(st.booleans()):
        body["attachments"] = [
            {
                "url": "https://f.example.id/"
                + draw(st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True)),
                "sha256": draw(st.from_regex(r"[0-9a-fA-F]{64}", fullmatch=True)),
                "media_type": draw(st.sampled_from(ALLOWED_MEDIA_TYPES)),
                "size": draw(st.integers(1, 100 * 1024 * 1024)),
            }
            for _ in range(draw(st.integers(1, 3)))
        ]
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=report_bodies(),
    channel=st.sampled_from(list(Channel)),
    client_id=st.sampled_from(["app-1", "public", "sms-gateway", "monitor-ü"]),
)
def test_generated_reports_equal_the_model_path(
    body: dict[str, Any], channel: Channel, client_id: str
) -> None:
    report = ReportIn.model_validate(body)
    origin = Origin(client_id=client_id, channel=channel)
    received_at = datetime.now(UTC)
    check_against_the_model_path(report, origin=origin, received_at=received_at)
