"""Rules that depend on the clock, checked after the body parsed."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from pantau.intake.core.errors import FieldError, ReportRejected
from pantau.intake.core.models import ReportIn


@dataclass(frozen=True)
class TimeWindow:
    """How far ``occurred_at`` may lie in the future (clock skew) and in the past."""

    max_future: timedelta = timedelta(minutes=10)
    max_age: timedelta = timedelta(days=30)


def time_window_errors(
    report: ReportIn, *, now: datetime, window: TimeWindow, prefix: str = ""
) -> list[FieldError]:
    """Broken ``occurred_at`` rules, located at ``<prefix>occurred_at``."""
    field = f"{prefix}occurred_at"
    if report.occurred_at > now + window.max_future:
        minutes = int(window.max_future.total_seconds() // 60)
        return [
            FieldError(
                field=field,
                message=f"is more than {minutes} minutes in the future",
                type="occurred_at_in_future",
            )
        ]
    if report.occurred_at < now - window.max_age:
        hours = int(window.max_age.total_seconds() // 3600)
        return [
            FieldError(
                field=field,
                message=f"is older than the accepted window of {hours} hours",
                type="occurred_at_too_old",
            )
        ]
    return []


def check_time_window(report: ReportIn, *, now: datetime, window: TimeWindow) -> None:
    """Raise ``ReportRejected`` when ``occurred_at`` is outside the window."""
    errors = time_window_errors(report, now=now, window=window)
    if errors:
        raise ReportRejected(errors)
