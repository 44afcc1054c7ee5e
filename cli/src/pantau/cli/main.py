"""The ``pantau`` command: the local stack, tokens, and each service's own commands.

Services add their commands through the ``pantau.cli`` entry-point group: each entry
point is a ``register(app: typer.Typer) -> None`` function. The CLI therefore
never imports a service directly, and a service's commands run its own code
(``pantau classify`` is the classifier's core, not a copy).
"""

import logging
from importlib.metadata import entry_points

import typer

from pantau.cli.dlq import dlq_app
from pantau.cli.token import token_app

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pantau.cli"


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="pantau",
        help="Pantau operator CLI: local stack, tokens and the services' commands.",
        no_args_is_help=True,
        add_completion=False,
    )
    app.add_typer(token_app, name="token")
    app.add_typer(dlq_app, name="dlq")
    _mount_stack(app)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        register = entry.load()
        register(app)
    return app


def _mount_stack(app: typer.Typer) -> None:
    from pantau.localstack.cli import stack_app

    app.add_typer(stack_app, name="stack", help="Start, stop and inspect the local stack.")


def run() -> None:
    build_app()()
