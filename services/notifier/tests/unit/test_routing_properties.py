"""Properties over arbitrary input: routing and rendering never raise on any Unicode in a
report's free-text fields or any region code shape, and give the same answer every time;
any Unicode on the classified topic either parses or fails as a contract error (→ DLQ)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantau.notifier.core.directory import Directory, parse_directory
from pantau.notifier.core.models import Language, ReportFacts
from pantau.notifier.core.render import LinkBuilder, Renderer
from pantau.notifier.core.routing import Router
from pantau.shared import regions
from pantau.shared.events import AlertKind, Category, ReportClassified, Severity
from pantau.shared.validation import ContractValidationError, parse_event

EXAMPLE = Path(__file__).parents[2] / "docs" / "routes.example.yaml"
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Codes the example routes name (so routes match), their children, codes in other
# provinces and time zones, and any well-formed code (mostly unknown to the region list).
KNOWN_CODES = ["32", "32.01", "32.01.01", "32.01.01.1002", "32.04.05", "51.71", "94.01", "11"]
region_codes = st.one_of(
    st.sampled_from(KNOWN_CODES),
    st.from_regex(r"\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?", fullmatch=True),
)
# Institutions arrive from the classifier as free text; the notifier maps known aliases.
institutions = st.lists(
    st.one_of(st.sampled_from(["KPU", "kpu ", "Bawaslu", "BPBD", "polri", "Gakkumdu"]), st.text()),
    max_size=5,
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def reports(draw: st.DrawFn) -> ReportFacts:
    code = draw(region_codes)
    return ReportFacts(
        report_id=draw(st.text(min_size=1, max_size=60)),
        region_code=code,
        regency=regions.regency_key(code),
        category=draw(st.sampled_from(Category)),
        severity=draw(st.sampled_from(Severity)),
        institutions=tuple(draw(institutions)),
        occurred_at=draw(moments),
        received_at=draw(moments),
        description=draw(st.text(max_size=1500)),
        title=draw(st.one_of(st.none(), st.text(max_size=200))),
        tps=draw(st.one_of(st.none(), st.integers(min_value=0, max_value=10_000))),
    )


@pytest.fixture(scope="module")
def directory() -> Directory:
    return parse_directory(EXAMPLE.read_text())


@SETTINGS
@given(report=reports())
def test_routing_any_report_is_deterministic_and_stays_in_the_directory(
    directory: Directory, report: ReportFacts
) -> None:
    first = Router(directory).decide(report, explain=True)
    # A fresh router over a freshly parsed directory: no hidden state decides anything.
    again = Router(parse_directory(EXAMPLE.read_text())).decide(report, explain=True)
    assert again == first
    assert Router(directory).decide(report).ladders == first.ladders
    assert {r.id for r in first.recipients} <= set(directory.recipients)
    levels = [*regions.ancestors(report.region_code), None]
    for ladder in first.ladders.values():
        # Most specific first, each level at most once, all on the report's own path.
        positions = [levels.index(rung.region) for rung in ladder]
        assert positions == sorted(set(positions))
    for step in (1, 2, 3):
        added = Router(directory).escalation_targets(first, step=step)
        assert added == Router(directory).escalation_targets(again, step=step)
        assert not {r.id for r in added} & {r.id for r in first.recipients}


@SETTINGS
@given(
    # One alert groups distinct reports: report_id is a report's identity.
    batch=st.lists(reports(), min_size=1, max_size=8, unique_by=lambda r: r.report_id),
    kind=st.sampled_from(AlertKind),
    language=st.sampled_from(Language),
)
def test_rendering_any_reports_is_deterministic_and_bounded(
    batch: list[ReportFacts], kind: AlertKind, language: Language
) -> None:
    renderer = Renderer(links=LinkBuilder(reporting_base_url="http://reporting.test/"))
    first = renderer.render(reports=batch, kind=kind, language=language, ack_url="http://a/ack")
    again = renderer.render(
        reports=list(reversed(batch)), kind=kind, language=language, ack_url="http://a/ack"
    )
    # Input order never matters, even when severity and received_at tie.
    assert again == first
    assert renderer.render(reports=batch, kind=kind, language=language) == renderer.render(
        reports=batch, kind=kind, language=language
    )
    assert first.subject.startswith("[Pantau]") and len(first.subject) <= 200
    assert first.data["count"] == len(batch)
    assert sorted(first.data["report_ids"]) == sorted(r.report_id for r in batch)


@SETTINGS
@given(body=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_bytes_on_the_classified_topic_parse_or_fail_as_a_contract_error(
    body: str | bytes,
) -> None:
    try:
        event = parse_event(body, ReportClassified)
    except ContractValidationError:
        return  # the consumer's MessageProcessor dead-letters exactly this error class
    ReportFacts.from_event(event.data)  # a valid event always becomes facts
