"""``pantau stack ...``: the local stack from the command line.

The operator CLI mounts ``stack_app``; ``python -m pantau.localstack.cli`` runs it alone
(the Makefile uses that).
"""

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pantau.localstack.config import FERRETDB_DEBUG_PORT, StackConfig
from pantau.localstack.errors import StackError
from pantau.localstack.launcher import ComponentStatus, Launcher

stack_app = typer.Typer(
    name="stack",
    help="Run the local stack: Kafka, a MongoDB-wire store, an SMTP sink and the services.",
    no_args_is_help=True,
)
_console = Console(stderr=True, highlight=False)

ServicesOption = Annotated[
    str | None,
    typer.Option(
        "--services",
        help="Comma-separated services to start (default: all four).",
    ),
]
InfraOnlyOption = Annotated[
    bool, typer.Option("--infra-only", help="Start Kafka, the store and the SMTP sink only.")
]


def _config(services: str | None) -> StackConfig:
    config = StackConfig.default(ferretdb_debug_port=FERRETDB_DEBUG_PORT)
    if services:
        names = [name.strip() for name in services.split(",") if name.strip()]
        config = config.with_services(names)
    return config


def _fail(exc: StackError) -> typer.Exit:
    _console.print(f"[red bold]Error:[/] [red]{exc.problem}[/]")
    if exc.fix:
        _console.print(f"[bold]Fix:[/] {exc.fix}")
    if exc.log_tail:
        _console.print("[dim]Last lines of the log:[/]")
        _console.print(exc.log_tail, markup=False)
    return typer.Exit(code=1)


def _shown(path: Path | None) -> str:
    if path is None:
        return ""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _print_status(rows: list[ComponentStatus]) -> None:
    table = Table(title="Pantau local stack", title_justify="left")
    for column in ("part", "state", "pid", "address", "log"):
        table.add_column(column, overflow="fold")
    colours = {"healthy": "green", "external": "green", "stopped": "dim", "not installed": "yellow"}
    for row in rows:
        colour = colours.get(row.state, "red")
        table.add_row(
            row.name,
            f"[{colour}]{row.state}[/]",
            str(row.pid or ""),
            row.address,
            _shown(row.log),
        )
    Console(highlight=False).print(table)


@stack_app.command()
def up(infra_only: InfraOnlyOption = False, services: ServicesOption = None) -> None:
    """Start the stack in the background; returns when every part is healthy."""
    try:
        rows = Launcher(_config(services)).up(include_services=not infra_only)
    except StackError as exc:
        raise _fail(exc) from exc
    _print_status(rows)


@stack_app.command()
def down() -> None:
    """Stop every process the stack started (only those its pid files prove are its own)."""
    try:
        results = Launcher(StackConfig.default()).down()
    except StackError as exc:
        raise _fail(exc) from exc
    if not results:
        _console.print("Nothing was running.")
    for name, outcome in results:
        _console.print(f"{name}: {outcome}")


@stack_app.command()
def status(
    infra_only: InfraOnlyOption = False,
) -> None:
    """Show each part, its pid and whether its health check passes. Exit code 1 when a
    started part is unhealthy."""
    rows = Launcher(StackConfig.default()).status(include_services=not infra_only)
    _print_status(rows)
    if any(row.state in ("unhealthy", "external, unreachable") for row in rows):
        raise typer.Exit(code=1)


@stack_app.command()
def run(infra_only: InfraOnlyOption = False, services: ServicesOption = None) -> None:
    """Start the stack in the foreground with every log streamed; Ctrl-C stops it all."""
    try:
        launcher = Launcher(_config(services), tied_to_parent=True)
    except StackError as exc:
        raise _fail(exc) from exc
    raise typer.Exit(code=launcher.run(include_services=not infra_only))


@stack_app.command()
def fetch() -> None:
    """Download and build what the stack needs (Kafka jars, FerretDB) into the cache."""
    try:
        Launcher(StackConfig.default()).fetch()
    except StackError as exc:
        raise _fail(exc) from exc


if __name__ == "__main__":
    stack_app()
