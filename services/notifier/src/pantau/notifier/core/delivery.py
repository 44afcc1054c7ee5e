"""Delivering one alert exactly once per ledger key, with retries.

The ledger row is inserted (the intent) before the first send and updated with the
outcome after it. A redelivered Kafka message finds the row and sends nothing. The one
window left is a crash after the channel accepted a message and before the outcome was
written: the row stays ``pending`` and the next attempt sends again (see README.md).
"""

import logging
import random
import time
import uuid
from datetime import datetime, timedelta

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from pantau.notifier.core.errors import PermanentDeliveryError, TransientDeliveryError
from pantau.notifier.core.models import (
    TERMINAL_STATUSES,
    ChannelKind,
    Delivery,
    DeliveryStatus,
)
from pantau.notifier.core.ports import (
    AlertPublisher,
    ChannelSender,
    Clock,
    Ledger,
    LedgerRow,
    Sleep,
)
from pantau.notifier.core.ratelimit import RateLimiter
from pantau.notifier.metrics import (
    DEAD_LETTERS,
    DELIVERIES,
    DELIVERY_ATTEMPTS,
    UNRECORDED_SEND_SECONDS,
)
from pantau.shared.events import AlertEvent, AlertEventData, AlertKind, AlertStatus

log = logging.getLogger(__name__)

PRODUCER = "notifier"
ERROR_LIMIT = 1000
# Namespace of deterministic event ids, so a re-published alert event has the same id.
_EVENT_NAMESPACE = uuid.UUID("6f1c2a52-8d1e-4c55-9a8e-0b7f1f5f4a10")

_STATUS_EVENT = {
    DeliveryStatus.SENT: AlertStatus.SENT,
    DeliveryStatus.FAILED: AlertStatus.FAILED,
    DeliveryStatus.DEAD_LETTERED: AlertStatus.FAILED,
    DeliveryStatus.SUPPRESSED: AlertStatus.SUPPRESSED,
}


class RetryPolicy:
    """Immediate attempts with exponential backoff and jitter, then scheduled retries."""

    def __init__(
        self,
        *,
        inline_attempts: int,
        max_attempts: int,
        initial_seconds: float,
        max_seconds: float,
    ) -> None:
        self.inline_attempts = inline_attempts
        self.max_attempts = max_attempts
        self.initial = initial_seconds
        self.max = max_seconds
        self._jittered = wait_exponential_jitter(
            multiplier=initial_seconds, max=max_seconds, jitter=initial_seconds
        )

    def inline_wait(self, state: RetryCallState) -> float:
        """Backoff with jitter, but never sooner than the server's Retry-After."""
        wait = float(self._jittered(state))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientDeliveryError) and exc.retry_after:
            wait = max(wait, exc.retry_after)
        return wait

    def retry_inline(self, exc: BaseException) -> bool:
        """Transient, and not asking us to wait longer than a backoff step: a long
        Retry-After is honoured by the scheduled retry instead of blocking the consumer."""
        return isinstance(exc, TransientDeliveryError) and (exc.retry_after or 0) <= self.max

    def scheduled_delay(self, *, attempts: int, retry_after: float | None) -> float:
        base = min(self.max, self.initial * 2 ** max(0, attempts - 1))
        delay = min(self.max, base + random.uniform(0, base))  # jitter spreads a herd
        return max(delay, retry_after or 0.0)  # never sooner than the server asked


