"""The recipients directory and routes file: schema, validation and parsing.

The file is YAML (see ``docs/routes.example.yaml`` in this package's folder). Parsing
is pure: the caller reads the text. Every problem is reported at once, with the
path of the offending entry, so ``pantau routes check`` can list them all.
"""

import re
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pantau.notifier.core.errors import RoutesError
from pantau.notifier.core.institutions import canonical_institution
from pantau.notifier.core.models import Address, ChannelKind, Language, Recipient, Route
from pantau.shared import regions
from pantau.shared.events import Category, Severity

NATIONAL = "national"
MAX_FILE_BYTES = 5 * 1024 * 1024

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_TELEGRAM_CHAT = re.compile(r"^(-?\d{1,20}|@[A-Za-z0-9_]{5,64})$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")


def _region_or_national(value: str | None) -> str | None:
    if value is None or str(value).strip().lower() in ("", NATIONAL):
        return None
    return regions.validate(str(value))


Id = Annotated[str, Field(pattern=_ID.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelEntry(_Strict):
    channel: ChannelKind
    target: str = Field(min_length=1, max_length=2048)
    secret_env: str | None = Field(None, pattern=_ENV_NAME.pattern)

    @field_validator("target")
    @classmethod
    def _target_shape(cls, value: str, info: Any) -> str:
        channel = info.data.get("channel")
        if channel == ChannelKind.EMAIL and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        if channel == ChannelKind.WEBHOOK and not value.startswith(("http://", "https://")):
            raise ValueError("a webhook target must be an http(s) URL")
        if channel == ChannelKind.TELEGRAM and not _TELEGRAM_CHAT.match(value):
            raise ValueError("a telegram target is a chat id (digits) or @channelname")
        return value


class RecipientEntry(_Strict):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    institution: str
    region: str | None = None
    language: Language = Language.ID
    contact_order: int = Field(0, ge=0, le=20)
    channels: list[ChannelEntry] = Field(min_length=1, max_length=10)

    @field_validator("institution")
    @classmethod
    def _institution(cls, value: str) -> str:
        return canonical_institution(value)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _region_or_national(value)


class RouteEntry(_Strict):
    id: Id
    region: str | None = None
    categories: list[Category] = Field(default_factory=list)
    min_severity: Severity = Severity.LOW
    institutions: list[str] = Field(default_factory=list)
    recipients: list[Id] = Field(min_length=1, max_length=200)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _region_or_national(value)

    @field_validator("institutions")
    @classmethod
    def _institutions(cls, value: list[str]) -> list[str]:
        return [canonical_institution(v) for v in value]


class DirectoryFile(_Strict):
    recipients: list[RecipientEntry] = Field(max_length=50_000)
    routes: list[RouteEntry] = Field(max_length=50_000)


class Directory:
    """Recipients by id and routes by region; immutable once built."""

    def __init__(self, *, recipients: list[Recipient], routes: list[Route]) -> None:
        self.recipients = {r.id: r for r in recipients}
        self.routes = list(routes)
        self.routes_by_region: dict[str | None, list[Route]] = {}
        for route in routes:
            self.routes_by_region.setdefault(route.region, []).append(route)

    def snapshot(self) -> dict[str, Any]:
        """The directory as plain data, for the store and ``GET /v1/routes``."""
        return {
            "recipients": [
                {
                    "id": r.id,
                    "name": r.name,
                    "institution": r.institution,
                    "region": r.region or NATIONAL,
                    "language": r.language.value,
                    "contact_order": r.contact_order,
                    "channels": [
                        {"channel": a.channel.value, "target": a.target, "secret_env": a.secret_env}
                        for a in r.addresses
                    ],
                }
                for r in self.recipients.values()
            ],
            "routes": [
                {
                    "id": route.id,
                    "region": route.region or NATIONAL,
                    "categories": sorted(c.value for c in route.categories),
                    "min_severity": route.min_severity.value,
                    "institutions": sorted(route.institutions),
                    "recipients": list(route.recipients),
                }
                for route in self.routes
            ],
        }

    def backups(self, recipient: Recipient, *, steps: int) -> list[Recipient]:
        """Contacts of the same institution and region ``steps`` places later in order."""
        wanted = recipient.contact_order + steps
        return [
            r
            for r in self.recipients.values()
            if r.institution == recipient.institution
            and r.region == recipient.region
            and r.contact_order == wanted
        ]


def default_directory(*, email_to: list[str]) -> Directory:
    """The walking skeleton's route: every report by email to the configured addresses."""
    recipient = Recipient(
        id="default",
        name="Pantau operations",
        institution="Operator",
        region=None,
        addresses=tuple(Address(channel=ChannelKind.EMAIL, target=a) for a in email_to),
    )
    route = Route(id="default", region=None, recipients=(recipient.id,))
    return Directory(recipients=[recipient], routes=[route])


def parse_directory(text: str) -> Directory:
    """Parse and validate a routes file; raises ``RoutesError`` listing every problem."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise RoutesError(f"routes file larger than {MAX_FILE_BYTES} bytes")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutesError(f"not valid YAML: {exc}") from exc
    try:
        parsed = DirectoryFile.model_validate(raw or {})
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise RoutesError("\n".join(problems)) from exc
    return _build(parsed)


def _build(parsed: DirectoryFile) -> Directory:
    problems: list[str] = []
    seen: set[str] = set()
    for entry in parsed.recipients:
        if entry.id in seen:
            problems.append(f"recipients: duplicate id {entry.id!r}")
        seen.add(entry.id)
    route_ids: set[str] = set()
    for route in parsed.routes:
        if route.id in route_ids:
            problems.append(f"routes: duplicate id {route.id!r}")
        route_ids.add(route.id)
        problems.extend(
            f"routes.{route.id}: unknown recipient {rid!r}"
            for rid in route.recipients
            if rid not in seen
        )
    if problems:
        raise RoutesError("\n".join(problems))
    recipients = [
        Recipient(
            id=e.id,
            name=e.name,
            institution=e.institution,
            region=e.region,
            language=e.language,
            contact_order=e.contact_order,
            addresses=tuple(
                Address(channel=c.channel, target=c.target, secret_env=c.secret_env)
                for c in e.channels
            ),
        )
        for e in parsed.recipients
    ]
    routes = [
        Route(
            id=r.id,
            region=r.region,
            recipients=tuple(dict.fromkeys(r.recipients)),
            categories=frozenset(r.categories),
            min_severity=r.min_severity,
            institutions=frozenset(r.institutions),
        )
        for r in parsed.routes
    ]
    return Directory(recipients=recipients, routes=routes)
