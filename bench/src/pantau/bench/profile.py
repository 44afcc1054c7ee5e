"""``python -m pantau.bench profile``: where the pipeline's CPU goes under a steady load.

While the load generator drives intake at a fixed rate, every Python service is sampled
with py-spy (``--nonblocking``: the service is never paused; idle threads are left out,
so the samples are CPU time) and FerretDB with its Go CPU profiler (its debug endpoint,
which the developer stack turns on). The folded stacks are reduced here to what a
reader needs: each process's cores in the window, its hottest functions (own time) and
its CPU by package (own time of the frames in each library), so a missed goal is named
with what limits it, from a profile rather than a guess.
"""

import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

PYTHON_SERVICES = ("intake", "classifier", "notifier", "reporting")
SAMPLE_RATE_HZ = 97  # prime: no lock-step with periodic work
TOP_FUNCTIONS = 12
TOP_PACKAGES = 8


@dataclass(frozen=True)
class FoldedProfile:
    """Folded stacks of one process reduced to own-time shares."""

    samples: int
    by_function: Counter[str]  # leaf frame -> samples
    by_package: Counter[str]  # package of the leaf frame -> samples

    def share(self, count: int) -> float:
        return count / self.samples if self.samples else 0.0


def frame_parts(frame: str) -> tuple[str, str]:
    """``"name (path:line)"`` as py-spy writes it -> (function, file path)."""
    name, _, location = frame.partition(" (")
    path = location.rstrip(")").rpartition(":")[0] if location else ""
    return name.strip(), path


# Pantau's own packages (PEP 420 parts of ``pantau``); py-spy shortens their paths to
# ``<part>/...`` like it shortens ``site-packages/<library>/...`` to ``<library>/...``.
PANTAU_PARTS = frozenset(
    {"intake", "classifier", "notifier", "reporting", "shared", "cli", "localstack", "bench"}
)
# The frame that enters the event loop's C code (uvloop, or asyncio's selector): as a
# leaf it stands for time below it without Python frames (I/O in C, or waiting).
EVENT_LOOP = "event loop (C code or waiting)"


def package_of(path: str) -> str:
    """The library a source file belongs to: ``pantau.<part>`` for the project's own
    code, ``stdlib:<module>`` for the standard library, else the library's top-level
    name; ``native`` for frames without a file. Takes py-spy's shortened paths
    (``pymongo/message.py``) and absolute ones."""
    if not path:
        return "native"
    if path.startswith("<frozen "):
        return "stdlib:" + path.removeprefix("<frozen ").removesuffix(">")
    if "/site-packages/" in path:
        path = path.split("/site-packages/", 1)[1]
    elif "/src/pantau/" in path:
        path = path.rsplit("/src/pantau/", 1)[1]
    elif "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].partition("/")[2]
    parts = path.lstrip("/").split("/")
    if parts[0] == "pantau" and len(parts) > 1:
        parts = parts[1:]
    top = parts[0].removesuffix(".py")
    if top in PANTAU_PARTS and len(parts) > 1:
        return f"pantau.{top}"
    if top in sys.stdlib_module_names:
        return f"stdlib:{top}"
    return top.split(".", 1)[0]


def is_event_loop(frame: str) -> bool:
    name, path = frame_parts(frame)
    return name == "Runner.run" and path.endswith("asyncio/runners.py")


def short_function(frame: str) -> str:
    """A leaf frame as ``function (package/file.py)``: enough to find it, short to read."""
    name, path = frame_parts(frame)
    if "/" not in path:
        return f"{name} ({package_of(path)})" if path else name
    return f"{name} ({package_of(path)}:{Path(path).name})"


def parse_folded(text: str) -> FoldedProfile:
    """py-spy's ``--format raw`` output: one ``frame;frame;...;leaf count`` per line."""
    by_function: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        leaf = stack.rsplit(";", 1)[-1]
        if is_event_loop(leaf):
            by_function[EVENT_LOOP] += count
            by_package[EVENT_LOOP] += count
        else:
            by_function[short_function(leaf)] += count
            by_package[package_of(frame_parts(leaf)[1])] += count
        samples += count
    return FoldedProfile(samples=samples, by_function=by_function, by_package=by_package)


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.is_file() else shutil.which("py-spy")


