"""``report.submitted.v1``: intake accepted a report. Key: the report id."""

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from pantau.shared import regions
from pantau.shared.envelope import Contract, Event


class Channel(StrEnum):
    MONITOR = "monitor"
    PUBLIC = "public"
    SMS = "sms"


class Location(Contract):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class RegionRef(Contract):
    """A region code with its ancestors resolved, so consumers need no lookup."""

    code: str = Field(description="Most specific Kemendagri code given, dotted.")
    province: str
    regency: str | None = None
    district: str | None = None
    village: str | None = None

    @classmethod
    def from_code(cls, code: str) -> "RegionRef":
        chain = list(reversed(regions.ancestors(code)))  # province first
        padded = chain + [None] * (4 - len(chain))
        return cls(
            code=chain[-1],
            province=padded[0],  # type: ignore[arg-type]
            regency=padded[1],
            district=padded[2],
            village=padded[3],
        )


class EncryptedField(Contract):
    """One identity field sealed with AES-256-GCM; see ``pantau.shared.identity``."""

    kid: str = Field(description="Id of the key that sealed it, for rotation.")
    nonce: str = Field(description="96-bit nonce, base64url.")
    ciphertext: str = Field(description="Ciphertext and tag, base64url.")


class EncryptedIdentity(Contract):
    """Reporter identity: every field encrypted, never plaintext on Kafka."""

    name: EncryptedField | None = None
    phone: EncryptedField | None = None
    email: EncryptedField | None = None
    nik: EncryptedField | None = None


class Attachment(Contract):
    """Metadata of a file the reporter uploaded elsewhere; intake stores no files."""

    url: str = Field(description="https URL of the file.")
    sha256: str = Field(description="SHA-256 of the file, hex.")
    media_type: str
    size: int = Field(ge=0, description="Size in bytes.")


class ReportSubmittedData(Contract):
    report_id: str
    client_id: str = Field(description="Authenticated client (token subject) or channel id.")
    client_report_id: str
    channel: Channel
    received_at: AwareDatetime
    occurred_at: AwareDatetime
    region: RegionRef
    tps: int | None = Field(None, ge=1, le=999)
    title: str | None = None
    description: str
    category_hint: str | None = None
    location: Location | None = None
    anonymous: bool = False
    reporter: EncryptedIdentity | None = None
    attachments: list[Attachment] = Field(default_factory=list)


class ReportSubmitted(Event):
    TYPE: ClassVar[str] = "report.submitted.v1"
    type: Literal["report.submitted.v1"] = "report.submitted.v1"
    data: ReportSubmittedData
