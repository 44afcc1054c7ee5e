"""Errors the core raises; the HTTP adapter maps them to problem+json."""

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One broken rule, located by a dotted field path such as ``location.lat``."""

    field: str
    message: str
    type: str


class ReportRejected(ValueError):
    """The report breaks a domain rule; retrying the same body will not help."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class PublishUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing may be promised to the client."""
