"""Translation between the wire contract and the pure core."""

import uuid

from pantau.classifier.core import Classification, ReportInput
from pantau.shared.envelope import utcnow
from pantau.shared.events import ReportClassified, ReportClassifiedData, ReportSubmitted
from pantau.shared.regions import regency_key

SERVICE = "classifier"
# Classified event ids derive from (submitted event, rules version): redelivery of the
# same message republishes the same event id, so consumers deduplicate it for free.
_EVENT_NAMESPACE = uuid.UUID("6f1d7c52-4b7e-4d0e-9a63-3f2a8c0e5b11")


def report_input(event: ReportSubmitted) -> ReportInput:
    """The parts of a submitted report the classifier reads."""
    data = event.data
    return ReportInput(text=data.description, title=data.title, category_hint=data.category_hint)


def classified_event(event: ReportSubmitted, result: Classification) -> ReportClassified:
    """The ``report.classified`` event for one classified submission."""
    return ReportClassified.create(
        producer=SERVICE,
        subject=event.data.report_id,
        event_id=uuid.uuid5(_EVENT_NAMESPACE, f"{event.event_id}:{result.rules_version}"),
        data=ReportClassifiedData.for_report(
            event.data,
            category=result.category,
            secondary_categories=list(result.secondary_categories),
            severity=result.severity,
            confidence=result.confidence,
            institutions=list(result.institutions),
            explanation=result.explanation,
            rules_version=result.rules_version,
            classified_at=utcnow(),
        ),
    )


def partition_key(event: ReportSubmitted) -> str:
    """``report.classified`` is keyed by regency (or province when that is all we know)."""
    return regency_key(event.data.region.code)