class DeliveryEngine:
    """Claims, sends, records and announces deliveries."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        senders: dict[ChannelKind, ChannelSender],
        publisher: AlertPublisher,
        clock: Clock,
        sleep: Sleep,
        policy: RetryPolicy,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._ledger = ledger
        self._senders = senders
        self._publisher = publisher
        self._clock = clock
        self._sleep = sleep
        self._policy = policy
        self._limiter = limiter

    async def deliver(self, delivery: Delivery) -> DeliveryStatus:
        """Deliver once. Idempotent: a second call for the same alert id sends nothing
        unless the first was cut off between intent and outcome."""
        now = self._clock()
        if await self._ledger.claim(delivery, now=now, status=DeliveryStatus.PENDING, note=None):
            return await self._attempt(delivery, attempts_before=0)
        row = await self._ledger.get(delivery.alert_id)
        if row is None:  # claimed by someone else and gone: nothing sensible to do
            return DeliveryStatus.PENDING
        if row.status == DeliveryStatus.PENDING:
            log.warning(
                "resuming a delivery cut off mid-send", extra={"alert": row.delivery.alert_id}
            )
            return await self._attempt(row.delivery, attempts_before=row.attempts)
        await self._announce_if_needed(row)
        return row.status

    async def suppress(self, delivery: Delivery, *, reason: str) -> None:
        """Record a delivery a silence holds back; announced, never silently dropped."""
        now = self._clock()
        if await self._ledger.claim(
            delivery, now=now, status=DeliveryStatus.SUPPRESSED, note=reason
        ):
            DELIVERIES.labels(delivery.channel.value, DeliveryStatus.SUPPRESSED.value).inc()
        row = await self._ledger.get(delivery.alert_id)
        if row is not None:
            await self._announce_if_needed(row)

    async def retry_due(self, *, limit: int = 100) -> int:
        """Send the scheduled retries that are due; the periodic sweep calls this."""
        rows = await self._ledger.due_retries(now=self._clock(), limit=limit)
        taken = 0
        for row in rows:
            if await self._ledger.take_retry(row, now=self._clock()):
                taken += 1
                await self._attempt(row.delivery, attempts_before=row.attempts)
        return taken

    async def _attempt(self, delivery: Delivery, *, attempts_before: int) -> DeliveryStatus:
        sender = self._senders.get(delivery.channel)
        if sender is None:
            return await self._finish(
                delivery,
                status=DeliveryStatus.FAILED,
                attempts=attempts_before,
                error=f"channel {delivery.channel.value} is not configured",
            )
        if self._limiter is not None:
            wait = self._limiter.acquire(
                recipient_id=delivery.recipient_id, channel=delivery.channel.value
            )
            if wait > 0:
                await self._ledger.record_attempt(
                    delivery.alert_id,
                    now=self._clock(),
                    status=DeliveryStatus.RETRY_SCHEDULED,
                    attempts=attempts_before,
                    error="rate limited",
                    next_attempt_at=self._clock() + timedelta(seconds=wait),
                )
                DELIVERIES.labels(delivery.channel.value, "rate_limited").inc()
                return DeliveryStatus.RETRY_SCHEDULED
        attempts = attempts_before
        accepted_at = 0.0
        inline = max(1, min(self._policy.inline_attempts, self._policy.max_attempts - attempts))

        async def send_once() -> str | None:
            nonlocal attempts, accepted_at
            attempts += 1
            try:
                message_id = await sender.send(delivery)
            except TransientDeliveryError as exc:
                DELIVERY_ATTEMPTS.labels(delivery.channel.value, "transient").inc()
                await self._ledger.record_attempt(
                    delivery.alert_id,
                    now=self._clock(),
                    status=DeliveryStatus.PENDING,
                    attempts=attempts,
                    error=str(exc)[:ERROR_LIMIT],
                )
                raise
            accepted_at = time.perf_counter()
            DELIVERY_ATTEMPTS.labels(delivery.channel.value, "ok").inc()
            return message_id

        retrying = AsyncRetrying(
            stop=stop_after_attempt(inline),
            wait=self._policy.inline_wait,
            retry=retry_if_exception(self._policy.retry_inline),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            message_id = await retrying(send_once)
        except TransientDeliveryError as exc:
            if attempts >= self._policy.max_attempts:
                DEAD_LETTERS.labels(delivery.channel.value).inc()
                return await self._finish(
                    delivery,
                    status=DeliveryStatus.DEAD_LETTERED,
                    attempts=attempts,
                    error=str(exc)[:ERROR_LIMIT],
                )
            delay = self._policy.scheduled_delay(attempts=attempts, retry_after=exc.retry_after)
            await self._ledger.record_attempt(
                delivery.alert_id,
                now=self._clock(),
                status=DeliveryStatus.RETRY_SCHEDULED,
                attempts=attempts,
                error=str(exc)[:ERROR_LIMIT],
                next_attempt_at=self._clock() + timedelta(seconds=delay),
            )
            return DeliveryStatus.RETRY_SCHEDULED
        except PermanentDeliveryError as exc:
            DELIVERY_ATTEMPTS.labels(delivery.channel.value, "permanent").inc()
            return await self._finish(
                delivery, status=DeliveryStatus.FAILED, attempts=attempts, error=str(exc)
            )
        return await self._finish(
            delivery,
            status=DeliveryStatus.SENT,
            attempts=attempts,
            provider_message_id=message_id,
            accepted_at=accepted_at,
        )

    async def _finish(
        self,
        delivery: Delivery,
        *,
        status: DeliveryStatus,
        attempts: int,
        error: str | None = None,
        provider_message_id: str | None = None,
        accepted_at: float | None = None,
    ) -> DeliveryStatus:
        now = self._clock()
        await self._ledger.record_attempt(
            delivery.alert_id,
            now=now,
            status=status,
            attempts=attempts,
            error=error[:ERROR_LIMIT] if error else None,
            provider_message_id=provider_message_id,
        )
        if accepted_at:
            UNRECORDED_SEND_SECONDS.observe(time.perf_counter() - accepted_at)
        DELIVERIES.labels(delivery.channel.value, status.value).inc()
        await self._publish(delivery, status=status, attempts=attempts, error=error, at=now)
        return status

    async def _announce_if_needed(self, row: LedgerRow) -> None:
        """A crash after the outcome but before the event: publish it now."""
        if row.status in TERMINAL_STATUSES and row.published_status != row.status.value:
            await self._publish(
                row.delivery,
                status=row.status,
                attempts=row.attempts,
                error=row.error,
                at=self._clock(),
            )

    async def _publish(
        self,
        delivery: Delivery,
        *,
        status: DeliveryStatus,
        attempts: int,
        error: str | None,
        at: datetime,
    ) -> None:
        event_status = _STATUS_EVENT[status]
        await self.publish_status(
            delivery, status=event_status, attempts=attempts, error=error, at=at
        )
        await self._ledger.mark_published(delivery.alert_id, status=status.value)

    async def subject_rows(self, subject_id: str, *, kind: str) -> list[LedgerRow]:
        return await self._ledger.subject_rows(subject_id, kind=kind)

    async def announce_escalation(self, subject_id: str, *, step: int) -> None:
        """Tell reporting that the first alerts about ``subject_id`` went unacknowledged."""
        for kind in (AlertKind.INITIAL.value, AlertKind.UPDATE.value):
            for row in await self._ledger.subject_rows(subject_id, kind=kind):
                if row.status == DeliveryStatus.SENT:
                    await self.publish_status(
                        row.delivery,
                        status=AlertStatus.ESCALATED,
                        attempts=row.attempts,
                        error=f"unacknowledged: escalation step {step}",
                        at=self._clock(),
                    )

    async def publish_status(
        self,
        delivery: Delivery,
        *,
        status: AlertStatus,
        attempts: int,
        error: str | None,
        at: datetime,
    ) -> None:
        """Publish one lifecycle event; its id is derived so a re-publish is recognisable."""
        event = AlertEvent.create(
            producer=PRODUCER,
            subject=delivery.report_ids[0],
            event_id=uuid.uuid5(
                _EVENT_NAMESPACE, f"{delivery.alert_id}/{status.value}/{error or ''}"
            ),
            data=AlertEventData(
                alert_id=delivery.alert_id,
                report_ids=list(delivery.report_ids),
                recipient_id=delivery.recipient_id,
                channel=delivery.channel.value,
                kind=delivery.kind,
                status=status,
                attempts=attempts,
                error=error[:ERROR_LIMIT] if error else None,
                at=at,
            ),
        )
        await self._publisher.publish(event, key=delivery.report_ids[0])
