"""Possible duplicates: reports about the same place and problem, close in time,
with similar wording, so triage can merge them."""

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)
# Words so common in reports that sharing them says nothing.
_STOPWORDS = frozenset(
    {
        "di",
        "ke",
        "dari",
        "dan",
        "yang",
        "ini",
        "itu",
        "ada",
        "tps",
        "untuk",
        "dengan",
        "pada",
        "oleh",
        "akan",
        "sudah",
        "telah",
        "para",
        "the",
        "a",
        "an",
        "of",
        "in",
        "at",
        "to",
        "and",
        "is",
        "was",
    }
)


@dataclass(frozen=True, kw_only=True)
class DuplicateRules:
    """How close two reports must be to be proposed as duplicates."""

    window: timedelta = timedelta(hours=6)
    min_similarity: float = 0.3


def tokens(text: str | None) -> frozenset[str]:
    """The meaningful words of a text, case-folded."""
    words = _WORD.findall((text or "").casefold())
    return frozenset(w for w in words if len(w) > 2 and w not in _STOPWORDS)


def similarity(a: str | None, b: str | None) -> float:
    """Jaccard similarity of the two texts' word sets, 0..1."""
    left, right = tokens(a), tokens(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def place_of(report: dict[str, Any]) -> str | None:
    """The most specific place a report names: its village (or lowest known level)."""
    path = report.get("region_path") or []
    return path[-1] if path else None


def score(report: dict[str, Any], other: dict[str, Any], *, rules: DuplicateRules) -> float | None:
    """How likely ``other`` duplicates ``report`` (0..1), or ``None`` if it cannot."""
    if other["report_id"] == report["report_id"]:
        return None
    if report.get("category") != other.get("category") or place_of(report) != place_of(other):
        return None
    if report.get("tps") and other.get("tps") and report["tps"] != other["tps"]:
        return None  # the same village but clearly different polling stations
    a, b = report.get("occurred_at"), other.get("occurred_at")
    if a is None or b is None or abs(a - b) > rules.window:
        return None
    text = similarity(
        f"{report.get('title') or ''} {report.get('description') or ''}",
        f"{other.get('title') or ''} {other.get('description') or ''}",
    )
    if text < rules.min_similarity:
        return None
    closeness = 1 - abs(a - b) / rules.window
    same_tps = 1.0 if report.get("tps") and report.get("tps") == other.get("tps") else 0.0
    return round(0.6 * text + 0.3 * closeness + 0.1 * same_tps, 3)
