"""The pure fold: each source slot's merge rule, and order independence as a property."""

from datetime import timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantau.reporting import testing as reporting_events
from pantau.reporting.core.readmodel import derive, empty_state, fold
from pantau.shared import testing as shared_events
from pantau.shared.envelope import Event, utcnow
from pantau.shared.events import AlertStatus, Category, ReportStatus, Severity

REPORT_ID = "rpt_property"
T0 = utcnow().replace(microsecond=0)


def _with_id(event: Event, n: int) -> Event:
    return event.model_copy(update={"event_id": UUID(int=n)})


def _submitted(n: int, minutes: int) -> Event:
    event = shared_events.submitted(
        report_id=REPORT_ID,
        received_at=T0 + timedelta(minutes=minutes),
        occurred_at=T0 - timedelta(hours=1),
        client_report_id="11111111-1111-4111-8111-111111111111",
    )
    return _with_id(event, n)


def test_in_order_stream_gives_the_expected_view() -> None:
    submitted = shared_events.submitted(report_id=REPORT_ID)
    classified = shared_events.classified(
        submitted, category=Category.POLITIK_UANG, severity=Severity.HIGH
    )
    alert = reporting_events.alert(REPORT_ID, alert_id="a1", status=AlertStatus.SENT)
    acked = reporting_events.alert(
        REPORT_ID, alert_id="a1", status=AlertStatus.ACKNOWLEDGED, at=utcnow() + timedelta(1)
    )
    verified = reporting_events.status_change(REPORT_ID, status=ReportStatus.VERIFIED)
    view = derive(fold([submitted, classified, alert, acked, verified], report_id=REPORT_ID))
    assert view["category"] == "politik_uang"
    assert view["classification"]["severity"] == "high"
    assert view["status"] == "verified"
    assert view["alert_summary"] == {
        "total": 1,
        "by_status": {"acknowledged": 1},
        "acknowledged": True,
        "latest_at": view["alerts"][0]["at"],
    }
    assert view["region_path"] == ["32", "32.01", "32.01.01"]
    assert view["submission"]["reporter"] is None


def test_newest_rules_version_wins_in_natural_order() -> None:
    submitted = shared_events.submitted(report_id=REPORT_ID)
    v9 = shared_events.classified(submitted, category=Category.HOAKS, rules_version="2026.11.9")
    v10 = shared_events.classified(
        submitted, category=Category.LOGISTIK, rules_version="2026.11.10"
    )
    for stream in ([v9, v10], [v10, v9]):
        assert derive(fold(stream, report_id=REPORT_ID))["category"] == "logistik"


def test_status_follows_the_latest_change_not_the_latest_arrival() -> None:
    early = reporting_events.status_change(REPORT_ID, status=ReportStatus.VERIFIED, at=T0)
    late = reporting_events.status_change(
        REPORT_ID, status=ReportStatus.RESOLVED, at=T0 + timedelta(minutes=1)
    )
    state = fold([late, early], report_id=REPORT_ID)
    assert derive(state)["status"] == "resolved"
    assert [s["status"] for s in state["status_history"]] == ["verified", "resolved"]


def test_alert_only_state_is_kept_without_a_region() -> None:
    state = fold([reporting_events.alert(REPORT_ID)], report_id=REPORT_ID)
    view = derive(state)
    assert view["region_path"] == [] and view["occurred_at"] is None
    assert view["alert_summary"]["total"] == 1
    assert fold([], report_id=REPORT_ID) == empty_state(REPORT_ID)


def _alert_event(n: int, alert_id: str, status: AlertStatus, minutes: int) -> Event:
    event = reporting_events.alert(
        REPORT_ID, alert_id=alert_id, status=status, at=T0 + timedelta(minutes=minutes)
    )
    return _with_id(event, n)


def _status_event(n: int, status: ReportStatus, minutes: int) -> Event:
    event = reporting_events.status_change(
        REPORT_ID, status=status, at=T0 + timedelta(minutes=minutes)
    )
    return _with_id(event, n)


def _classified_event(n: int, version: str, category: Category, minutes: int) -> Event:
    source = shared_events.submitted(
        report_id=REPORT_ID, occurred_at=T0 - timedelta(hours=1), received_at=T0
    )
    event = shared_events.classified(source, category=category, rules_version=version)
    data = event.data.model_copy(update={"classified_at": T0 + timedelta(minutes=minutes)})
    return _with_id(event.model_copy(update={"data": data}), n)


# Small value ranges on purpose: equal times and versions force every tie-breaker to work.
_minutes = st.integers(min_value=0, max_value=3)
_event_specs = st.lists(
    st.one_of(
        st.tuples(st.just("submitted"), _minutes),
        st.tuples(
            st.just("classified"),
            st.sampled_from(["1", "2", "10"]),
            st.sampled_from([Category.HOAKS, Category.KEAMANAN]),
            _minutes,
        ),
        st.tuples(
            st.just("alert"), st.sampled_from(["a1", "a2"]), st.sampled_from(AlertStatus), _minutes
        ),
        st.tuples(st.just("status"), st.sampled_from(ReportStatus), _minutes),
    ),
    min_size=1,
    max_size=12,
)


def build_stream(specs: list[tuple[Any, ...]]) -> list[Event]:
    """Events from drawn specs; ids from positions, so equal specs are distinct events."""
    builders = {
        "submitted": lambda n, s: _submitted(n, s[1]),
        "classified": lambda n, s: _classified_event(n, s[1], s[2], s[3]),
        "alert": lambda n, s: _alert_event(n, s[1], s[2], s[3]),
        "status": lambda n, s: _status_event(n, s[1], s[2]),
    }
    return [builders[spec[0]](n + 1, spec) for n, spec in enumerate(specs)]


@st.composite
def stream_and_replay(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """An in-order stream and a shuffled copy of it with some events delivered again."""
    stream = build_stream(draw(_event_specs))
    repeats = draw(st.lists(st.sampled_from(stream), max_size=len(stream)))
    replay = draw(st.permutations(stream + repeats))
    return stream, replay


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream_and_replay())
def test_any_order_with_repeats_gives_the_in_order_state(
    streams: tuple[list[Event], list[Event]],
) -> None:
    in_order, replay = streams
    expected = fold(in_order, report_id=REPORT_ID)
    assert fold(replay, report_id=REPORT_ID) == expected
    assert derive(fold(replay, report_id=REPORT_ID)) == derive(expected)
