"""``pantau token create``: signed bearer tokens for the local stack."""

from datetime import timedelta
from typing import Annotated

import typer
from pydantic import ValidationError

from pantau.shared.auth import Role, issue_token
from pantau.shared.regions import InvalidRegionCode
from pantau.shared.settings import AuthSettings

token_app = typer.Typer(help="Create bearer tokens.", no_args_is_help=True)


@token_app.command("create")
def create(
    role: Annotated[Role, typer.Option(help="What the holder may do.")],
    region: Annotated[
        str | None,
        typer.Option(help="Region scope (Kemendagri code, e.g. 32.01); liaisons see its subtree."),
    ] = None,
    institution: Annotated[
        str | None, typer.Option(help="Institution of a liaison, e.g. KPU or Bawaslu.")
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Token subject (client or person id); random if omitted.")
    ] = None,
    ttl_hours: Annotated[int | None, typer.Option(help="Lifetime in hours.")] = None,
) -> None:
    """Print a token signed with PANTAU_AUTH_SECRET (var/local.env for the local stack)."""
    try:
        settings = AuthSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        typer.echo(
            "No token secret: set PANTAU_AUTH_SECRET or run `pantau stack up` once, "
            f"which writes var/local.env.\n{exc.errors(include_url=False)[0]['msg']}",
            err=True,
        )
        raise typer.Exit(2) from exc
    if role is Role.LIAISON and region is None:
        typer.echo("warning: a liaison token without --region sees no report", err=True)
    try:
        token = issue_token(
            secret=settings.auth_secret.get_secret_value(),
            issuer=settings.token_issuer,
            role=role,
            subject=subject,
            region=region,
            institution=institution,
            ttl=timedelta(hours=ttl_hours or settings.token_ttl_hours),
        )
    except InvalidRegionCode as exc:
        typer.echo(f"--region: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(token)
