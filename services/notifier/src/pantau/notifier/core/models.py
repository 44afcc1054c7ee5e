"""Domain types of the notifier, kept apart from the wire contracts."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pantau.notifier.core.institutions import lenient_institution
from pantau.shared.events import AlertKind, Category, ReportClassifiedData, Severity


class ChannelKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    TELEGRAM = "telegram"
    APPRISE = "apprise"


class Language(StrEnum):
    ID = "id"
    EN = "en"


class DeliveryStatus(StrEnum):
    """A ledger row's state. ``pending`` is the intent recorded before sending."""

    PENDING = "pending"
    RETRY_SCHEDULED = "retry_scheduled"
    SENT = "sent"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    SUPPRESSED = "suppressed"


TERMINAL_STATUSES = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.FAILED,
        DeliveryStatus.DEAD_LETTERED,
        DeliveryStatus.SUPPRESSED,
    }
)


@dataclass(frozen=True)
class Address:
    """Where one channel reaches a recipient: an email address, a URL, a chat id."""

    channel: ChannelKind
    target: str
    secret_env: str | None = None  # webhook signing secret: the variable's name, never the value


@dataclass(frozen=True)
class Recipient:
    id: str
    name: str
    institution: str
    region: str | None  # None = national scope
    addresses: tuple[Address, ...]
    language: Language = Language.ID
    contact_order: int = 0  # 0 = first contact of its institution and region; 1 = the next...


@dataclass(frozen=True)
class Route:
    id: str
    region: str | None  # None = national
    recipients: tuple[str, ...]
    categories: frozenset[Category] = frozenset()  # empty = every category
    min_severity: Severity = Severity.LOW
    institutions: frozenset[str] = frozenset()  # empty = whoever acts first

    def rejects(self, report: "ReportFacts") -> str | None:
        """Why this route does not take ``report``, or ``None`` when it does."""
        if self.categories and report.category not in self.categories:
            wanted = sorted(c.value for c in self.categories)
            return f"category {report.category.value} not in {wanted}"
        if report.severity.rank < self.min_severity.rank:
            return f"severity {report.severity.value} below {self.min_severity.value}"
        if self.institutions and not (self.institutions & set(report.institutions)):
            return (
                f"institutions {sorted(report.institutions)} do not include "
                f"{sorted(self.institutions)}"
            )
        return None


@dataclass(frozen=True)
class ReportFacts:
    """What the notifier needs of a classified report. Never the reporter's identity."""

    report_id: str
    region_code: str
    regency: str  # the classified topic's key: regency, or province when that is all
    category: Category
    severity: Severity
    institutions: tuple[str, ...]
    occurred_at: datetime
    received_at: datetime
    description: str
    title: str | None = None
    tps: int | None = None

    @classmethod
    def from_event(cls, data: ReportClassifiedData) -> "ReportFacts":
        return cls(
            report_id=data.report_id,
            region_code=data.region.code,
            regency=data.region.regency or data.region.province,
            category=data.category,
            severity=data.severity,
            institutions=tuple(lenient_institution(i) for i in data.institutions),
            occurred_at=data.occurred_at,
            received_at=data.received_at,
            description=data.description,
            title=data.title,
            tps=data.tps,
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "region_code": self.region_code,
            "regency": self.regency,
            "category": self.category.value,
            "severity": self.severity.value,
            "institutions": list(self.institutions),
            "occurred_at": self.occurred_at,
            "received_at": self.received_at,
            "description": self.description,
            "title": self.title,
            "tps": self.tps,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "ReportFacts":
        return cls(
            report_id=doc["report_id"],
            region_code=doc["region_code"],
            regency=doc["regency"],
            category=Category(doc["category"]),
            severity=Severity(doc["severity"]),
            institutions=tuple(doc.get("institutions") or ()),
            occurred_at=doc["occurred_at"],
            received_at=doc["received_at"],
            description=doc["description"],
            title=doc.get("title"),
            tps=doc.get("tps"),
        )


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for a channel: subject and plain text, plus structured data."""

    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient over one channel: the ledger's unit."""

    alert_id: str
    subject_id: str  # the report id, or the group id of a grouped alert
    report_ids: tuple[str, ...]
    recipient_id: str
    channel: ChannelKind
    target: str
    kind: AlertKind
    region_code: str
    regency: str
    category: Category
    severity: Severity
    message: RenderedMessage
    secret_env: str | None = None
    escalation_level: int = 0
