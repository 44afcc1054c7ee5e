"""JSON lines in, JSON lines out: the format of ``pantau classify``."""

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pantau.classifier.core import Classification, ReportInput, Ruleset, classify

MAX_LINE_CHARS = 100_000


def classification_dict(result: Classification) -> dict[str, Any]:
    """The JSON form of a classification (without the report id)."""
    return {
        "category": result.category.value,
        "severity": result.severity.value,
        "secondary_categories": [c.value for c in result.secondary_categories],
        "confidence": result.confidence,
        "institutions": list(result.institutions),
        "explanation": result.explanation,
        "explanation_en": result.explanation_en,
        "rules_version": result.rules_version,
    }


def classify_line(line: str, rules: Ruleset) -> dict[str, Any]:
    """Classify one JSON line ``{"id", "text"[, "title", "category_hint"]}``.

    A line that is not such an object yields ``{"id", "error"}``, so output lines stay
    aligned with input lines.
    """
    if len(line) > MAX_LINE_CHARS:
        return {"id": None, "error": f"line longer than {MAX_LINE_CHARS} characters"}
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"id": None, "error": f"invalid JSON: {exc.msg}"}
    if not isinstance(obj, dict):
        return {"id": None, "error": "expected a JSON object"}
    report_id = obj.get("id")
    text = obj.get("text")
    if not isinstance(text, str):
        return {"id": report_id, "error": "`text` must be a string"}
    title, hint = obj.get("title"), obj.get("category_hint")
    report = ReportInput(
        text=text,
        title=title if isinstance(title, str) else None,
        category_hint=hint if isinstance(hint, str) else None,
    )
    return {"id": report_id, **classification_dict(classify(report, rules))}


def classify_lines(lines: Iterable[str], rules: Ruleset) -> Iterator[dict[str, Any]]:
    """Classify every non-blank line, in order."""
    for line in lines:
        if line.strip():
            yield classify_line(line, rules)
