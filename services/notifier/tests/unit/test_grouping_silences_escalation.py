"""Grouping windows, silences and acknowledgement deadlines, on a hand-moved clock."""

from pantau.notifier.core.models import DeliveryStatus
from pantau.shared.events import AlertKind, Category, Severity


class TestGrouping:
    async def test_a_storm_becomes_a_handful_of_messages(self, make_harness, make_facts):
        h = make_harness(group_window_seconds=60)
        first = make_facts(severity=Severity.CRITICAL)
        await h.notifier.handle_report(first)
        # The window's first critical report goes out at once...
        first_wave = sorted(d.recipient_id for d in h.email.sent)
        assert first_wave == ["kpu-bogor", "ops", "tim-cibinong"]
        for i in range(199):
            h.clock.advance(seconds=0.25)
            severity = Severity.CRITICAL if i % 50 == 0 else Severity.HIGH
            await h.notifier.handle_report(make_facts(severity=severity))
        assert len(h.email.sent) == 3  # ...the rest wait for the window to close
        h.clock.advance(seconds=30)
        await h.notifier.flush_groups(grace_seconds=1)
        by_recipient = {}
        for d in h.email.sent:
            by_recipient.setdefault(d.recipient_id, []).append(d)
        counts = {k: len(v) for k, v in by_recipient.items()}
        assert counts == {"kpu-bogor": 2, "tim-cibinong": 2, "ops": 2}
        update = by_recipient["kpu-bogor"][1]
        assert update.kind == AlertKind.UPDATE and len(update.report_ids) == 199
        assert "199 laporan" in update.message.subject
        assert "KRITIS 4" in update.message.text and "TINGGI 195" in update.message.text
        # The national desk only routes critical reports: its update lists those alone.
        assert len(by_recipient["ops"][1].report_ids) == 4

    async def test_flushing_twice_sends_nothing_new(self, make_harness, make_facts):
        h = make_harness(group_window_seconds=10)
        for _ in range(3):
            await h.notifier.handle_report(make_facts(severity=Severity.MEDIUM))
        assert h.email.sent == []
        h.clock.advance(seconds=12)
        await h.notifier.flush_groups(grace_seconds=1)
        sent = len(h.email.sent)
        for group in h.groups.groups.values():
            group["status"] = "open"  # as if the process died before marking it flushed
        await h.notifier.flush_groups(grace_seconds=1)
        assert len(h.email.sent) == sent == 2
        assert all(d.kind == AlertKind.INITIAL for d in h.email.sent)

    async def test_a_report_landing_while_its_group_flushes_is_not_lost(
        self, make_harness, make_facts
    ):
        h = make_harness(group_window_seconds=10)
        await h.notifier.handle_report(make_facts(severity=Severity.MEDIUM))
        [group_id] = h.groups.groups
        # The sweep has begun flushing (it may already have read the members) when a
        # slow consumer's insert lands in the same group.
        await h.groups.begin_flush(group_id, now=h.clock())
        h.groups.open_group = _same_group(h.groups, group_id)
        late = make_facts(severity=Severity.MEDIUM)
        await h.notifier.handle_report(late)
        assert {d.subject_id for d in h.email.sent} == {late.report_id}

    async def test_groups_are_per_regency_and_category(self, make_harness, make_facts):
        h = make_harness(group_window_seconds=10)
        await h.notifier.handle_report(make_facts(category=Category.LOGISTIK))
        await h.notifier.handle_report(make_facts(category=Category.BENCANA_ALAM))
        await h.notifier.handle_report(make_facts(region="32.73", category=Category.LOGISTIK))
        assert len(h.groups.groups) == 3


class TestSilences:
    async def test_a_silence_suppresses_and_records(self, make_harness, make_facts):
        h = make_harness()
        h.silence(region="32.01", category="bencana_alam")
        await h.notifier.handle_report(make_facts(severity=Severity.HIGH))
        assert h.email.sent == []
        suppressed = h.ledger.by_status(DeliveryStatus.SUPPRESSED)
        assert len(suppressed) == 3
        assert all("drill" in (row.error or "") for row in suppressed)
        assert {e.data.status.value for _, e in h.publisher.events} == {"suppressed"}
        assert h.escalations.open_items == {}  # nothing sent, nothing to acknowledge

    async def test_a_route_silence_mutes_only_that_route(self, make_harness, make_facts):
        h = make_harness()
        h.silence(route_id="cibinong")
        await h.notifier.handle_report(make_facts(severity=Severity.HIGH))
        assert [d.recipient_id for d in h.email.sent] == ["kpu-bogor"]
        [row] = h.ledger.by_status(DeliveryStatus.SUPPRESSED)
        assert row.delivery.recipient_id == "tim-cibinong"

    async def test_other_categories_pass(self, make_harness, make_facts):
        h = make_harness()
        h.silence(category="logistik")
        await h.notifier.handle_report(make_facts(severity=Severity.HIGH))
        assert len(h.email.sent) == 2


class TestEscalation:
    async def test_unacknowledged_alerts_escalate_on_time_and_again(self, make_harness, make_facts):
        h = make_harness()
        report = make_facts(severity=Severity.HIGH)
        await h.notifier.handle_report(report)
        assert "http://notifier.test/v1/alerts/" in h.email.sent[0].message.text
        h.clock.advance(minutes=29)
        assert await h.notifier.escalate_due() == 0
        h.clock.advance(minutes=2)
        await h.notifier.escalate_due()
        escalated = [d for d in h.email.sent if d.kind == AlertKind.ESCALATION]
        assert sorted(d.recipient_id for d in escalated) == ["kpu-bogor-2", "kpu-jabar"]
        assert all(d.escalation_level == 1 for d in escalated)
        assert "ESKALASI" in escalated[0].message.text
        announced = [e for _, e in h.publisher.events if e.data.status.value == "escalated"]
        # The first alerts (tim-cibinong email, kpu-bogor email and webhook) went unanswered.
        assert sorted((e.data.recipient_id, e.data.channel) for e in announced) == [
            ("kpu-bogor", "email"),
            ("kpu-bogor", "webhook"),
            ("tim-cibinong", "email"),
        ]
        # Nobody is left at step 2: the deadline closes instead of looping.
        h.clock.advance(minutes=31)
        await h.notifier.escalate_due()
        assert h.escalations.open_items == {}
        assert len([d for d in h.email.sent if d.kind == AlertKind.ESCALATION]) == 2

    async def test_acknowledgement_stops_escalation(self, make_harness, make_facts):
        h = make_harness()
        await h.notifier.handle_report(make_facts(severity=Severity.CRITICAL))
        first = h.email.sent[0]
        assert await h.notifier.acknowledge(first, by="liaison-1") is True
        assert await h.notifier.acknowledge(first, by="liaison-2") is False
        h.clock.advance(hours=2)
        await h.notifier.escalate_due()
        assert not [d for d in h.email.sent if d.kind == AlertKind.ESCALATION]
        assert [e.data.status.value for _, e in h.publisher.events].count("acknowledged") == 1

    async def test_medium_and_low_need_no_acknowledgement(self, make_harness, make_facts):
        h = make_harness()
        await h.notifier.handle_report(make_facts(severity=Severity.MEDIUM))
        assert "/ack?sig=" not in h.email.sent[0].message.text
        assert h.escalations.open_items == {}


def _same_group(groups, group_id):
    """``open_group`` answering with a group already found (as a consumer's cache does)."""
    from pantau.notifier.core.ports import OpenGroup

    g = groups.groups[group_id]

    async def open_group(**_):
        return OpenGroup(group_id, g["regency"], g["category"], g["closes_at"])

    return open_group
