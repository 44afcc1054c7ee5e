"""Bearer tokens: signed JWTs carrying role, region scope and institution.

Issued by ``pantau token create``; verified by every HTTP API.
"""

from datetime import timedelta
from enum import StrEnum
from uuid import uuid4

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from pantau.shared import regions
from pantau.shared.envelope import utcnow

AUDIENCE = "pantau"
ALGORITHM = "HS256"


class Role(StrEnum):
    MONITOR = "monitor"
    LIAISON = "liaison"
    OPERATOR = "operator"
    ADMIN = "admin"


class Principal(BaseModel):
    """Who is calling: the token subject and what they may do."""

    model_config = ConfigDict(frozen=True)

    subject: str
    role: Role
    region: str | None = None
    institution: str | None = None

    def can_see_region(self, code: str) -> bool:
        """Operators and admins see everything; others only their region's subtree."""
        if self.role in (Role.OPERATOR, Role.ADMIN):
            return True
        return self.region is not None and self.region in regions.ancestors(code)


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed by us."""


def issue_token(
    *,
    secret: str,
    issuer: str,
    role: Role,
    subject: str | None = None,
    region: str | None = None,
    institution: str | None = None,
    ttl: timedelta = timedelta(days=7),
) -> str:
    now = utcnow()
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": subject or f"{role.value}-{uuid4().hex[:12]}",
        "iat": now,
        "exp": now + ttl,
        "role": role.value,
    }
    if region:
        claims["region"] = regions.validate(region)
    if institution:
        claims["institution"] = institution
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, *, secret: str, issuer: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
        return Principal(
            subject=claims["sub"],
            role=claims.get("role"),
            region=claims.get("region"),
            institution=claims.get("institution"),
        )
    except (jwt.PyJWTError, ValidationError, KeyError) as exc:
        raise InvalidToken(str(exc)) from exc
