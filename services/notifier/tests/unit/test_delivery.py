"""The delivery engine: exactly one send per ledger key, retries, dead letters."""

from datetime import timedelta

from pantau.notifier.core.errors import PermanentDeliveryError, TransientDeliveryError
from pantau.notifier.core.models import DeliveryStatus
from pantau.shared.events import Category, Severity


def _email_row(harness):
    [row] = [r for r in harness.ledger.rows.values() if r.delivery.channel.value == "email"]
    return row


def _statuses(harness):
    return [event.data.status.value for _, event in harness.publisher.events]


class TestExactlyOnce:
    async def test_a_report_is_sent_recorded_and_announced(self, make_harness, make_facts):
        h = make_harness()
        report = make_facts(category=Category.BENCANA_ALAM, severity=Severity.MEDIUM)
        await h.notifier.handle_report(report)
        # tim-cibinong (email) + kpu-bogor (email and webhook)
        assert sorted(d.recipient_id for d in h.email.sent) == ["kpu-bogor", "tim-cibinong"]
        assert [d.recipient_id for d in h.webhook.sent] == ["kpu-bogor"]
        assert len(h.ledger.by_status(DeliveryStatus.SENT)) == 3
        assert _statuses(h) == ["sent", "sent", "sent"]
        assert all(key == report.report_id for key, _ in h.publisher.events)

    async def test_redelivery_sends_and_announces_nothing_new(self, make_harness, make_facts):
        h = make_harness()
        report = make_facts(severity=Severity.MEDIUM)
        await h.notifier.handle_report(report)
        await h.notifier.handle_report(report)
        assert len(h.email.sent) == 2 and len(h.webhook.sent) == 1
        assert len(h.publisher.events) == 3

    async def test_a_delivery_cut_off_mid_send_is_resumed(self, make_harness, make_facts):
        h = make_harness()
        report = make_facts(severity=Severity.MEDIUM)
        await h.notifier.handle_report(report)
        # Simulate a crash between the intent and the outcome of one row.
        alert_id = h.email.sent[0].alert_id
        row = h.ledger.rows[alert_id]
        h.ledger.rows[alert_id] = type(row)(
            delivery=row.delivery, status=DeliveryStatus.PENDING, attempts=1
        )
        await h.notifier.handle_report(report)
        assert [d.alert_id for d in h.email.sent].count(alert_id) == 2  # the documented window
        assert h.ledger.rows[alert_id].status == DeliveryStatus.SENT

    async def test_an_unpublished_outcome_is_announced_on_redelivery(
        self, make_harness, make_facts
    ):
        h = make_harness()
        report = make_facts(severity=Severity.MEDIUM)
        await h.notifier.handle_report(report)
        alert_id = h.email.sent[0].alert_id
        row = h.ledger.rows[alert_id]
        h.ledger.rows[alert_id] = type(row)(
            delivery=row.delivery, status=DeliveryStatus.SENT, attempts=1, published_status=None
        )
        await h.notifier.handle_report(report)
        assert len(h.email.sent) == 2  # nothing resent
        assert [e.data.alert_id for _, e in h.publisher.events].count(alert_id) == 2


class TestRetries:
    async def test_transient_failures_are_retried_inline_with_backoff(
        self, make_harness, make_facts
    ):
        h = make_harness()
        h.email.failures = [TransientDeliveryError("421"), TransientDeliveryError("421")]
        await h.notifier.handle_report(make_facts(severity=Severity.LOW, region="32.01"))
        row = _email_row(h)
        assert row.status == DeliveryStatus.SENT and row.attempts == 3
        assert len(h.clock.slept) == 2 and h.clock.slept[1] > h.clock.slept[0] * 1.0

    async def test_retry_after_is_honoured(self, make_harness, make_facts):
        h = make_harness()
        h.email.failures = [TransientDeliveryError("429", retry_after=42)]
        await h.notifier.handle_report(make_facts(severity=Severity.LOW, region="32.01"))
        assert h.clock.slept[0] >= 42

    async def test_a_long_retry_after_is_honoured_by_the_schedule(self, make_harness, make_facts):
        h = make_harness()
        h.email.failures = [TransientDeliveryError("429", retry_after=300)]
        await h.notifier.handle_report(make_facts(severity=Severity.LOW, region="32.01"))
        row = _email_row(h)
        assert h.clock.slept == [] and row.status == DeliveryStatus.RETRY_SCHEDULED
        assert row.next_attempt_at - h.clock() >= timedelta(seconds=300)

    async def test_an_outage_is_scheduled_then_delivered_by_the_sweep(
        self, make_harness, make_facts
    ):
        h = make_harness(inline_attempts=2, max_attempts=6)
        h.email.failures = [TransientDeliveryError("down")] * 3
        await h.notifier.handle_report(make_facts(severity=Severity.LOW, region="32.01"))
        row = _email_row(h)
        assert row.status == DeliveryStatus.RETRY_SCHEDULED and row.attempts == 2
        assert _statuses(h) == ["sent"]  # the webhook only
        assert await h.engine.retry_due() == 0  # not due yet
        h.clock.advance(seconds=120)
        assert await h.engine.retry_due() == 1
        row = _email_row(h)
        assert row.status == DeliveryStatus.SENT and row.attempts == 4
        assert _statuses(h).count("sent") == 2  # the webhook at once, the email now

    async def test_after_the_last_attempt_it_is_dead_lettered(self, make_harness, make_facts):
        h = make_harness(inline_attempts=2, max_attempts=4)
        h.email.failures = [TransientDeliveryError("down")] * 10
        await h.notifier.handle_report(make_facts(severity=Severity.LOW, region="32.01"))
        h.clock.advance(seconds=600)
        await h.engine.retry_due()
        row = _email_row(h)
        assert row.status == DeliveryStatus.DEAD_LETTERED and row.attempts == 4
        [event] = [e for _, e in h.publisher.events if e.data.channel == "email"]
        assert event.data.status.value == "failed" and event.data.attempts == 4

    async def test_permanent_failures_are_not_retried(self, make_harness, make_facts):
        h = make_harness()
        h.email.failures = [PermanentDeliveryError("550 no such user")]
        await h.notifier.handle_report(make_facts(severity=Severity.LOW, region="32.01"))
        row = _email_row(h)
        assert row.status == DeliveryStatus.FAILED and row.attempts == 1
        assert h.email.calls == 1
        [event] = [e for _, e in h.publisher.events if e.data.channel == "email"]
        assert "550" in event.data.error

    async def test_rate_limits_defer_instead_of_dropping(self, make_harness, make_facts):
        h = make_harness(rate_burst=1)
        for _ in range(3):
            await h.notifier.handle_report(make_facts(severity=Severity.LOW, region="32.01"))
        # One email and one webhook went out; the other four wait for a token.
        assert len(h.email.sent) == 1 and len(h.webhook.sent) == 1
        assert len(h.ledger.by_status(DeliveryStatus.RETRY_SCHEDULED)) == 4
        for _ in range(5):
            h.clock.advance(seconds=2)
            await h.engine.retry_due()
        assert len(h.email.sent) == 3 and len(h.webhook.sent) == 3
        assert h.clock() - h.ledger.by_status(DeliveryStatus.SENT)[0].created_at < timedelta(
            minutes=1
        )
