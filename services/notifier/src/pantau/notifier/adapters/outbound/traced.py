"""A span around every send, so an alert's delivery shows in its report's trace."""

from opentelemetry.trace import SpanKind

from pantau.notifier.core.models import ChannelKind, Delivery
from pantau.notifier.core.ports import ChannelSender
from pantau.shared.tracing import tracer


class TracedSender:
    """``ChannelSender`` that wraps another one in a client span ``alert send <channel>``."""

    def __init__(self, inner: ChannelSender) -> None:
        self._inner = inner
        self.channel: ChannelKind = inner.channel

    async def send(self, delivery: Delivery) -> str | None:
        with tracer().start_as_current_span(
            f"alert send {self.channel.value}",
            kind=SpanKind.CLIENT,
            attributes={
                "pantau.alert_id": delivery.alert_id,
                "pantau.channel": self.channel.value,
                "pantau.recipient_id": delivery.recipient_id,
                "pantau.report_ids": list(delivery.report_ids),
            },
        ):
            return await self._inner.send(delivery)
