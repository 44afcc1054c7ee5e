"""In-memory stand-ins for the Kafka publisher."""

from collections.abc import Sequence

from pantau.intake.core.errors import PublishUnavailable
from pantau.shared.events import ReportSubmitted


class FakePublisher:
    """Records what would have been published; ``down = True`` simulates an outage."""

    def __init__(self) -> None:
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

    async def publish(self, events: Sequence[ReportSubmitted], *, traceparent: str | None) -> None:
        if self.down:
            raise PublishUnavailable("fake outage")
        self.events.extend(events)
        self.traceparents.append(traceparent)
