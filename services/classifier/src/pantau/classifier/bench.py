"""``python -m pantau.classifier.bench``: pure classification speed on one core.

Classifies a corpus built from the labelled reports (each one varied with its own TPS
number and village name, so no two texts are equal) several times and prints the
median reports/s, with two baselines measured in the same runs because this machine is
shared and noisy: lower-casing and splitting every text, and tokenising it with case
folding and the raw-token regex over the whole text (the classifier's first step until
it split texts at whitespace and cached each chunk; kept so ratios stay comparable). The
first pass runs with an empty stem cache and is reported separately: the stemmer is
slow, and the cache (bounded, per rules) is what makes steady state fast.
"""

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Sequence

from pantau.classifier.core import ReportInput, classify, load_rules
from pantau.classifier.core.text import raw_tokens
from pantau.classifier.eval import DATA_DIR, SPLITS, load_examples

VILLAGES = ("Sukamaju", "Cibeureum", "Karanganyar", "Mekarsari", "Sumber Rejo", "Tanjung Baru")


def corpus(size: int) -> list[ReportInput]:
    """``size`` distinct reports built from the labelled sets."""
    texts = [ex.text for split in SPLITS for ex in load_examples(DATA_DIR / f"{split}.jsonl")]
    return [
        ReportInput(
            text=f"{texts[i % len(texts)]} (TPS {i % 900 + 1}, Desa {VILLAGES[i % len(VILLAGES)]})"
        )
        for i in range(size)
    ]


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m pantau.classifier.bench", description=__doc__)
    parser.add_argument("--reports", type=int, default=20_000, help="reports per run")
    parser.add_argument("--runs", type=int, default=7, help="timed runs (median reported)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    reports = corpus(args.reports)
    rules = load_rules()

    started = time.perf_counter()
    for report in reports:
        classify(report, rules)
    cold = _rate(len(reports), time.perf_counter() - started)
    gc.freeze()  # as the service does after start-up

    rates, baselines, tokenised = [], [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        for report in reports:
            report.text.lower().split()
        baselines.append(_rate(len(reports), time.perf_counter() - started))
        started = time.perf_counter()
        for report in reports:
            raw_tokens(report.text)
        tokenised.append(_rate(len(reports), time.perf_counter() - started))
        started = time.perf_counter()
        for report in reports:
            classify(report, rules)
        rates.append(_rate(len(reports), time.perf_counter() - started))

    median = statistics.median(rates)
    baseline = statistics.median(baselines)
    mean_chars = sum(len(r.text) for r in reports) / len(reports)
    print(f"rules {rules.version}; {len(reports)} distinct reports, mean {mean_chars:.0f} chars")
    print(f"first pass (empty stem cache): {cold:,.0f} reports/s")
    print(
        f"classify, median of {args.runs} runs: {median:,.0f} reports/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}) on one core"
    )
    ratio = median / baseline
    print(f"baseline lower()+split(), same runs: {baseline:,.0f} texts/s (ratio {ratio:.4f})")
    tokens = statistics.median(tokenised)
    print(
        f"baseline tokenise only (fold + raw-token regex), same runs: {tokens:,.0f} texts/s "
        f"(ratio {median / tokens:.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
