"""Rows of the CSV and GeoJSON exports, one report at a time (the adapter streams them)."""

import json
from typing import Any

CSV_COLUMNS = (
    "report_id",
    "occurred_at",
    "received_at",
    "region_code",
    "province",
    "regency",
    "district",
    "village",
    "tps",
    "category",
    "severity",
    "status",
    "alerts_total",
    "acknowledged",
    "lat",
    "lon",
    "title",
    "description",
)
# Cells starting with these run as formulas in spreadsheet programs (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Only these fields of a report are needed; loading less keeps the export lean.
EXPORT_PROJECTION = {
    key: 1
    for key in (
        "report_id",
        "occurred_at",
        "received_at",
        "region",
        "tps",
        "category",
        "severity",
        "status",
        "alert_summary",
        "location",
        "title",
        "description",
    )
}


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(report: dict[str, Any]) -> list[Any]:
    """One CSV row of a report, in ``CSV_COLUMNS`` order."""
    region = report.get("region") or {}
    location = report.get("location") or {}
    alerts = report.get("alert_summary") or {}
    values = (
        report.get("report_id"),
        _iso(report.get("occurred_at")),
        _iso(report.get("received_at")),
        region.get("code"),
        region.get("province"),
        region.get("regency"),
        region.get("district"),
        region.get("village"),
        report.get("tps"),
        report.get("category"),
        report.get("severity"),
        report.get("status"),
        alerts.get("total", 0),
        alerts.get("acknowledged", False),
        location.get("lat"),
        location.get("lon"),
        report.get("title"),
        report.get("description"),
    )
    return [_cell(v) for v in values]


def geojson_feature(report: dict[str, Any]) -> str:
    """One GeoJSON Feature (RFC 7946) of a report; no geometry when it has no location."""
    location = report.get("location")
    geometry = (
        {"type": "Point", "coordinates": [location["lon"], location["lat"]]} if location else None
    )
    region = report.get("region") or {}
    properties = {
        "report_id": report.get("report_id"),
        "occurred_at": _iso(report.get("occurred_at")),
        "region_code": region.get("code"),
        "tps": report.get("tps"),
        "category": report.get("category"),
        "severity": report.get("severity"),
        "status": report.get("status"),
        "title": report.get("title"),
        "description": report.get("description"),
    }
    feature = {
        "type": "Feature",
        "id": report.get("report_id"),
        "geometry": geometry,
        "properties": properties,
    }
    return json.dumps(feature, ensure_ascii=False, separators=(",", ":"))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
