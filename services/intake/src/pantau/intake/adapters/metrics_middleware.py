"""Counts every report request by channel and outcome, from the status it answers."""

from collections.abc import Callable, Mapping
from typing import Any

from pantau.intake.metrics import (
    REPORTS_ACCEPTED,
    REPORTS_RECEIVED,
    REPORTS_REJECTED,
    REQUESTS_IN_FLIGHT,
)

ASGIApp = Callable[..., Any]

REASON_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    409: "replay",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation",
    429: "rate_limited",
    503: "unavailable",
}


class ReportMetricsMiddleware:
    """Received/accepted/rejected per channel, and the in-flight gauge.

    Paths in ``item_counted`` (the batch endpoint) count their items themselves; here
    they only count refusals before the items were looked at (401, 413, 422, ...).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        channels: Mapping[str, str],
        item_counted: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self._channels = dict(channels)
        self._item_counted = item_counted
        # Labelled children resolved once: ``labels()`` per request is a measurable cost.
        self._received = {ch: REPORTS_RECEIVED.labels(ch) for ch in self._channels.values()}
        self._accepted = {ch: REPORTS_ACCEPTED.labels(ch) for ch in self._channels.values()}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        channel = self._channels.get(scope.get("path", "")) if scope["type"] == "http" else None
        if channel is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        per_item = scope["path"] in self._item_counted
        received, accepted = self._received[channel], self._accepted[channel]

        async def observe(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status >= 400:
                    if not per_item:
                        REPORTS_RECEIVED.labels(channel).inc()
                    # A batch's 503 comes after its items were counted one by one.
                    if not (per_item and status == 503):
                        reason = REASON_BY_STATUS.get(status, str(status))
                        REPORTS_REJECTED.labels(channel, reason).inc()
                elif not per_item:
                    received.inc()
                    if status == 202:
                        accepted.inc()
            await send(message)

        in_flight = REQUESTS_IN_FLIGHT
        in_flight.value += 1
        try:
            await self.app(scope, receive, observe)
        finally:
            in_flight.value -= 1
