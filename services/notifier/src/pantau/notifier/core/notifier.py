"""The use case: a classified report in, deliveries out; and the periodic sweep.

Routing picks recipients; silences suppress (recorded, never dropped); grouping
gathers reports of one (regency, category) within a window; the delivery engine
sends each message once per ledger key; high and critical alerts open an
acknowledgement deadline that the sweep escalates when it passes.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from pantau.notifier.core.delivery import DeliveryEngine
from pantau.notifier.core.models import Delivery, Recipient, ReportFacts
from pantau.notifier.core.ports import Clock, EscalationStore, GroupMember, GroupStore
from pantau.notifier.core.render import Renderer
from pantau.notifier.core.routing import Router, RoutingDecision
from pantau.notifier.core.signing import alert_id_for, sign_ack
from pantau.notifier.metrics import ESCALATIONS
from pantau.shared.events import AlertKind, AlertStatus, Severity

log = logging.getLogger(__name__)

ACK_SEVERITIES = frozenset({Severity.HIGH, Severity.CRITICAL})
ESCALATION_REPORTS_KEPT = 20


class SilenceCheck(Protocol):
    async def matching(
        self, *, report: ReportFacts, route_ids: list[str], recipient_id: str
    ) -> str | None:
        """Why an active silence covers this delivery, or ``None``."""
        ...


class AckLinks:
    """Signed acknowledgement links pointing at this service."""

    def __init__(self, *, public_url: str, secret: Callable[[], str]) -> None:
        self._base = public_url.rstrip("/")
        self._secret = secret

    def url(self, alert_id: str) -> str:
        signature = sign_ack(secret=self._secret(), alert_id=alert_id)
        return f"{self._base}/v1/alerts/{alert_id}/ack?sig={signature}"


class Notifier:
    """Turns reports into deliveries; the adapters feed it and persist its effects."""

    def __init__(
        self,
        *,
        router: Callable[[], Router],
        renderer: Renderer,
        engine: DeliveryEngine,
        ack_links: AckLinks,
        clock: Clock,
        silences: SilenceCheck | None = None,
        escalations: EscalationStore | None = None,
        groups: GroupStore | None = None,
        group_window_seconds: float = 0.0,
        ack_minutes: dict[Severity, float] | None = None,
    ) -> None:
        self._router = router
        self._renderer = renderer
        self.engine = engine
        self._ack_links = ack_links
        self._clock = clock
        self._silences = silences
        self._escalations = escalations
        self._groups = groups
        self._window = group_window_seconds if groups is not None else 0.0
        self._ack_minutes = ack_minutes or {Severity.CRITICAL: 15.0, Severity.HIGH: 60.0}

    def decide(self, report: ReportFacts) -> RoutingDecision:
        return self._router().decide(report)

    async def handle_report(self, report: ReportFacts) -> None:
        """A classified report arrives. Without grouping it is alerted at once; with
        grouping it joins its (regency, category) group, and the window's first
        critical report still goes out at once."""
        if self._groups is None or self._window <= 0:
            await self.alert_now(subject_id=report.report_id, reports=[report])
            return
        group = await self._groups.open_group(
            regency=report.regency,
            category=report.category.value,
            now=self._clock(),
            window_seconds=self._window,
        )
        immediate = report.severity == Severity.CRITICAL and not await self._groups.has_immediate(
            group.group_id
        )
        member = await self._groups.add_member(
            GroupMember(report=report, group_id=group.group_id, immediate=immediate),
            now=self._clock(),
        )
        if member.immediate or not await self._groups.is_open(group.group_id):
            # Immediate: also on a redelivery (the ledger makes a second call send
            # nothing). Not open: the sweep began flushing before this member landed and
            # may not list it, so it goes out on its own rather than risk being lost.
            await self.alert_now(subject_id=report.report_id, reports=[report])

    async def alert_now(
        self,
        *,
        subject_id: str,
        reports: list[ReportFacts],
        kind: AlertKind = AlertKind.INITIAL,
        recipients: tuple[Recipient, ...] | None = None,
        escalation_level: int = 0,
    ) -> int:
        """Send one message about ``reports`` to each recipient (routed from the worst
        report unless given) on each of its channels. Returns the deliveries handled."""
        worst = max(reports, key=lambda r: (r.severity.rank, r.received_at))
        decision = self.decide(worst)
        targets = recipients if recipients is not None else decision.recipients
        needs_ack = worst.severity in ACK_SEVERITIES
        count = 0
        for recipient in targets:
            for address in recipient.addresses:
                kind_key = kind.value
                if kind == AlertKind.ESCALATION:
                    kind_key = f"{kind.value}:{escalation_level}"
                alert_id = alert_id_for(
                    subject_id=subject_id,
                    recipient_id=recipient.id,
                    channel=address.channel.value,
                    kind=kind_key,
                )
                message = self._renderer.render(
                    reports=reports,
                    kind=kind,
                    language=recipient.language,
                    ack_url=self._ack_links.url(alert_id) if needs_ack else None,
                    escalation_level=escalation_level,
                )
                delivery = Delivery(
                    alert_id=alert_id,
                    subject_id=subject_id,
                    report_ids=tuple(r.report_id for r in reports),
                    recipient_id=recipient.id,
                    channel=address.channel,
                    target=address.target,
                    kind=kind,
                    region_code=worst.region_code,
                    regency=worst.regency,
                    category=worst.category,
                    severity=worst.severity,
                    message=message,
                    secret_env=address.secret_env,
                    escalation_level=escalation_level,
                )
                silence = None
                if self._silences is not None and kind != AlertKind.ESCALATION:
                    silence = await self._silences.matching(
                        report=worst,
                        route_ids=list(decision.routes_for(recipient.id)),
                        recipient_id=recipient.id,
                    )
                if silence is not None:
                    await self.engine.suppress(delivery, reason=silence)
                else:
                    await self.engine.deliver(delivery)
                    count += 1
        if (
            needs_ack
            and count
            and kind != AlertKind.ESCALATION
            and self._escalations
            # Nobody to escalate to (the default route): keep no deadline to sweep.
            and self._router().escalation_targets(decision, step=1)
        ):
            await self._escalations.open(
                subject_id=subject_id,
                reports=sorted(reports, key=lambda r: -r.severity.rank)[:ESCALATION_REPORTS_KEPT],
                deadline=self._clock() + timedelta(minutes=self._ack_minutes[worst.severity]),
            )
        return count

    async def flush_groups(self, *, grace_seconds: float, limit: int = 100) -> int:
        """Send every closed group: one message per recipient listing its reports.

        ``grace_seconds`` past the close lets a member being added at the close land
        first. A crash mid-flush repeats the flush; the ledger drops what was sent."""
        if self._groups is None:
            return 0
        before = self._clock() - timedelta(seconds=grace_seconds)
        groups = await self._groups.due_groups(before=before, limit=limit)
        for group in groups:
            await self._groups.begin_flush(group.group_id, now=self._clock())
            members = await self._groups.members(group.group_id)
            pending = [m.report for m in members if not m.immediate]
            kind = AlertKind.UPDATE if any(m.immediate for m in members) else AlertKind.INITIAL
            by_recipient: dict[str, tuple[Recipient, list[ReportFacts]]] = {}
            for report in pending:
                for recipient in self.decide(report).recipients:
                    by_recipient.setdefault(recipient.id, (recipient, []))[1].append(report)
            for recipient, reports in by_recipient.values():
                await self.alert_now(
                    subject_id=group.group_id,
                    reports=reports,
                    kind=kind,
                    recipients=(recipient,),
                )
            await self._groups.mark_flushed(group.group_id, now=self._clock())
        return len(groups)

    async def escalate_due(self, *, limit: int = 100) -> int:
        """Unacknowledged past the deadline: alert the next level up and the next
        contact of each institution; keep going each deadline until acknowledged."""
        if self._escalations is None:
            return 0
        now = self._clock()
        due = await self._escalations.due(now=now, limit=limit)
        for escalation in due:
            if await self._escalations.acknowledged(escalation.subject_id):
                await self._escalations.advance(
                    escalation.subject_id, step=escalation.step, deadline=None
                )
                continue
            step = escalation.step + 1
            reports = list(escalation.reports)
            worst = max(reports, key=lambda r: r.severity.rank)
            router = self._router()
            targets = router.escalation_targets(router.decide(worst), step=step)
            if not targets:
                log.warning("nobody left to escalate to", extra={"subject": escalation.subject_id})
                await self._escalations.advance(escalation.subject_id, step=step, deadline=None)
                continue
            ESCALATIONS.labels(str(step)).inc()
            await self.engine.announce_escalation(escalation.subject_id, step=step)
            await self.alert_now(
                subject_id=escalation.subject_id,
                reports=reports,
                kind=AlertKind.ESCALATION,
                recipients=targets,
                escalation_level=step,
            )
            await self._escalations.advance(
                escalation.subject_id,
                step=step,
                deadline=self._clock() + timedelta(minutes=self._ack_minutes[worst.severity]),
            )
        return len(due)

    async def acknowledge_report(self, report_id: str, *, by: str) -> bool:
        """Someone acted on the report: acknowledge its own alerts (not a group's)."""
        for kind in (AlertKind.INITIAL.value, AlertKind.UPDATE.value):
            rows = await self.engine.subject_rows(report_id, kind=kind)
            if rows:
                return await self.acknowledge(rows[0].delivery, by=by)
        return False

    async def acknowledge(self, delivery: Delivery, *, by: str) -> bool:
        """Stop escalation of the delivery's subject; announce it. ``False`` if the
        subject was acknowledged before."""
        if self._escalations is None:
            return False
        first = await self._escalations.acknowledge(
            subject_id=delivery.subject_id, alert_id=delivery.alert_id, by=by, now=self._clock()
        )
        if first:
            await self.engine.publish_status(
                delivery, status=AlertStatus.ACKNOWLEDGED, attempts=0, error=None, at=self._clock()
            )
        return first
