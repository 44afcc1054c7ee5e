"""``python -m pantau.bench``: benchmark the running local stack (``make bench``).

``python -m pantau.bench calibrate`` measures what the generator itself can send;
``python -m pantau.bench baseline`` measures only the raw aiokafka produce rate.
"""

import argparse
import asyncio
import json
import math
import os
import secrets
import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pantau.bench import baseline
from pantau.bench import calibrate as calibration
from pantau.bench.payloads import ReportFactory
from pantau.bench.results import Setup, markdown, write
from pantau.bench.runner import BenchOptions, StackNotReady, run_all
from pantau.bench.stats import median
from pantau.bench.tokens import MissingSecret, load_auth_settings, mint
from pantau.shared.settings import KafkaSettings

# Requests per second one generator process sustains with headroom (calibrated on the
# development machine: see `python -m pantau.bench calibrate`).
PER_PROCESS_RATE = 200
# intake limits each monitor token to 1200/minute (20/s); stay well below it.
PER_MONITOR_RATE = 10


def parser() -> argparse.ArgumentParser:
    kafka = KafkaSettings()
    p = argparse.ArgumentParser(prog="python -m pantau.bench", description=__doc__)
    sub = p.add_subparsers(dest="command")
    p.add_argument("-n", "--count", type=int, default=3000, help="reports per run")
    p.add_argument("-r", "--rate", type=float, default=300.0, help="target reports/s")
    p.add_argument("--runs", type=int, default=3, help="repeat runs; medians are reported")
    p.add_argument(
        "-p",
        "--processes",
        type=int,
        default=0,
        help=f"generator processes (default: one per {PER_PROCESS_RATE}/s of target rate)",
    )
    p.add_argument("-c", "--concurrency", type=int, default=32, help="in-flight per process")
    p.add_argument("--monitors", type=int, default=0, help="monitor tokens (default: by rate)")
    p.add_argument("--seed", type=int, default=None, help="payload seed (default: random)")
    p.add_argument("--intake-url", default="http://127.0.0.1:8000")
    p.add_argument("--reporting-url", default="http://127.0.0.1:8001")
    p.add_argument("--notifier-url", default="http://127.0.0.1:8002", help="for /metrics")
    p.add_argument("--classifier-url", default="http://127.0.0.1:8003", help="for /metrics")
    p.add_argument("--kafka-bootstrap", default=kafka.kafka_bootstrap)
    p.add_argument("--topic-prefix", default=kafka.topic_prefix)
    p.add_argument(
        "--poll-every",
        type=int,
        default=20,
        help="poll reporting for every n-th report's read model (0: never)",
    )
    p.add_argument(
        "--drain-timeout", type=float, default=60.0, help="seconds to await classification"
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the raw aiokafka baseline")
    p.add_argument(
        "--no-generator-ceiling",
        action="store_true",
        help="skip driving a bare endpoint with the same settings before each run",
    )
    p.add_argument("--out", type=Path, default=Path("var/bench"), help="report directory")
    base = sub.add_parser("baseline", help="only the raw aiokafka produce baseline")
    base.add_argument("-n", "--count", type=int, default=3000)
    base.add_argument("--runs", type=int, default=3)
    base.add_argument("-c", "--concurrency", type=int, default=64, help="awaiting senders")
    cal = sub.add_parser("calibrate", help="measure the generator against a bare endpoint")
    cal.add_argument("-n", "--count", type=int, default=3000)
    cal.add_argument("--max-processes", type=int, default=os.cpu_count() or 2)
    cal.add_argument("-c", "--concurrency", type=int, default=64)
    return p  # fmt: skip


def run_calibration(args: argparse.Namespace, console: Console) -> int:
    table = Table(title="Generator ceiling against a bare FastAPI/uvicorn endpoint")
    for column in ("processes", "requests", "achieved req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    with calibration.StubServer() as stub:
        for workers in range(1, args.max_processes + 1):
            result = calibration.calibrate(
                url=stub.url,
                workers=workers,
                count=args.count,
                target_rate=100_000,  # unreachable: the generator runs flat out
                concurrency=args.concurrency,
            )
            http = result.http
            table.add_row(
                str(workers),
                str(result.requests),
                f"{result.achieved_rate:,.0f}",
                f"{http.p50 * 1000:.1f}" if http else "–",
                f"{http.p99 * 1000:.1f}" if http else "–",
                str(result.errors),
            )
    console.print(table)
    return 0


def run_baseline(args: argparse.Namespace, console: Console) -> int:
    bodies = ReportFactory(seed=secrets.randbits(31)).batch(args.count)
    messages = [(b["client_report_id"].encode(), json.dumps(b).encode()) for b in bodies]
    table = Table(title=f"raw aiokafka produce, {args.count:,} report bodies, acks=all, idempotent")
    for column in ("run", "pipelined msg/s", f"awaited ×{args.concurrency} msg/s"):
        table.add_column(column, justify="right")
    results = []
    for run in range(1, args.runs + 1):
        result = asyncio.run(
            baseline.measure(
                bootstrap=args.kafka_bootstrap,
                topic=f"{args.topic_prefix}pantau.bench.scratch.{secrets.token_hex(4)}",
                messages=messages,
                concurrency=args.concurrency,
            )
        )
        results.append(result)
        table.add_row(str(run), f"{result.pipelined_rate:,.0f}", f"{result.awaited_rate:,.0f}")
    table.add_row(
        "median",
        f"{median(r.pipelined_rate for r in results):,.0f}",
        f"{median(r.awaited_rate for r in results):,.0f}",
    )
    console.print(table)
    return 0


def run_benchmark(args: argparse.Namespace, console: Console) -> int:
    try:
        settings = load_auth_settings()
    except MissingSecret as exc:
        console.print(f"[red]{exc}")
        return 2
    workers = args.processes or max(1, math.ceil(args.rate / PER_PROCESS_RATE))
    monitors = args.monitors or max(workers, math.ceil(args.rate / PER_MONITOR_RATE))
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    options = BenchOptions(
        count=args.count,
        rate=args.rate,
        workers=workers,
        concurrency=args.concurrency,
        runs=args.runs,
        seed=seed,
        intake_url=args.intake_url.rstrip("/"),
        reporting_url=args.reporting_url.rstrip("/"),
        kafka_bootstrap=args.kafka_bootstrap,
        topic_prefix=args.topic_prefix,
        poll_every=args.poll_every,
        drain_timeout=args.drain_timeout,
        with_baseline=not args.no_baseline,
        with_generator_ceiling=not args.no_generator_ceiling,
        service_urls=(
            ("intake", args.intake_url.rstrip("/")),
            ("classifier", args.classifier_url.rstrip("/")),
            ("notifier", args.notifier_url.rstrip("/")),
            ("reporting", args.reporting_url.rstrip("/")),
        ),
    )
    console.print(
        f"{options.runs} run(s) × {options.count:,} reports at {options.rate:,.0f}/s from "
        f"{workers} generator process(es), {monitors} monitor tokens, seed {seed}"
    )
    tokens = mint(settings=settings, monitors=monitors)
    try:
        runs = asyncio.run(run_all(options=options, tokens=tokens, console=console))
    except StackNotReady as exc:
        console.print(f"[red]{exc}")
        return 2
    setup = Setup(
        command=shlex.join(
            [sys.executable.rsplit("/", 1)[-1], "-m", "pantau.bench", *sys.argv[1:]]
        ),
        workers=workers,
        concurrency=options.concurrency,
        count=options.count,
        target_rate=options.rate,
        monitors=monitors,
        poll_every=options.poll_every,
        intake_url=options.intake_url,
        reporting_url=options.reporting_url,
        kafka_bootstrap=options.kafka_bootstrap,
        cores=os.cpu_count() or 0,
        notes=[f"Seed {seed}."],
    )
    report = markdown(setup=setup, runs=runs)
    path = write(report, directory=args.out)
    sys.stdout.write(report)  # raw markdown: rich would re-wrap the table rows
    console.print(f"written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark or the calibration."""
    args = parser().parse_args(argv)
    console = Console(stderr=False)
    if args.command == "calibrate":
        return run_calibration(args, console)
    if args.command == "baseline":
        return run_baseline(args, console)
    return run_benchmark(args, console)


if __name__ == "__main__":
    sys.exit(main())
