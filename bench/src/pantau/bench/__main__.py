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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pantau.bench import baseline, monitor
from pantau.bench import calibrate as calibration
from pantau.bench import profile as profiling
from pantau.bench.monitor import GENERATOR, LagProbe, Processes, Timeline
from pantau.bench.payloads import ReportFactory
from pantau.bench.plots import soak_png, sweep_png
from pantau.bench.report import Machine, SweepReport, soak_figures, soak_markdown, sweep_markdown
from pantau.bench.report import write as write_report
from pantau.bench.results import Setup, markdown
from pantau.bench.runner import BenchOptions, StackNotReady, run_profile, run_soak, run_sweep
from pantau.bench.search import SearchPlan
from pantau.bench.stats import median
from pantau.bench.tokens import MissingSecret, Tokens, load_auth_settings, mint
from pantau.localstack.config import FERRETDB_DEBUG_PORT, StackConfig
from pantau.shared.settings import KafkaSettings

# Requests per second one generator process sustains with headroom (calibrated on the
# development machine: see `python -m pantau.bench calibrate`; 1,750-2,950 req/s with
# aiohttp on a loaded machine, 143-174 with httpx before).
PER_PROCESS_RATE = 800
# intake limits each monitor token to 1200/minute (20/s); stay well below it.
PER_MONITOR_RATE = 10


def parser() -> argparse.ArgumentParser:
    kafka = KafkaSettings()
    p = argparse.ArgumentParser(prog="python -m pantau.bench", description=__doc__)
    sub = p.add_subparsers(dest="command")
    p.add_argument("--rates", default="100,400,1000", help="fixed target rates, reports/s")
    p.add_argument("-r", "--rate", type=float, default=None, help="one fixed rate instead")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    p.add_argument(
        "-n", "--count", type=int, default=0, help="reports per run (default: rate × duration)"
    )
    p.add_argument("--no-search", action="store_true", help="skip the search for the maximum rate")
    p.add_argument("--search-probes", type=int, default=4, help="runs of the maximum search")
    p.add_argument("--search-ceiling", type=float, default=3000.0, help="highest rate to probe")
    p.add_argument("--read-model-timeout", type=float, default=20.0, help="cap, seconds")
    p.add_argument("--alert-timeout", type=float, default=15.0, help="cap on awaiting notifier lag")
    p.add_argument("--sample-interval", type=float, default=1.0, help="CPU/RSS/lag sampling, s")
    p.add_argument("--runs", type=int, default=3, help="repeat runs; medians are reported")
    p.add_argument(
        "-p",
        "--processes",
        type=int,
        default=0,
        help=f"generator processes (default: one per {PER_PROCESS_RATE}/s of target rate)",
    )
    p.add_argument("-c", "--concurrency", type=int, default=64, help="in-flight per process")
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
    soak = sub.add_parser("soak", help="long steady load: memory and lag slopes")
    soak.add_argument("--minutes", type=float, default=30.0)
    soak.add_argument("--rate", dest="soak_rate", type=float, default=200.0)
    soak.add_argument("--interval", type=float, default=5.0, help="sampling interval, s")
    prof = sub.add_parser("profile", help="where each process's CPU goes under steady load")
    prof.add_argument("--rate", dest="profile_rate", type=float, default=100.0)
    prof.add_argument("--seconds", type=float, default=20.0, help="sampling window, s")
    prof.add_argument("--warmup", type=float, default=5.0, help="load before sampling, s")
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


def _options_factory(args: argparse.Namespace, seed: int) -> Callable[[float], BenchOptions]:
    def options_for(rate: float) -> BenchOptions:
        workers = args.processes or max(1, math.ceil(rate / PER_PROCESS_RATE))
        return BenchOptions(
            count=args.count or max(1, round(rate * args.duration)),
            rate=rate,
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
            read_model_timeout=args.read_model_timeout,
            alert_timeout=args.alert_timeout,
            with_baseline=not args.no_baseline,
            with_generator_ceiling=not args.no_generator_ceiling,
            service_urls=(
                ("intake", args.intake_url.rstrip("/")),
                ("classifier", args.classifier_url.rstrip("/")),
                ("notifier", args.notifier_url.rstrip("/")),
                ("reporting", args.reporting_url.rstrip("/")),
            ),
        )

    return options_for


