"""Who is alerted about a report, and why.

Fallback runs per institution: for each institution (KPU, Bawaslu, a regional team,
...), the most specific region level with a matching route to one of its recipients
wins, falling back village → district → regency → province → national. So a
village team's route does not stop the regency's KPU from hearing of it, while KPU
Kabupaten Bogor, when it has a route, takes the place of KPU Jawa Barat.

Escalation climbs the same ladder: step ``n`` adds, per institution, the ``n``-th
matching level above the winner, and the ``n``-th next contact of each first
recipient's institution and region.
"""

from dataclasses import dataclass
from functools import lru_cache

from pantau.notifier.core.directory import Directory
from pantau.notifier.core.models import Recipient, ReportFacts
from pantau.shared import regions


@lru_cache(maxsize=200_000)
def _levels(region_code: str) -> tuple[str | None, ...]:
    return (*regions.ancestors(region_code), None)


def level_label(code: str | None) -> str:
    """``national`` or the code with its name, for explanations."""
    if code is None:
        return "national"
    return f"{code} ({regions.name(code) or 'unknown'})"


@dataclass(frozen=True)
class Rung:
    """One institution's recipients at one region level, and the routes that chose them."""

    institution: str
    region: str | None
    recipients: tuple[Recipient, ...]
    route_ids: tuple[str, ...]


@dataclass(frozen=True)
class RoutingDecision:
    """The first alert's recipients and, per institution, the ladder escalation climbs."""

    report_id: str
    ladders: dict[str, tuple[Rung, ...]]  # institution → rungs, most specific first
    trace: tuple[str, ...]  # one line per route considered, for `pantau routes explain`

    @property
    def recipients(self) -> tuple[Recipient, ...]:
        unique = {r.id: r for ladder in self.ladders.values() for r in ladder[0].recipients}
        return tuple(unique.values())

    def routes_for(self, recipient_id: str) -> tuple[str, ...]:
        """The routes that chose this first recipient (what a route silence matches)."""
        ids = {
            route_id: None
            for ladder in self.ladders.values()
            if any(r.id == recipient_id for r in ladder[0].recipients)
            for route_id in ladder[0].route_ids
        }
        return tuple(ids)


class Router:
    """Routing over one immutable ``Directory``; cheap enough to call per report."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def decide(self, report: ReportFacts, *, explain: bool = False) -> RoutingDecision:
        ladders: dict[str, list[Rung]] = {}
        trace: list[str] = []
        recipients = self.directory.recipients
        for code in _levels(report.region_code):
            at_level: dict[str, tuple[dict[str, Recipient], dict[str, None]]] = {}
            for route in self.directory.routes_by_region.get(code, ()):
                reason = route.rejects(report)
                if explain:
                    verdict = "matches" if reason is None else f"skipped: {reason}"
                    trace.append(f"route {route.id} at {level_label(code)}: {verdict}")
                if reason is not None:
                    continue
                for rid in route.recipients:
                    recipient = recipients[rid]
                    found, routes = at_level.setdefault(recipient.institution, ({}, {}))
                    found[rid] = recipient
                    routes[route.id] = None
            for institution, (found, routes) in at_level.items():
                ladders.setdefault(institution, []).append(
                    Rung(
                        institution=institution,
                        region=code,
                        recipients=tuple(found.values()),
                        route_ids=tuple(routes),
                    )
                )
        decision = RoutingDecision(
            report_id=report.report_id,
            ladders={k: tuple(v) for k, v in ladders.items()},
            trace=tuple(trace),
        )
        if explain:
            for institution, ladder in decision.ladders.items():
                first = ladder[0]
                trace.append(
                    f"{institution}: most specific match at {level_label(first.region)} "
                    f"(routes {', '.join(first.route_ids)}) → "
                    f"{', '.join(r.id for r in first.recipients)}"
                )
            if not ladders:
                trace.append("no route matches: nobody is alerted")
            decision = RoutingDecision(
                report_id=decision.report_id, ladders=decision.ladders, trace=tuple(trace)
            )
        return decision

    def escalation_targets(self, decision: RoutingDecision, *, step: int) -> tuple[Recipient, ...]:
        """Who is added at escalation ``step`` (1, 2, ...)."""
        found: list[Recipient] = []
        for ladder in decision.ladders.values():
            if step < len(ladder):
                found.extend(ladder[step].recipients)
            for recipient in ladder[0].recipients:
                found.extend(self.directory.backups(recipient, steps=step))
        already = {r.id for r in decision.recipients}
        unique = {r.id: r for r in found if r.id not in already}
        return tuple(unique.values())
