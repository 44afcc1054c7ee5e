"""A notifier core over in-memory ports, with a hand-moved clock."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from pantau.notifier.core.delivery import DeliveryEngine, RetryPolicy
from pantau.notifier.core.directory import Directory, parse_directory
from pantau.notifier.core.models import ChannelKind, ReportFacts
from pantau.notifier.core.notifier import AckLinks, Notifier
from pantau.notifier.core.ports import Silence
from pantau.notifier.core.ratelimit import RateLimiter
from pantau.notifier.core.render import LinkBuilder, Renderer
from pantau.notifier.core.routing import Router
from pantau.notifier.core.silences import SilenceBook
from pantau.notifier.testing import (
    FakeClock,
    InMemoryEscalations,
    InMemoryGroups,
    InMemoryLedger,
    RecordingPublisher,
    RecordingSender,
)
from pantau.shared import testing
from pantau.shared.events import Category, Severity

DIRECTORY = """
recipients:
  - {id: tim-cibinong, name: Tim Cibinong, institution: Tim Regional, region: "32.01.01",
     channels: [{channel: email, target: tim@example.id}]}
  - {id: kpu-bogor, name: KPU Bogor, institution: KPU, region: "32.01",
     channels: [{channel: email, target: kpu@example.id}, {channel: webhook, target: "http://127.0.0.1:9/h"}]}
  - {id: kpu-bogor-2, name: Ketua KPU Bogor, institution: KPU, region: "32.01", contact_order: 1,
     channels: [{channel: email, target: ketua@example.id}]}
  - {id: kpu-jabar, name: KPU Jabar, institution: KPU, region: "32",
     channels: [{channel: email, target: jabar@example.id}]}
  - {id: bawaslu-bogor, name: Bawaslu Bogor, institution: Bawaslu, region: "32.01", language: en,
     channels: [{channel: email, target: bawaslu@example.id}]}
  - {id: ops, name: Ops, institution: Operator, region: national,
     channels: [{channel: email, target: ops@example.id}]}
routes:
  - {id: cibinong, region: "32.01.01", min_severity: medium, recipients: [tim-cibinong]}
  - {id: bogor-kpu, region: "32.01", categories: [bencana_alam, logistik], recipients: [kpu-bogor]}
  - {id: bogor-bawaslu, region: "32.01", categories: [politik_uang, keamanan],
     min_severity: medium, recipients: [bawaslu-bogor]}
  - {id: jabar-kpu, region: "32", min_severity: high, recipients: [kpu-jabar]}
  - {id: national, region: national, min_severity: critical, recipients: [ops]}
"""


def facts(
    *,
    region: str = "32.01.01.1002",
    category: Category = Category.BENCANA_ALAM,
    severity: Severity = Severity.HIGH,
    received_offset_s: float = 0,
    clock: FakeClock | None = None,
) -> ReportFacts:
    """A report as the notifier sees it, from the shared event factory."""
    event = testing.classified(
        testing.submitted(region=region), category=category, severity=severity
    )
    base = ReportFacts.from_event(event.data)
    if clock is not None:
        from dataclasses import replace

        base = replace(base, received_at=clock() + timedelta(seconds=received_offset_s))
    return base


@dataclass
class Harness:
    clock: FakeClock
    ledger: InMemoryLedger
    publisher: RecordingPublisher
    email: RecordingSender
    webhook: RecordingSender
    groups: InMemoryGroups
    escalations: InMemoryEscalations
    silences: SilenceBook
    notifier: Notifier
    engine: DeliveryEngine

    def silence(self, **match: Any) -> None:
        self.silences.replace(
            [
                Silence(
                    id="sil_test",
                    starts_at=self.clock() - timedelta(minutes=1),
                    ends_at=self.clock() + timedelta(hours=1),
                    reason="drill",
                    **match,
                )
            ]
        )


@pytest.fixture
def make_harness() -> Callable[..., Harness]:
    def build(
        *,
        directory: Directory | None = None,
        group_window_seconds: float = 0.0,
        inline_attempts: int = 3,
        max_attempts: int = 6,
        rate_burst: int = 1000,
    ) -> Harness:
        clock = FakeClock()
        ledger = InMemoryLedger()
        publisher = RecordingPublisher()
        email = RecordingSender(ChannelKind.EMAIL)
        webhook = RecordingSender(ChannelKind.WEBHOOK)
        engine = DeliveryEngine(
            ledger=ledger,
            senders={ChannelKind.EMAIL: email, ChannelKind.WEBHOOK: webhook},
            publisher=publisher,
            clock=clock,
            sleep=clock.sleep,
            policy=RetryPolicy(
                inline_attempts=inline_attempts,
                max_attempts=max_attempts,
                initial_seconds=1.0,
                max_seconds=60.0,
            ),
            limiter=RateLimiter(
                monotonic=clock.monotonic,
                per_recipient_rate=1.0,
                per_recipient_burst=rate_burst,
                per_channel_rate=10.0,
                per_channel_burst=rate_burst,
            ),
        )
        groups = InMemoryGroups()
        escalations = InMemoryEscalations()
        silences = SilenceBook(clock=clock)
        router = Router(directory or parse_directory(DIRECTORY))
        notifier = Notifier(
            router=lambda: router,
            renderer=Renderer(links=LinkBuilder(reporting_base_url="http://reporting.test")),
            engine=engine,
            ack_links=AckLinks(public_url="http://notifier.test", secret=lambda: "s" * 32),
            clock=clock,
            silences=silences,
            escalations=escalations,
            groups=groups,
            group_window_seconds=group_window_seconds,
            ack_minutes={Severity.CRITICAL: 10.0, Severity.HIGH: 30.0},
        )
        return Harness(
            clock,
            ledger,
            publisher,
            email,
            webhook,
            groups,
            escalations,
            silences,
            notifier,
            engine,
        )

    return build


@pytest.fixture
def make_facts() -> Callable[..., ReportFacts]:
    return facts


@pytest.fixture
def router() -> Router:
    return Router(parse_directory(DIRECTORY))
