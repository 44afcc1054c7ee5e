"""Core errors and pydantic errors as RFC 9457 problems with field paths."""

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from pantau.intake.core.errors import FieldError, PublishUnavailable, ReportRejected
from pantau.shared.http import Problem

VALIDATION_PROBLEM = "https://pantau.id/problems/validation"
UNAVAILABLE_PROBLEM = "https://pantau.id/problems/unavailable"


def field_path(loc: Iterable[Any], *, prefix: str = "") -> str:
    """``("location", "lat")`` → ``location.lat``; list indexes stay numeric."""
    path = ".".join(str(part) for part in loc)
    if not path:
        return prefix.rstrip(".") or "body"
    return prefix + path


def field_errors(exc: ValidationError, *, prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as ``FieldError`` s located under ``prefix``."""
    return [
        FieldError(
            field=field_path(err["loc"], prefix=prefix), message=err["msg"], type=err["type"]
        )
        for err in exc.errors(include_url=False, include_input=False)
    ]


def error_dicts(errors: Iterable[FieldError]) -> list[dict[str, str]]:
    """The JSON shape of ``errors`` entries, the same as the shared validation handler's."""
    return [{"field": e.field, "message": e.message, "type": e.type} for e in errors]


def rejected(exc: ReportRejected) -> Problem:
    """422 for a report that breaks a rule."""
    return Problem(
        422,
        "Invalid request",
        f"{len(exc.errors)} field(s) failed validation",
        type_=VALIDATION_PROBLEM,
        errors=error_dicts(exc.errors),
    )


def unavailable(exc: PublishUnavailable, *, retry_after: int) -> Problem:
    """503: Kafka does not hold the report, so the client must retry."""
    return Problem(
        503,
        "Service unavailable",
        "the report could not be stored right now; retry with the same client_report_id",
        type_=UNAVAILABLE_PROBLEM,
        headers={"Retry-After": str(retry_after)},
    )
