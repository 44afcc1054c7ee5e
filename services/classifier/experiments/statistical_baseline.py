"""Does a statistical model beat the rules? (Evidence for the classifier notes.)

Not part of the service and not a dependency: run it in a scratch venv that has
scikit-learn and PySastrawi plus this package on the path, e.g.

    python -m venv /tmp/skl && /tmp/skl/bin/pip install scikit-learn PySastrawi \
        -e shared -e services/classifier
    /tmp/skl/bin/python services/classifier/experiments/statistical_baseline.py

It trains a character n-gram TF-IDF + logistic regression on the dev split, scores it
alone on the held-out split, and scores "rule scores + alpha * model probability" with
alpha chosen on out-of-fold dev predictions only (the held-out split is never tuned on).
"""

import json
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from pantau.classifier.core import ReportInput, classify, load_rules

DATA = Path(__file__).resolve().parents[1] / "data"
ALPHAS = (0, 1, 2, 4, 6, 8)


def load(split: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{split}.jsonl").read_text().splitlines()]


def model():
    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        LogisticRegression(C=10, max_iter=2000),
    )


def main() -> None:
    dev, held = load("dev"), load("holdout")
    texts, labels = [d["text"] for d in dev], [d["category"] for d in dev]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    oof = cross_val_predict(model(), texts, labels, cv=folds, method="predict_proba")
    fitted = model().fit(texts, labels)
    classes = list(fitted.classes_)
    held_probs = fitted.predict_proba([d["text"] for d in held])
    alone = f1_score(
        [d["category"] for d in held], fitted.predict([d["text"] for d in held]), average="macro"
    )
    print(f"model alone, held-out macro-F1: {alone:.3f}")
    rules = load_rules()

    def combined(rows: list[dict], probs, alpha: float) -> float:
        predicted = []
        for row, prob in zip(rows, probs, strict=True):
            result = classify(ReportInput(text=row["text"]), rules)
            if alpha == 0:
                predicted.append(result.category.value)
                continue
            scores = {
                c: result.scores.get(c, 0.0) + alpha * p for c, p in zip(classes, prob, strict=True)
            }
            if not result.scores:
                scores["not_an_incident"] += 2.0
            predicted.append(max(scores, key=scores.get))
        return f1_score([r["category"] for r in rows], predicted, average="macro")

    for alpha in ALPHAS:
        print(
            f"alpha {alpha}: dev (out-of-fold) {combined(dev, oof, alpha):.3f}, "
            f"held-out {combined(held, held_probs, alpha):.3f}"
        )


if __name__ == "__main__":
    main()
