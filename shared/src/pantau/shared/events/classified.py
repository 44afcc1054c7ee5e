"""``report.classified.v1``: the classifier tagged a report. Key: the regency code.

It carries the report's public fields (never the reporter identity) so that the
notifier can alert without reading another topic.
"""

from enum import StrEnum
from typing import Any, ClassVar, Literal, Self

from pydantic import AwareDatetime, Field

from pantau.shared.envelope import Contract, Event
from pantau.shared.events.submitted import Channel, Location, RegionRef, ReportSubmittedData


class Category(StrEnum):
    BENCANA_ALAM = "bencana_alam"
    LOGISTIK = "logistik"
    DPT_PEMILIH = "dpt_pemilih"
    POLITIK_UANG = "politik_uang"
    NETRALITAS_ASN = "netralitas_asn"
    PELANGGARAN_ADMINISTRATIF = "pelanggaran_administratif"
    TINDAK_PIDANA_PEMILU = "tindak_pidana_pemilu"
    PELANGGARAN_KODE_ETIK = "pelanggaran_kode_etik"
    PEMUNGUTAN_SUARA_ULANG = "pemungutan_suara_ulang"
    KEAMANAN = "keamanan"
    HOAKS = "hoaks"
    GANGGUAN_TEKNIS = "gangguan_teknis"
    NOT_AN_INCIDENT = "not_an_incident"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class ReportClassifiedData(Contract):
    report_id: str
    region: RegionRef
    tps: int | None = None
    channel: Channel
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    title: str | None = None
    description: str
    location: Location | None = None
    category: Category
    secondary_categories: list[Category] = Field(default_factory=list)
    severity: Severity
    confidence: float = Field(ge=0, le=1)
    institutions: list[str] = Field(default_factory=list)
    explanation: str = Field(description="Which signals fired, in Indonesian.")
    rules_version: str
    classified_at: AwareDatetime

    @classmethod
    def for_report(cls, report: ReportSubmittedData, **classification: Any) -> Self:
        """The classified payload of ``report``: its public fields, never its reporter
        identity, plus ``classification`` (category, severity, ... classified_at)."""
        return cls(
            report_id=report.report_id,
            region=report.region,
            tps=report.tps,
            channel=report.channel,
            occurred_at=report.occurred_at,
            received_at=report.received_at,
            title=report.title,
            description=report.description,
            location=report.location,
            **classification,
        )


class ReportClassified(Event):
    TYPE: ClassVar[str] = "report.classified.v1"
    type: Literal["report.classified.v1"] = "report.classified.v1"
    data: ReportClassifiedData
