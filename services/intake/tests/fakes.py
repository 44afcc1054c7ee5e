"""In-memory stand-ins for the Kafka publisher."""

from collections.abc import Sequence

from pantau.intake.core.errors import PublishUnavailable
from pantau.intake.core.intake import SealedReport
from pantau.shared.events import ReportSubmitted


class FakePublisher:
    """Records what would have been published (``records`` as sent, ``events`` parsed with
    the shared contract); ``down = True`` simulates an outage."""

    def __init__(self) -> None:
        self.records: list[SealedReport] = []
        self.events: list[ReportSubmitted] = []
        self.traceparents: list[str | None] = []
        self.down = False
        self.started = False

    async def start(self, *, wait: float) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def ping(self) -> bool:
        return not self.down

    async def publish(self, reports: Sequence[SealedReport], *, traceparent: str | None) -> None:
        if self.down:
            raise PublishUnavailable("fake outage")
        for report in reports:
            event = ReportSubmitted.model_validate_json(report.value)
            assert event.subject == report.report_id, "the key must be the event's subject"
            self.records.append(report)
            self.events.append(event)
        self.traceparents.append(traceparent)


def sealed(event: ReportSubmitted) -> SealedReport:
    """``event`` as the publisher takes it: keyed by its report id, its JSON as value."""
    return SealedReport(report_id=event.subject, value=event.to_bytes())
