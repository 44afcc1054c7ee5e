"""``python -m pantau.classifier.eval``: score the rules on the labelled reports.

Prints per-category precision/recall/F1, macro-F1, severity accuracy and the category
confusion matrix. ``--split dev`` is the set the rules were written against;
``--split holdout`` was written separately and is only ever scored, never tuned on.
"""

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pantau.classifier.core import ReportInput, Ruleset, classify, load_rules
from pantau.shared.events import Category, Severity

DATA_DIR = Path(__file__).resolve().parents[3] / "data"
SPLITS = ("dev", "holdout")

_SHORT = {
    Category.BENCANA_ALAM: "benc",
    Category.LOGISTIK: "logi",
    Category.DPT_PEMILIH: "dpt",
    Category.POLITIK_UANG: "uang",
    Category.NETRALITAS_ASN: "asn",
    Category.PELANGGARAN_ADMINISTRATIF: "adm",
    Category.TINDAK_PIDANA_PEMILU: "pid",
    Category.PELANGGARAN_KODE_ETIK: "etik",
    Category.PEMUNGUTAN_SUARA_ULANG: "psu",
    Category.KEAMANAN: "aman",
    Category.HOAKS: "hoax",
    Category.GANGGUAN_TEKNIS: "tekn",
    Category.NOT_AN_INCIDENT: "none",
}


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    category: Category
    severity: Severity
    source: str


@dataclass(frozen=True, slots=True)
class Scores:
    """Evaluation figures of one run."""

    per_category: dict[Category, tuple[float, float, float, int]]  # P, R, F1, support
    macro_f1: float
    accuracy: float
    severity_accuracy: float
    confusion: dict[tuple[Category, Category], int]
    severity_confusion: dict[tuple[Severity, Severity], int]
    errors: list[tuple[Example, Category, Severity]]
    n: int


def load_examples(path: Path) -> list[Example]:
    """Read a JSON-lines file of labelled reports."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            out.append(
                Example(
                    id=row["id"],
                    text=row["text"],
                    category=Category(row["category"]),
                    severity=Severity(row["severity"]),
                    source=row.get("source", "synthetic"),
                )
            )
        except (KeyError, ValueError) as exc:
            raise SystemExit(f"{path}:{n}: bad example: {exc}") from exc
    return out


def evaluate(examples: Sequence[Example], rules: Ruleset) -> Scores:
    """Classify every example and compare with its labels."""
    confusion: Counter[tuple[Category, Category]] = Counter()
    sev_confusion: Counter[tuple[Severity, Severity]] = Counter()
    errors = []
    for ex in examples:
        got = classify(ReportInput(text=ex.text), rules)
        confusion[(ex.category, got.category)] += 1
        sev_confusion[(ex.severity, got.severity)] += 1
        if got.category != ex.category or got.severity != ex.severity:
            errors.append((ex, got.category, got.severity))
    per_category = {}
    for cat in Category:
        tp = confusion[(cat, cat)]
        predicted = sum(v for (_, p), v in confusion.items() if p == cat)
        support = sum(v for (g, _), v in confusion.items() if g == cat)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_category[cat] = (precision, recall, f1, support)
    present = [c for c in Category if per_category[c][3] > 0]
    n = len(examples)
    return Scores(
        per_category=per_category,
        macro_f1=sum(per_category[c][2] for c in present) / len(present) if present else 0.0,
        accuracy=sum(confusion[(c, c)] for c in Category) / n if n else 0.0,
        severity_accuracy=sum(sev_confusion[(s, s)] for s in Severity) / n if n else 0.0,
        confusion=dict(confusion),
        severity_confusion=dict(sev_confusion),
        errors=errors,
        n=n,
    )


def render(scores: Scores, *, title: str, show_errors: bool) -> str:
    """The report printed by the command."""
    lines = [f"== {title}: {scores.n} reports", ""]
    lines.append(f"{'category':28} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}")
    for cat, (p, r, f1, support) in scores.per_category.items():
        if support or any(pred == cat for (_, pred) in scores.confusion):
            lines.append(f"{cat.value:28} {p:6.3f} {r:6.3f} {f1:6.3f} {support:4d}")
    lines += [
        "",
        f"macro-F1 (category)   {scores.macro_f1:.3f}",
        f"accuracy (category)   {scores.accuracy:.3f}",
        f"accuracy (severity)   {scores.severity_accuracy:.3f}",
        "",
        "confusion matrix (rows: label, columns: predicted)",
        "      " + " ".join(f"{_SHORT[c]:>4}" for c in Category),
    ]
    for gold in Category:
        cells = " ".join(f"{scores.confusion.get((gold, p), 0) or '.':>4}" for p in Category)
        lines.append(f"{_SHORT[gold]:>5} {cells}")
    lines += ["", "severity confusion (rows: label, columns: predicted)"]
    lines.append("          " + " ".join(f"{s.value:>8}" for s in Severity))
    for gold_sev in Severity:
        cells = " ".join(
            f"{scores.severity_confusion.get((gold_sev, p), 0) or '.':>8}" for p in Severity
        )
        lines.append(f"{gold_sev.value:>9} {cells}")
    if show_errors and scores.errors:
        lines += ["", "errors (label → predicted):"]
        for ex, cat, sev in scores.errors:
            lines.append(
                f"  {ex.id} {ex.category.value}/{ex.severity.value} → {cat.value}/{sev.value}: "
                f"{ex.text[:110]}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pantau.classifier.eval", description=__doc__)
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder of <split>.jsonl")
    parser.add_argument("--rules", type=Path, default=None, help="rules YAML to evaluate")
    parser.add_argument("--errors", action="store_true", help="list misclassified reports")
    parser.add_argument("--min-macro-f1", type=float, default=0.0, help="fail below this")
    parser.add_argument("--min-severity-accuracy", type=float, default=0.0, help="fail below")
    args = parser.parse_args(argv)
    rules = load_rules(args.rules)
    splits = SPLITS if args.split == "all" else (args.split,)
    failed = False
    for split in splits:
        scores = evaluate(load_examples(args.data / f"{split}.jsonl"), rules)
        title = f"{split} (rules {rules.version})"
        print(render(scores, title=title, show_errors=args.errors), end="\n\n")
        if scores.macro_f1 < args.min_macro_f1:
            failed = True
        if scores.severity_accuracy < args.min_severity_accuracy:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
