"""The wiring root: builds the core and its adapters from ``Config``.

Tests override pieces (clock, sleep, senders) through ``Overrides``.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from pantau.notifier.adapters.outbound.http_channels import TelegramSender, WebhookSender
from pantau.notifier.adapters.outbound.kafka import AlertedLatency, KafkaAlertPublisher
from pantau.notifier.adapters.outbound.mongo import MongoLedger
from pantau.notifier.adapters.outbound.routes_file import DirectorySource
from pantau.notifier.adapters.outbound.smtp import SmtpSender
from pantau.notifier.adapters.outbound.state import (
    MongoDirectoryStore,
    MongoEscalations,
    MongoGroups,
    MongoSilences,
)
from pantau.notifier.adapters.outbound.traced import TracedSender
from pantau.notifier.config import DATABASE, Config
from pantau.notifier.core.delivery import DeliveryEngine, RetryPolicy
from pantau.notifier.core.models import ChannelKind
from pantau.notifier.core.notifier import AckLinks, Notifier
from pantau.notifier.core.ports import ChannelSender
from pantau.notifier.core.ratelimit import RateLimiter
from pantau.notifier.core.render import LinkBuilder, Renderer
from pantau.notifier.core.silences import SilenceBook
from pantau.shared.envelope import utcnow
from pantau.shared.events import Severity
from pantau.shared.mongo import database_name

log = logging.getLogger(__name__)


@dataclass
class Overrides:
    """Test seams: a fake clock, an instant sleep, extra or replaced channel senders."""

    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    senders: dict[ChannelKind, ChannelSender] = field(default_factory=dict)


@dataclass
class Components:
    config: Config
    ledger: MongoLedger
    directory: DirectorySource
    notifier: Notifier
    engine: DeliveryEngine
    groups: MongoGroups
    escalations: MongoEscalations
    silences: MongoSilences
    silence_book: SilenceBook
    directory_store: MongoDirectoryStore
    http: httpx.AsyncClient
    overrides: Overrides
    alerted: AlertedLatency = field(default_factory=AlertedLatency)
    _escalations_checked: float = 0.0

    async def ensure_indexes(self) -> None:
        await self.ledger.ensure_indexes()
        await self.groups.ensure_indexes()
        await self.escalations.ensure_indexes()
        await self.silences.ensure_indexes()

    async def backfill(self) -> None:
        """One-off indexes over data an older version wrote, beside normal work (at
        start-up; each is marked done, so later starts skip it at once)."""
        indexed = await self.ledger.backfill_by_subject()
        scheduled = await self.escalations.backfill_schedule()
        if indexed or scheduled:
            log.info(
                "backfill done: %d ledger rows indexed by subject, %d escalations scheduled",
                indexed,
                scheduled,
            )

    async def store_directory(self) -> None:
        await self.directory_store.save(
            version=self.directory.version,
            snapshot=self.directory.router.directory.snapshot(),
            now=self.overrides.clock(),
        )

    async def refresh_silences(self) -> None:
        self.silence_book.replace(await self.silences.active(now=self.overrides.clock()))

    async def sweep_once(self) -> None:
        """One round of the periodic work. Every deadline lives in MongoDB, so a restart
        simply picks up where the last round stopped."""
        if self.directory.refresh():
            await self.store_directory()
        await self.refresh_silences()
        await self.engine.retry_due()
        grace = max(1.0, self.config.notifier_sweep_interval_seconds)
        await self.notifier.flush_groups(grace_seconds=grace)
        now = time.monotonic()
        if now - self._escalations_checked >= self.config.notifier_escalation_check_seconds:
            self._escalations_checked = now
            await self.notifier.escalate_due()

    async def close(self) -> None:
        await self.http.aclose()


def build_senders(config: Config, *, http: httpx.AsyncClient) -> dict[ChannelKind, ChannelSender]:
    """Every channel this configuration can use."""
    senders: dict[ChannelKind, ChannelSender] = {
        ChannelKind.EMAIL: SmtpSender(
            host=config.smtp_host,
            port=config.smtp_port,
            sender=config.alert_email_from,
            username=config.smtp_username,
            password=config.smtp_password.get_secret_value() if config.smtp_password else None,
            starttls=config.smtp_starttls,
            timeout=config.smtp_timeout_seconds,
        ),
        ChannelKind.WEBHOOK: WebhookSender(client=http),
    }
    if config.telegram_bot_token is not None:
        senders[ChannelKind.TELEGRAM] = TelegramSender(
            client=http,
            base_url=config.telegram_api_base,
            token=config.telegram_bot_token.get_secret_value(),
        )
    apprise = _apprise_sender()
    if apprise is not None:
        senders[ChannelKind.APPRISE] = apprise
    return senders


def _apprise_sender() -> ChannelSender | None:
    try:
        from pantau.notifier.adapters.outbound.apprise_channel import AppriseSender
    except ImportError:  # apprise is optional: without it the channel is "not configured"
        return None
    return AppriseSender()


def build_components(
    *,
    config: Config,
    mongo: AsyncMongoClient[Any],
    broker: KafkaBroker,
    overrides: Overrides,
) -> Components:
    """Build the core over real adapters."""
    db = mongo[database_name(config, DATABASE)]
    ledger = MongoLedger(db)
    directory = DirectorySource(
        path=config.notifier_routes_file, default_email_to=config.alert_email_recipients
    )
    http = httpx.AsyncClient(timeout=config.http_timeout_seconds, follow_redirects=False)
    senders = {
        kind: TracedSender(sender)
        for kind, sender in {**build_senders(config, http=http), **overrides.senders}.items()
    }
    alerted = AlertedLatency()
    engine = DeliveryEngine(
        ledger=ledger,
        senders=senders,
        publisher=KafkaAlertPublisher(broker=broker, topic=config.topics.alerts, alerted=alerted),
        clock=overrides.clock,
        sleep=overrides.sleep,
        policy=RetryPolicy(
            inline_attempts=config.notifier_inline_attempts,
            max_attempts=config.notifier_max_attempts,
            initial_seconds=config.notifier_retry_initial_seconds,
            max_seconds=config.notifier_retry_max_seconds,
        ),
        limiter=RateLimiter(
            monotonic=overrides.monotonic,
            per_recipient_rate=config.notifier_rate_per_recipient_per_minute / 60.0,
            per_recipient_burst=config.notifier_rate_burst_per_recipient,
            per_channel_rate=config.notifier_rate_per_channel_per_second,
            per_channel_burst=config.notifier_rate_burst_per_channel,
        ),
    )
    groups = MongoGroups(db)
    escalations = MongoEscalations(db, clock=overrides.clock)
    silence_book = SilenceBook(clock=overrides.clock)
    notifier = Notifier(
        router=lambda: directory.router,
        renderer=Renderer(links=LinkBuilder(reporting_base_url=config.public_base_url)),
        engine=engine,
        ack_links=AckLinks(
            public_url=config.notifier_public_url,
            secret=lambda: config.auth_secret.get_secret_value(),
        ),
        clock=overrides.clock,
        silences=silence_book,
        escalations=escalations,
        groups=groups,
        group_window_seconds=config.notifier_group_window_seconds,
        ack_minutes={
            Severity.CRITICAL: config.notifier_ack_minutes_critical,
            Severity.HIGH: config.notifier_ack_minutes_high,
        },
    )
    return Components(
        config=config,
        ledger=ledger,
        directory=directory,
        notifier=notifier,
        engine=engine,
        groups=groups,
        escalations=escalations,
        silences=MongoSilences(db),
        silence_book=silence_book,
        directory_store=MongoDirectoryStore(db),
        http=http,
        overrides=overrides,
        alerted=alerted,
    )
