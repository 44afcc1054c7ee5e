"""What a client may send: the report body and its parts, with the syntactic rules.

Rules that need the clock (the ``occurred_at`` window) live in ``rules.py``; the
rest is declared here so that the OpenAPI schema documents them.
"""

import re
from functools import lru_cache
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from pantau.intake.core.text import clean_text
from pantau.shared import regions
from pantau.shared.events import Category

# Indonesia's bounding box with a small margin (Sabang ~95.3°E to Merauke ~141°E,
# Miangas ~5.6°N to Pulau Rote ~11°S).
INDONESIA_LAT = (-11.5, 6.5)
INDONESIA_LON = (94.5, 141.5)

ALLOWED_MEDIA_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "video/mp4",
    "video/quicktime",
    "audio/mpeg",
    "audio/ogg",
    "audio/aac",
    "application/pdf",
)
MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
MAX_ATTACHMENTS = 10


def _clean_multiline(value: object) -> object:
    return clean_text(value, multiline=True) if isinstance(value, str) else value


def _clean_line(value: object) -> object:
    return clean_text(value, multiline=False) if isinstance(value, str) else value


@lru_cache(maxsize=100_000)  # about 84,000 codes exist; a miss raises and is not cached
def _region_exists(code: str) -> str:
    try:
        return regions.validate(code)
    except regions.InvalidRegionCode as exc:
        raise ValueError(str(exc)) from exc


_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def _digits_only_phone(value: object) -> object:
    # People write 0812-3456-7890 or +62 812 3456 7890; keep a leading + and digits.
    if isinstance(value, str):
        return _PHONE_PUNCTUATION.sub("", clean_text(value, multiline=False))
    return value


Description = Annotated[
    str,
    BeforeValidator(_clean_multiline),
    Field(
        min_length=10,
        max_length=5000,
        description="What happened, 10–5,000 characters after trimming.",
    ),
]
Title = Annotated[str, BeforeValidator(_clean_line), Field(min_length=1, max_length=200)]
RegionCode = Annotated[
    str,
    BeforeValidator(_clean_line),
    Field(
        min_length=2,
        max_length=13,
        pattern=r"^[0-9]{2}(\.?[0-9]{2}(\.?[0-9]{2}(\.?[0-9]{4})?)?)?$",
        description=(
            "Kemendagri code, dotted or not: province `NN`, regency `NN.NN`, district "
            "`NN.NN.NN` or village `NN.NN.NN.NNNN`. Must exist in the Kemendagri list."
        ),
        examples=["32.01.01.1002", "3201011002", "32.01"],
    ),
    AfterValidator(_region_exists),
]


class StrictModel(BaseModel):
    """Unknown fields are an error: a typo must not silently lose data."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=10_000)


class LocationIn(StrictModel):
    """A point inside Indonesia (WGS 84)."""

    lat: float = Field(ge=-90, le=90, description="Latitude in degrees.", examples=[-6.4817])
    lon: float = Field(ge=-180, le=180, description="Longitude in degrees.", examples=[106.8540])

    @model_validator(mode="after")
    def _inside_indonesia(self) -> "LocationIn":
        if not (
            INDONESIA_LAT[0] <= self.lat <= INDONESIA_LAT[1]
            and INDONESIA_LON[0] <= self.lon <= INDONESIA_LON[1]
        ):
            raise ValueError(
                f"({self.lat}, {self.lon}) is outside Indonesia "
                f"(lat {INDONESIA_LAT[0]}..{INDONESIA_LAT[1]}, "
                f"lon {INDONESIA_LON[0]}..{INDONESIA_LON[1]})"
            )
        return self


class ReporterIn(StrictModel):
    """Who reports. Encrypted field by field before it leaves intake."""

    name: (
        Annotated[str, BeforeValidator(_clean_line), Field(min_length=1, max_length=200)] | None
    ) = Field(None, examples=["Siti Rahmawati"])
    phone: (
        Annotated[str, BeforeValidator(_digits_only_phone), Field(pattern=r"^\+?[0-9]{8,15}$")]
        | None
    ) = Field(None, examples=["+6281234567890"])
    email: (
        Annotated[
            str,
            BeforeValidator(_clean_line),
            Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        ]
        | None
    ) = Field(None, examples=["siti@example.id"])
    nik: Annotated[str, BeforeValidator(_clean_line), Field(pattern=r"^[0-9]{16}$")] | None = Field(
        None, description="16-digit Nomor Induk Kependudukan."
    )


class AttachmentIn(StrictModel):
    """Metadata of a file the client uploaded elsewhere (intake never stores files)."""

    url: Annotated[str, Field(max_length=2048, pattern=r"^https://[^\s/?#]+[^\s]*$")] = Field(
        description="Where the file is, over https."
    )
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the file, hex.")
    media_type: Literal[ALLOWED_MEDIA_TYPES] = Field(  # type: ignore[valid-type]
        description="One of the allowed media types."
    )
    size: int = Field(ge=1, le=MAX_ATTACHMENT_BYTES, description="Size in bytes.")


class ReportIn(StrictModel):
    """One incident report as a monitor app, the public form or the SMS parser sends it."""

    client_report_id: UUID = Field(
        description="The client's own id for this report; a retry reuses it."
    )
    occurred_at: AwareDatetime = Field(
        description="When it happened (RFC 3339 with offset); at most 10 minutes ahead."
    )
    region_code: RegionCode
    tps: int | None = Field(None, ge=1, le=999, description="Polling station (TPS) number.")
    title: Title | None = None
    description: Description
    category_hint: Category | None = Field(
        None, description="The reporter's guess at the category; the classifier decides."
    )
    location: LocationIn | None = None
    reporter: ReporterIn | None = None
    anonymous: bool = Field(False, description="`true` drops any reporter identity.")
    attachments: list[AttachmentIn] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS, description="Files, metadata only."
    )


PUBLIC_MAX_DESCRIPTION = 2000
PUBLIC_MAX_ATTACHMENTS = 3
BATCH_MAX_REPORTS = 500


class PublicReportIn(ReportIn):
    """A report from the public web form: anyone may send it, so less is accepted."""

    description: Annotated[  # type: ignore[assignment]
        str,
        BeforeValidator(_clean_multiline),
        Field(
            min_length=10,
            max_length=PUBLIC_MAX_DESCRIPTION,
            description="What happened, 10–2,000 characters after trimming.",
        ),
    ]
    attachments: list[AttachmentIn] = Field(
        default_factory=list, max_length=PUBLIC_MAX_ATTACHMENTS, description="Files, metadata only."
    )


class ReportBatchIn(StrictModel):
    """Up to 500 reports from a client that was offline; each one is judged on its own."""

    reports: list[ReportIn] = Field(min_length=1, max_length=BATCH_MAX_REPORTS)
