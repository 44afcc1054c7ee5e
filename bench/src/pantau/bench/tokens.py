"""Bearer tokens for the benchmark, minted with the local stack's own secret.

``PANTAU_AUTH_SECRET`` comes from the environment or ``var/local.env`` (written by
``pantau stack up``), exactly as the services read it.
"""

from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError

from pantau.shared.auth import Role, issue_token
from pantau.shared.settings import AuthSettings


class MissingSecret(RuntimeError):
    """No ``PANTAU_AUTH_SECRET``: the stack is not set up, or not from this directory."""


@dataclass(frozen=True)
class Tokens:
    """One token per simulated monitor (intake rate-limits per token subject) and one
    operator token for reading reporting's API."""

    monitors: tuple[str, ...]
    operator: str


def load_auth_settings() -> AuthSettings:
    """Settings with the signing secret, or a clear error saying how to get one."""
    try:
        return AuthSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        raise MissingSecret(
            "PANTAU_AUTH_SECRET is not set and var/local.env has none: start the stack "
            "with `make up` (or `pantau stack up`) and run the benchmark from the repo root."
        ) from exc


def mint(*, settings: AuthSettings, monitors: int, ttl: timedelta = timedelta(hours=6)) -> Tokens:
    """``monitors`` monitor tokens (subjects ``bench-monitor-NNNN``) and an operator token."""
    if monitors < 1:
        raise ValueError("need at least one monitor token")
    secret = settings.auth_secret.get_secret_value()
    issuer = settings.token_issuer
    return Tokens(
        monitors=tuple(
            issue_token(
                secret=secret,
                issuer=issuer,
                role=Role.MONITOR,
                subject=f"bench-monitor-{i:04d}",
                ttl=ttl,
            )
            for i in range(monitors)
        ),
        operator=issue_token(
            secret=secret, issuer=issuer, role=Role.OPERATOR, subject="bench-operator", ttl=ttl
        ),
    )
