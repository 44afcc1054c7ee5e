"""Classification is a pure, deterministic function of (report, rules): every labelled
report (dev and holdout), plain, with a TPS/village suffix (as the benchmark varies
them) and with a title and category hint, must give exactly the output recorded in
``golden_classifications.jsonl`` — every field, floats and explanations included.

The golden file was generated before the speed work on the classifier, so any change
in behaviour, however small, fails here. After a deliberate rules or engine change,
regenerate it with ``PANTAU_REGENERATE_GOLDEN=1 pytest tests/unit/test_golden.py`` and
review the diff.
"""

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pantau.classifier.core import Classification, ReportInput, Ruleset, classify
from pantau.classifier.eval import DATA_DIR, SPLITS, load_examples

GOLDEN = Path(__file__).resolve().parent / "golden_classifications.jsonl"


def _cases() -> list[tuple[str, ReportInput]]:
    cases = []
    for split in SPLITS:
        for i, ex in enumerate(load_examples(DATA_DIR / f"{split}.jsonl")):
            cases.append((ex.id, ReportInput(text=ex.text)))
            cases.append(
                (f"{ex.id}+tps", ReportInput(text=f"{ex.text} (TPS {i % 900 + 1}, Desa X)"))
            )
            cases.append(
                (
                    f"{ex.id}+title",
                    ReportInput(
                        text=ex.text, title="Laporan dari TPS", category_hint=ex.category.value
                    ),
                )
            )
    return cases


def _record(case_id: str, result: Classification) -> dict[str, Any]:
    return {
        "id": case_id,
        "category": result.category.value,
        "secondary_categories": [c.value for c in result.secondary_categories],
        "severity": result.severity.value,
        "confidence": result.confidence,
        "institutions": list(result.institutions),
        "explanation": result.explanation,
        "explanation_en": result.explanation_en,
        "rules_version": result.rules_version,
        "scores": result.scores,
        "signals": [
            {
                "id": s.id,
                "kind": s.kind,
                "label_id": s.label_id,
                "label_en": s.label_en,
                "evidence": list(s.evidence),
                "weight": s.weight,
                "level": s.level.value if s.level is not None else None,
            }
            for s in result.signals
        ],
        "suppressed": list(result.suppressed),
    }


def test_every_labelled_report_classifies_exactly_as_recorded(rules: Ruleset) -> None:
    actual = [_record(case_id, classify(report, rules)) for case_id, report in _cases()]
    if os.environ.get("PANTAU_REGENERATE_GOLDEN") == "1":
        GOLDEN.write_text(
            "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in actual),
            encoding="utf-8",
        )
        pytest.skip("golden file regenerated; review the diff")
    expected = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]
    assert len(actual) == len(expected)
    changed = [(e["id"], a, e) for a, e in zip(actual, expected, strict=True) if a != e]
    assert not changed, f"{len(changed)} classifications changed; first: {changed[0]}"


def test_a_second_pass_with_warm_caches_gives_the_same_output(rules: Ruleset) -> None:
    cases = _cases()
    first = [_record(i, classify(r, rules)) for i, r in cases]
    second = [_record(i, classify(r, rules)) for i, r in reversed(cases)]
    assert first == second[::-1]
