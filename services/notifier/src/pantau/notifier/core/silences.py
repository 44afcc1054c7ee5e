"""Silences: an operator mutes a route, region, category or recipient for a while."""

from collections.abc import Iterable
from datetime import datetime

from pantau.notifier.core.models import ReportFacts
from pantau.notifier.core.ports import Clock, Silence
from pantau.shared import regions


def silence_covers(
    silence: Silence,
    *,
    report: ReportFacts,
    route_ids: Iterable[str],
    recipient_id: str,
    now: datetime,
) -> bool:
    """Every matcher the silence sets must hold, and it must be in force ``now``."""
    if not silence.starts_at <= now < silence.ends_at:
        return False
    if silence.route_id is not None and silence.route_id not in set(route_ids):
        return False
    if silence.region is not None and silence.region not in regions.ancestors(report.region_code):
        return False
    if silence.category is not None and silence.category != report.category.value:
        return False
    return silence.recipient_id is None or silence.recipient_id == recipient_id


class SilenceBook:
    """The silences in force, held in memory and refreshed from the store by the sweep."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._active: list[Silence] = []

    def replace(self, silences: list[Silence]) -> None:
        self._active = list(silences)

    async def matching(
        self, *, report: ReportFacts, route_ids: list[str], recipient_id: str
    ) -> str | None:
        now = self._clock()
        for silence in self._active:
            if silence_covers(
                silence, report=report, route_ids=route_ids, recipient_id=recipient_id, now=now
            ):
                return f"silenced by {silence.id}: {silence.reason}"
        return None
