"""The classifier's commands for the root ``pantau`` CLI (entry-point group ``pantau.cli``)."""

import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantau.classifier.adapters.jsonl import classify_lines
from pantau.classifier.core import RulesError, Ruleset, load_rules

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        envvar="PANTAU_CLASSIFIER_RULES_FILE",
        help="Rules YAML (default: the rules packaged with the classifier).",
    ),
]


def _rules(path: Path | None) -> Ruleset:
    try:
        return load_rules(path)
    except RulesError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def classify_command(rules: RulesOption = None) -> None:
    """Classify JSON lines {"id", "text"} from stdin into JSON lines on stdout.

    Each output line has the id, category, severity, secondary categories, confidence,
    institutions, explanation (Indonesian), explanation_en and rules_version.
    """
    ruleset = _rules(rules)
    failed = 0
    out = sys.stdout
    for result in classify_lines(sys.stdin, ruleset):
        failed += "error" in result
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
    if failed:
        typer.echo(f"{failed} line(s) could not be classified", err=True)
        raise typer.Exit(1)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """An RFC 3339 / ISO 8601 time (UTC when no offset is given), a date, or a relative
    age such as ``90m``, ``6h``, ``2d``, ``1w``."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r} is not a time: use e.g. 2026-11-28T06:00:00+07:00, 2026-11-28 or 6h"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def reclassify_command(
    since: Annotated[
        str, typer.Option("--since", help="Replay reports submitted since: time, date or age.")
    ],
    rules: RulesOption = None,
) -> None:
    """Replay submitted reports from Kafka through the current rules.

    Publishes a new classified event per report, carrying the current rules version.
    """
    from pantau.classifier.adapters.replay import ReplayStats, reclassify
    from pantau.classifier.config import Config

    start = parse_since(since)
    ruleset = _rules(rules)
    config = Config()  # type: ignore[call-arg]
    columns = (
        TextColumn("[bold]reclassify[/] rules {task.fields[version]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("published {task.fields[published]}, skipped {task.fields[skipped]}"),
        TimeElapsedColumn(),
    )
    # Progress on stderr: stdout carries only the JSON summary.
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("replay", total=None, version=ruleset.version, published=0, skipped=0)

        def show(stats: ReplayStats) -> None:
            bar.update(
                task,
                total=stats.total,
                completed=stats.read,
                published=stats.published,
                skipped=stats.skipped,
            )

        stats = asyncio.run(reclassify(config=config, rules=ruleset, since=start, progress=show))
    summary = {
        "since": start.isoformat(),
        "rules_version": ruleset.version,
        "read": stats.read,
        "published": stats.published,
        "skipped": stats.skipped,
        "categories": dict(sorted(stats.categories.items())),
    }
    typer.echo(json.dumps(summary, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add the classifier's commands to the root ``pantau`` app."""
    app.command("classify")(classify_command)
    app.command("reclassify")(reclassify_command)
