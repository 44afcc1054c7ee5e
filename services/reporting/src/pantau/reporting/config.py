"""Reporting's settings: the shared ones plus its own, all from ``PANTAU_*`` variables."""

from typing import Any, Literal

from pydantic import Field

from pantau.shared.settings import (
    AuthSettings,
    HttpSettings,
    IdentitySettings,
    KafkaSettings,
    MongoSettings,
    PantauSettings,
)

SERVICE = "reporting"
DATABASE_BASE_NAME = "pantau_reporting"


class ReportingSettings(PantauSettings):
    http_port: int = Field(8001, ge=1, le=65535, description="Port of the HTTP server.")
    batch_max_records: int = Field(
        500, ge=1, le=10_000, description="Most events consumed and written as one batch."
    )
    batch_timeout_ms: int = Field(
        100, ge=1, description="Longest wait for a batch to fill before writing what came."
    )
    mongo_max_pool_size: int = Field(
        16,
        ge=1,
        le=200,
        description=(
            "Most concurrent MongoDB connections of one process. FerretDB's SQLite backend "
            "holds one SQLite connection per running query (at most 100 per database), "
            "so an unbounded pool of slow scans can exhaust it."
        ),
    )
    page_size_max: int = Field(200, ge=1, description="Largest page the list endpoint returns.")
    identity_roles: tuple[str, ...] = Field(
        ("admin",), description="Roles allowed to read decrypted reporter identity (audited)."
    )
    sweep_interval_seconds: float = Field(
        300, gt=0, description="How often applied aggregate op ids left by crashes are swept."
    )
    reporting_write_cache_mb: float = Field(
        8,
        ge=0,
        le=1024,
        description=(
            "Memory for the report documents this process wrote last, so that the next "
            "events of a report skip reloading it, and half as much again for the "
            "statistics buckets of the single writer (FerretDB) "
            "(PANTAU_REPORTING_WRITE_CACHE_MB; 0: off)."
        ),
    )
    reporting_listing_index: Literal["auto", "memory", "store"] = Field(
        "auto",
        description=(
            "Where list pages are found (PANTAU_REPORTING_LISTING_INDEX). `memory`: an "
            "index in this process, loaded from the store at start-up and fed by this "
            "process's own consumer; `store`: MongoDB queries on its indexes; `auto`: "
            "`memory` on FerretDB (which filters and sorts by decoding every document), "
            "`store` on MongoDB."
        ),
    )
    listing_load_batch: int = Field(
        200,
        ge=1,
        le=100_000,
        description=(
            "Documents per batch of the listing index load (small batches leave less "
            "allocator slack among the index's long-lived objects: 166 MB RSS at 100,000 "
            "reports with 200, 178 MB with 2,000)."
        ),
    )
    dashboard_refresh_seconds: int = Field(
        15, ge=2, description="How often the dashboard reloads its figures."
    )


class Config(
    KafkaSettings, MongoSettings, AuthSettings, IdentitySettings, HttpSettings, ReportingSettings
):
    """Everything reporting reads from its environment."""


def get_config(**overrides: Any) -> Config:
    """The configuration from the environment, with explicit overrides (tests) on top."""
    return Config(**overrides)
