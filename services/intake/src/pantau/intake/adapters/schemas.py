"""HTTP response models and OpenAPI examples (Indonesian, as clients will send them)."""

from typing import Any

from pydantic import BaseModel, Field

from pantau.shared.http import problem_responses as shared_problem_responses


class ReportAccepted(BaseModel):
    """Kafka holds the report; this is its id (the same for every retry)."""

    report_id: str = Field(examples=["rpt_5f0c3a1e9b7d4c2a8e6f1b3d5a7c9e0f"])


# What each error means at intake, where it says more than the shared default.
INTAKE_PROBLEMS = {
    400: "The body could not be read (not UTF-8 JSON).",
    409: "A replayed request.",
    422: "The body breaks a rule; `errors` lists each field path.",
    503: "Kafka is unreachable: nothing was stored; retry after `Retry-After`.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for 400 and the given error statuses, as problem+json
    (``pantau.shared.http.ProblemDetails``)."""
    wanted = (400, *statuses)
    overrides = {f"s{status}": text for status, text in INTAKE_PROBLEMS.items() if status in wanted}
    return shared_problem_responses(*wanted, **overrides)


REPORT_EXAMPLES: dict[str, dict[str, Any]] = {
    "banjir": {
        "summary": "Banjir merendam TPS (monitor dengan identitas)",
        "value": {
            "client_report_id": "0b6f3f2e-8a51-4c4e-9d7b-1f2a3b4c5d6e",
            "occurred_at": "2029-02-14T07:30:00+07:00",
            "region_code": "32.01.01.1002",
            "tps": 5,
            "title": "TPS 05 terendam banjir",
            "description": "Banjir setinggi 1 meter merendam TPS 05, pemungutan suara ditunda.",
            "category_hint": "bencana_alam",
            "location": {"lat": -6.4817, "lon": 106.854},
            "reporter": {"name": "Siti Rahmawati", "phone": "+6281234567890"},
            "anonymous": False,
        },
    },
    "politik_uang": {
        "summary": "Serangan fajar, anonim, kode wilayah tanpa titik",
        "value": {
            "client_report_id": "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
            "occurred_at": "2029-02-14T05:10:00+07:00",
            "region_code": "3201011002",
            "description": "Ada pembagian amplop berisi uang kepada warga menjelang subuh.",
            "anonymous": True,
            "attachments": [
                {
                    "url": "https://files.example.id/bukti/amplop.jpg",
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "media_type": "image/jpeg",
                    "size": 245760,
                }
            ],
        },
    },
}
