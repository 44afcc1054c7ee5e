"""Running a long tool (mvn, go) with a live progress line and its output kept in a log."""

import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pantau.localstack.errors import StackError

console = Console(stderr=True, highlight=False)


def run_step(
    argv: Sequence[str],
    *,
    title: str,
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    fix: str,
) -> float:
    """Run ``argv`` showing ``title``, the elapsed time and the tool's latest output line.
    The whole output goes to ``log_path``. Returns the seconds taken; a failure raises a
    StackError with ``fix`` and the end of the output."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=25)
    started = time.monotonic()
    console.print(f"[bold]→[/] {title} (first run only; output in {log_path})")
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with (
        log_path.open("w") as log,
        Progress(*columns, console=console, transient=True) as progress,
    ):
        task = progress.add_task(title, total=None)
        with subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                text = line.strip()
                if text:
                    tail.append(text)
                    progress.update(task, description=f"{title}: [dim]{text[:90]}[/]")
            code = proc.wait()
    took = time.monotonic() - started
    if code != 0:
        raise StackError(
            f"{title} failed (exit code {code}) after {took:.0f} s; full output in {log_path}.",
            fix=fix,
            log_tail="\n".join(tail),
        )
    console.print(f"[green]✓[/] {title} ({took:.0f} s)")
    return took
