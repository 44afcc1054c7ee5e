"""Pure helpers: aggregate deltas and summaries, duplicate scoring, export rows, cursors."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from pantau.reporting.core import stats
from pantau.reporting.core.duplicates import DuplicateRules, score, similarity
from pantau.reporting.core.export import csv_row, geojson_feature
from pantau.reporting.core.query import InvalidCursor, SortOrder, decode_cursor, encode_cursor

AT = datetime(2024, 2, 14, 8, 30, tzinfo=UTC)


def _report(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "report_id": "r1",
        "occurred_at": AT,
        "region_path": ["32", "32.01", "32.01.01"],
        "category": "politik_uang",
        "severity": "high",
        "tps": 5,
        "description": "Serangan fajar amplop uang dibagikan",
    }
    return base | fields


def test_a_report_counts_once_at_every_level_and_by_child_region() -> None:
    contribution = stats.contribution(_report())
    assert contribution is not None
    deltas = stats.deltas(contribution, 1)
    assert deltas[("ID|2024-02-14", "c.h08.politik_uang.high")] == 1
    assert deltas[("ID|2024-02-14", "r.32.politik_uang.high")] == 1
    assert deltas[("32.01|2024-02-14", "r.32_01_01.politik_uang.high")] == 1
    assert deltas[("32.01.01|2024-02-14", "c.h08.politik_uang.high")] == 1
    assert len(deltas) == 7  # 4 scopes' hour counts + 3 child-region counts


def test_reclassification_moves_the_count_and_nothing_else() -> None:
    before = stats.contribution(_report(category=None, severity=None))
    after = stats.contribution(_report())
    change = stats.change(before, after)
    assert set(change.values()) == {-1, 1}
    assert sum(change.values()) == 0
    assert stats.change(after, after) == {}
    assert stats.contribution(_report(region_path=[])) is None


def test_summary_respects_the_interval_and_filters() -> None:
    bucket = {
        "day": "2024-02-14",
        "c": {"h08": {"politik_uang": {"high": 2}}, "h10": {"keamanan": {"critical": 1}}},
        "r": {"32_01": {"politik_uang": {"high": 2}, "keamanan": {"critical": 1}}},
    }
    whole_day = stats.summarize([bucket], start=AT.replace(hour=0), end=AT.replace(hour=23))
    assert whole_day["total"] == 3
    assert whole_day["by_region"] == {"32.01": 3}
    morning = stats.summarize([bucket], start=AT.replace(hour=8), end=AT.replace(hour=9))
    assert morning["by_category"] == {"politik_uang": 2}
    critical = stats.summarize(
        [bucket],
        start=AT.replace(hour=0),
        end=AT.replace(hour=23),
        severities=frozenset({"critical"}),
    )
    assert critical["total"] == 1
    assert stats.days_between(AT, AT + timedelta(days=1)) == [AT.date(), AT.date() + timedelta(1)]


def test_duplicates_need_same_place_category_time_window_and_similar_text() -> None:
    rules = DuplicateRules()
    original = _report()
    similar = _report(report_id="r2", description="Amplop uang serangan fajar dibagikan warga")
    assert score(original, similar, rules=rules) is not None
    assert score(original, original, rules=rules) is None
    assert score(original, _report(report_id="r3", category="keamanan"), rules=rules) is None
    assert score(original, _report(report_id="r4", tps=6), rules=rules) is None
    later = _report(report_id="r5", occurred_at=AT + timedelta(hours=7))
    assert score(original, later, rules=rules) is None
    assert similarity("Banjir di TPS", "Kotak suara hilang") == 0.0


def test_export_rows_neutralise_formulas_and_locate_features() -> None:
    row = csv_row(_report(description="=cmd()", region={"code": "32.01.01"}))
    assert "'=cmd()" in row
    feature = json.loads(geojson_feature(_report(location={"lat": -6.5, "lon": 106.8})))
    assert feature["geometry"] == {"type": "Point", "coordinates": [106.8, -6.5]}
    assert json.loads(geojson_feature(_report()))["geometry"] is None


def test_cursors_round_trip_and_reject_tampering() -> None:
    cursor = encode_cursor(order=SortOrder.NEWEST, value=AT, report_id="r1")
    assert decode_cursor(cursor, order=SortOrder.NEWEST) == (AT, "r1")
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, order=SortOrder.OLDEST)
    with pytest.raises(InvalidCursor):
        decode_cursor("bm90IGpzb24", order=SortOrder.NEWEST)