def _timeline(args: argparse.Namespace, interval: float) -> Timeline:
    processes = Processes(StackConfig.default().run_dir, extra={GENERATOR: os.getpid()})
    lag = LagProbe(
        bootstrap=args.kafka_bootstrap,
        topic_prefix=args.topic_prefix,
        group_prefix=KafkaSettings().consumer_group_prefix,
    )
    return Timeline(processes=processes, lag=lag, interval=interval)


def _command() -> str:
    return shlex.join([sys.executable.rsplit("/", 1)[-1], "-m", "pantau.bench", *sys.argv[1:]])


def run_benchmark(args: argparse.Namespace, console: Console) -> int:
    try:
        settings = load_auth_settings()
    except MissingSecret as exc:
        console.print(f"[red]{exc}")
        return 2
    rates = [args.rate] if args.rate else [float(r) for r in args.rates.split(",") if r.strip()]
    plan = (
        None
        if args.no_search
        else SearchPlan(
            start=max(rates or [400.0]),
            max_probes=len(rates) + args.search_probes,
            ceiling=args.search_ceiling,
        )
    )
    top = max([*rates, plan.ceiling if plan else 0.0])
    monitors = args.monitors or max(1, math.ceil(top / PER_MONITOR_RATE))
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    options_for = _options_factory(args, seed)
    console.print(
        f"rates {', '.join(f'{r:,.0f}' for r in rates)}/s × {args.runs} run(s) of "
        f"{args.count or f'{args.duration:g} s'} each"
        + (f", then up to {args.search_probes} probes for the maximum" if plan else "")
        + f"; {monitors} monitor tokens, seed {seed}"
    )
    tokens = mint(settings=settings, monitors=monitors)
    processes_timeline = _timeline(args, args.sample_interval)
    try:
        sweep = asyncio.run(
            run_sweep(
                options_for=options_for,
                rates=rates,
                runs=args.runs,
                plan=plan,
                tokens=tokens,
                console=console,
                timeline=processes_timeline,
                seed=seed,
            )
        )
    except StackNotReady as exc:
        console.print(f"[red]{exc}")
        return 2
    hwm = {n: b / monitor.MB for n, b in processes_timeline.processes.peak_rss().items()}
    details = {}
    for rate, runs in sweep.fixed.items():
        options = options_for(rate)
        setup = Setup(
            command=_command(),
            workers=options.workers,
            concurrency=options.concurrency,
            count=options.count,
            target_rate=rate,
            monitors=monitors,
            poll_every=options.poll_every,
            intake_url=options.intake_url,
            reporting_url=options.reporting_url,
            kafka_bootstrap=options.kafka_bootstrap,
            cores=os.cpu_count() or 0,
        )
        details[rate] = markdown(setup=setup, runs=runs)
    when = datetime.now(UTC)
    notes = [
        f"Seed {seed}; {args.duration:g} s per run ({args.count or 'rate × duration'} reports), "
        f"read model polled for every {args.poll_every}th report for at most "
        f"{args.read_model_timeout:g} s; notifier lag awaited at most {args.alert_timeout:g} s.",
        f"Pids: {', '.join(f'{n} {p}' for n, p in sweep.pids.items())}.",
    ]
    notes += [f"A run at {rate:,.0f}/s did not finish: {why}" for rate, why in sweep.failed]
    if processes_timeline.lag_errors:
        notes.append(f"{processes_timeline.lag_errors} lag samples failed (left out).")
    report = SweepReport(
        command=_command(),
        machine=Machine.here(),
        fixed=sweep.fixed,
        probes=sweep.probes,
        history=sweep.probe_history(),
        hwm_mb=hwm,
        notes=notes,
        when=when,
    )
    text = sweep_markdown(report, details=details)
    path = write_report(text, directory=args.out, stem="bench", when=when)
    png = sweep_png(
        path.with_suffix(".png"),
        fixed=sweep.fixed,
        probes=[r for _, r in sweep.probes],
        samples=sweep.samples,
    )
    sys.stdout.write(text)  # raw markdown: rich would re-wrap the table rows
    console.print(f"written to {path} and {png}")
    return 0