async def record_python(pid: int, *, seconds: float, out: Path) -> str | None:
    """Sample ``pid`` for ``seconds`` into ``out``; an error text instead when it fails."""
    executable = py_spy()
    if executable is None:
        return "py-spy is not installed (pip install py-spy)"
    process = await asyncio.create_subprocess_exec(
        executable,
        "record",
        "--nonblocking",
        "--format",
        "raw",
        "--rate",
        str(SAMPLE_RATE_HZ),
        "--duration",
        str(max(1, round(seconds))),
        "--pid",
        str(pid),
        "--output",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        return output.decode(errors="replace").strip()[-300:] or f"exit {process.returncode}"
    return None


async def record_ferretdb(debug_url: str, *, seconds: float) -> bytes | str:
    """FerretDB's Go CPU profile over ``seconds``, or an error text."""
    url = f"{debug_url}/debug/pprof/profile?seconds={max(1, round(seconds))}"
    try:
        async with httpx.AsyncClient(timeout=seconds + 30) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return f"{url}: {exc!r}"
    if response.status_code != 200:
        return f"{url} answered {response.status_code}"
    return response.content


def pprof_top(profile: Path, *, cumulative: bool, lines: int) -> str | None:
    """``go tool pprof -top`` of a Go profile (the binary's symbols are in the profile);
    None when Go is not installed or pprof fails."""
    go = shutil.which("go")
    if go is None:
        return None
    command = [go, "tool", "pprof", "-top", f"-nodecount={lines}"]
    command += ["-cum"] if cumulative else []
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [*command, str(profile)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        return None
    body = result.stdout.splitlines()
    start = next((i for i, line in enumerate(body) if line.lstrip().startswith("flat")), 0)
    return "\n".join(body[start:])


@dataclass(frozen=True)
class ProfileReport:
    command: str
    when: str
    machine: str
    rate: float
    seconds: float
    accepted_per_second: float | None
    cores: Mapping[str, float | None]  # process -> cores used in the window
    python: Mapping[str, FoldedProfile]
    errors: Mapping[str, str]
    ferretdb_flat: str | None
    ferretdb_cumulative: str | None
    raw_dir: Path


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def profile_markdown(report: ProfileReport, *, order: Sequence[str]) -> str:
    """The profile as markdown: cores per process, then each process's hot spots."""
    lines = [
        f"# Pantau CPU profile, {report.when}",
        "",
        f"`{report.command}` on {report.machine}: {report.rate:,.0f} reports/s offered for "
        f"{report.seconds:g} s of sampling"
        + (
            f" ({report.accepted_per_second:,.0f}/s accepted over the run)."
            if report.accepted_per_second is not None
            else "."
        ),
        "",
        "| process | cores used | samples |",
        "|---|---:|---:|",
    ]
    for name in order:
        cores = report.cores.get(name)
        profile = report.python.get(name)
        samples = str(profile.samples) if profile else "—"
        lines.append(f"| {name} | {'—' if cores is None else f'{cores:.2f}'} | {samples} |")
    for name in order:
        profile = report.python.get(name)
        if profile is None or not profile.samples:
            continue
        lines += ["", f"## {name}", "", "| own time by package | share |", "|---|---:|"]
        lines += [
            f"| {package} | {_percent(profile.share(count))} |"
            for package, count in profile.by_package.most_common(TOP_PACKAGES)
        ]
        lines += ["", "| hottest functions (own time) | share |", "|---|---:|"]
        lines += [
            f"| `{function}` | {_percent(profile.share(count))} |"
            for function, count in profile.by_function.most_common(TOP_FUNCTIONS)
        ]
    if report.ferretdb_flat or report.ferretdb_cumulative:
        lines += ["", "## ferretdb (Go CPU profile)", ""]
        for title, text in (
            ("own time", report.ferretdb_flat),
            ("cumulative", report.ferretdb_cumulative),
        ):
            if text:
                lines += [f"{title}:", "", "```", text, "```", ""]
    if report.errors:
        lines += ["", "## Not profiled", ""]
        lines += [f"- {name}: {why}" for name, why in sorted(report.errors.items())]
    lines += ["", f"Raw profiles: `{report.raw_dir}` (py-spy folded stacks, FerretDB pprof)."]
    return "\n".join(lines) + "\n"
