"""``pantau routes check`` and ``pantau routes explain``: the notifier's CLI plugin.

Registered through the ``pantau.cli`` entry-point group, so ``pantau`` runs the
notifier's own routing code, not a copy.
"""

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from pantau.notifier.adapters.outbound.routes_file import load_directory_file
from pantau.notifier.core.directory import Directory, default_directory
from pantau.notifier.core.errors import RoutesError
from pantau.notifier.core.institutions import canonical_institution
from pantau.notifier.core.models import ReportFacts
from pantau.notifier.core.routing import Router, level_label
from pantau.shared import regions
from pantau.shared.events import Category, ReportClassified, Severity
from pantau.shared.validation import ContractValidationError, parse_event

routes_app = typer.Typer(
    help="Check the notifier's routes file and explain who a report would alert.",
    no_args_is_help=True,
)

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="Routes file (default: $PANTAU_NOTIFIER_ROUTES_FILE; none: the default route).",
    ),
]


def _path(file: Path | None) -> Path | None:
    if file is not None:
        return file
    env = os.environ.get("PANTAU_NOTIFIER_ROUTES_FILE")
    return Path(env) if env else None


def _load(file: Path | None) -> Directory:
    path = _path(file)
    if path is None:
        emails = os.environ.get("PANTAU_ALERT_EMAIL_TO", "ops@pantau.local").split(",")
        return default_directory(email_to=[e.strip() for e in emails if e.strip()])
    try:
        return load_directory_file(path)
    except RoutesError as exc:
        typer.echo(f"{path}: invalid\n{exc}", err=True)
        raise typer.Exit(1) from exc


@routes_app.command("check")
def check(file: FileOption = None) -> None:
    """Validate the routes file: schema, region codes, institutions, recipient ids."""
    directory = _load(file)
    levels: dict[str, int] = {}
    for route in directory.routes:
        name = "national" if route.region is None else f"level {regions.level(route.region)}"
        levels[name] = levels.get(name, 0) + 1
    by_level = ", ".join(f"{k}: {v}" for k, v in sorted(levels.items()))
    typer.echo(
        f"{_path(file) or 'default route'}: OK, {len(directory.recipients)} recipients, "
        f"{len(directory.routes)} routes ({by_level})"
    )
    routed = {rid for route in directory.routes for rid in route.recipients}
    unrouted = set(directory.recipients) - routed
    for rid in sorted(unrouted):
        typer.echo(f"note: recipient {rid} is in no route (reachable only by escalation)")


def _report_from_json(text: str) -> ReportFacts:
    try:
        return ReportFacts.from_event(parse_event(text, ReportClassified).data)
    except ContractValidationError:
        pass
    data = json.loads(text)
    code = regions.validate(data["region_code"])
    now = datetime.now(UTC)
    return ReportFacts(
        report_id=data.get("report_id", "example"),
        region_code=code,
        regency=regions.regency_key(code),
        category=Category(data["category"]),
        severity=Severity(data["severity"]),
        institutions=tuple(data.get("institutions", ())),
        occurred_at=now,
        received_at=now,
        description=data.get("description", ""),
    )


@routes_app.command("explain")
def explain(
    file: FileOption = None,
    region: Annotated[str | None, typer.Option(help="Region code of the report.")] = None,
    category: Annotated[Category | None, typer.Option(help="Category slug.")] = None,
    severity: Annotated[Severity, typer.Option(help="Severity.")] = Severity.HIGH,
    institution: Annotated[
        list[str] | None, typer.Option(help="An institution that acts first (repeatable).")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="A report.classified event or {region_code, category, severity} as JSON "
            "('-' reads stdin); replaces the options above."
        ),
    ] = None,
    steps: Annotated[int, typer.Option(help="Escalation steps to show.")] = 3,
) -> None:
    """Who would be alerted about a report, and why; then who escalation would add."""
    directory = _load(file)
    if report is not None:
        text = sys.stdin.read() if str(report) == "-" else report.read_text()
        facts = _report_from_json(text)
    else:
        if region is None or category is None:
            raise typer.BadParameter("give --report, or --region and --category")
        code = regions.validate(region)
        now = datetime.now(UTC)
        facts = ReportFacts(
            report_id="example",
            region_code=code,
            regency=regions.regency_key(code),
            category=category,
            severity=severity,
            institutions=tuple(canonical_institution(i) for i in institution or ()),
            occurred_at=now,
            received_at=now,
            description="",
        )
    router = Router(directory)
    decision = router.decide(facts, explain=True)
    typer.echo(
        f"report {facts.report_id}: {facts.category.value}, {facts.severity.value}, "
        f"{level_label(facts.region_code)}"
    )
    for line in decision.trace:
        typer.echo(f"  {line}")
    for recipient in decision.recipients:
        channels = ", ".join(f"{a.channel.value}:{a.target}" for a in recipient.addresses)
        typer.echo(f"  → {recipient.id} ({recipient.institution}, {recipient.name}): {channels}")
    for step in range(1, steps + 1):
        added = router.escalation_targets(decision, step=step)
        if not added:
            break
        typer.echo(f"  escalation {step} adds: {', '.join(r.id for r in added)}")


def register(app: typer.Typer) -> None:
    """Entry point of the ``pantau.cli`` group: adds ``pantau routes``."""
    app.add_typer(routes_app, name="routes")