def _steady_run(
    args: argparse.Namespace, *, rate: float, count: int
) -> tuple[BenchOptions, Tokens, int]:
    """Options, tokens and seed of one long open-loop run at ``rate`` (soak, profile):
    no read-model polling (reporting's consumer lag shows it), no baselines. Raises
    ``MissingSecret`` when the stack's secret is not there."""
    settings = load_auth_settings()
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    args.count = count
    args.poll_every = 0
    args.no_baseline = True
    args.no_generator_ceiling = True
    options = _options_factory(args, seed)(rate)
    monitors = args.monitors or max(options.workers, math.ceil(rate / PER_MONITOR_RATE))
    return options, mint(settings=settings, monitors=monitors), seed


def run_soak_command(args: argparse.Namespace, console: Console) -> int:
    rate = args.soak_rate
    try:
        options, tokens, seed = _steady_run(
            args, rate=rate, count=max(1, round(rate * args.minutes * 60))
        )
    except MissingSecret as exc:
        console.print(f"[red]{exc}")
        return 2
    timeline = _timeline(args, args.interval)
    console.print(f"soak: {rate:,.0f} reports/s for {args.minutes:g} min ({args.count:,} reports)")
    try:
        run, samples = asyncio.run(
            run_soak(options=options, tokens=tokens, console=console, timeline=timeline, seed=seed)
        )
    except StackNotReady as exc:
        console.print(f"[red]{exc}")
        return 2
    start = run.window[0]
    end = start + args.minutes * 60
    memory, lag = soak_figures(samples, start=start, end=end)
    when = datetime.now(UTC)
    text = soak_markdown(
        command=_command(),
        machine=Machine.here(),
        rate=rate,
        minutes=args.minutes,
        run=run,
        memory=memory,
        lag=lag,
        when=when,
    )
    path = write_report(text, directory=args.out, stem="soak", when=when)
    png = soak_png(path.with_suffix(".png"), samples=samples, start=start, end=end)
    sys.stdout.write(text)
    console.print(f"written to {path} and {png}")
    return 0


def run_profile_command(args: argparse.Namespace, console: Console) -> int:
    rate = args.profile_rate
    try:
        options, tokens, seed = _steady_run(
            args, rate=rate, count=max(1, round(rate * (args.warmup + args.seconds + 2)))
        )
    except MissingSecret as exc:
        console.print(f"[red]{exc}")
        return 2
    timeline = _timeline(args, 1.0)
    stack = StackConfig.default(ferretdb_debug_port=FERRETDB_DEBUG_PORT)
    when = datetime.now(UTC)
    raw_dir = args.out / f"profile-{when:%Y%m%dT%H%M%SZ}"
    raw_dir.mkdir(parents=True, exist_ok=True)
    console.print(
        f"profile: {rate:,.0f} reports/s, sampling {args.seconds:g} s after {args.warmup:g} s"
    )
    try:
        run = asyncio.run(
            run_profile(
                options=options,
                tokens=tokens,
                console=console,
                timeline=timeline,
                seed=seed,
                warmup=args.warmup,
                seconds=args.seconds,
                ferretdb_debug_url=stack.ferretdb_debug_url,
                raw_dir=raw_dir,
            )
        )
    except StackNotReady as exc:
        console.print(f"[red]{exc}")
        return 2
    window = timeline.between(*run.window)
    names = [*profiling.PYTHON_SERVICES, "kafka", "ferretdb", GENERATOR]
    python = {
        name: profiling.parse_folded(path.read_text())
        for name, path in run.python.items()
        if path.is_file()
    }
    flat = cumulative = None
    if run.ferretdb is not None:
        flat = profiling.pprof_top(run.ferretdb, cumulative=False, lines=15)
        cumulative = profiling.pprof_top(run.ferretdb, cumulative=True, lines=25)
    report = profiling.ProfileReport(
        command=_command(),
        when=f"{when:%Y-%m-%d %H:%M} UTC",
        machine=Machine.here().line(),
        rate=rate,
        seconds=args.seconds,
        accepted_per_second=run.result.accepted_rate,
        cores={name: monitor.cores_used(window, name) for name in names},
        python=python,
        errors=run.errors,
        ferretdb_flat=flat,
        ferretdb_cumulative=cumulative,
        raw_dir=raw_dir,
    )
    text = profiling.profile_markdown(report, order=names)
    path = write_report(text, directory=args.out, stem="profile", when=when)
    sys.stdout.write(text)
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
    if args.command == "soak":
        return run_soak_command(args, console)
    if args.command == "profile":
        return run_profile_command(args, console)
    return run_benchmark(args, console)


if __name__ == "__main__":
    sys.exit(main())
