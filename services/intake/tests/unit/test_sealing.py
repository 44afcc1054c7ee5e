"""The sealed event satisfies the contract and round-trips through it unchanged."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from pantau.intake.core.intake import Origin, ReportSealer
from pantau.intake.core.models import ReportIn
from pantau.shared.events import Channel, ReportSubmitted
from pantau.shared.identity import IdentityCipher, generate_key

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


@pytest.mark.parametrize(
    "overrides",
    [FULL, {"anonymous": True}, {"reporter": None, "location": None, "tps": None}],
    ids=["every-field", "anonymous", "minimal"],
)
def test_sealed_event_round_trips_through_the_contract(overrides: dict) -> None:
    report = ReportIn.model_validate(report_body(**overrides))
    sealer = ReportSealer(cipher=IdentityCipher(f"k1:{generate_key()}"))
    event = sealer.seal(
        report,
        origin=Origin(client_id="app-1", channel=Channel.MONITOR),
        received_at=datetime.now(UTC),
    )
    parsed = ReportSubmitted.model_validate_json(event.to_bytes())
    assert parsed == event
    assert parsed.to_bytes() == event.to_bytes()
    assert parsed.data.region.code == "32.01.01.1002"
    assert parsed.data.region.regency == "32.01"
    if report.anonymous:
        assert parsed.data.reporter is None
    if overrides is FULL:
        assert parsed.data.category_hint == "bencana_alam"
        assert parsed.data.reporter is not None and parsed.data.reporter.nik is not None
        assert b"Siti" not in event.to_bytes()


def test_each_event_has_its_own_id() -> None:
    report = ReportIn.model_validate(report_body(client_report_id=str(uuid4())))
    sealer = ReportSealer(cipher=IdentityCipher(f"k1:{generate_key()}"))
    origin = Origin(client_id="app-1", channel=Channel.MONITOR)
    first = sealer.seal(report, origin=origin, received_at=datetime.now(UTC))
    again = sealer.seal(report, origin=origin, received_at=datetime.now(UTC))
    assert first.subject == again.subject
    assert first.event_id != again.event_id
