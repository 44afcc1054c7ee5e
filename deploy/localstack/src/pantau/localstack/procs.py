"""Processes the launcher owns: start in their own process group, remember them in a pid
file, and only ever signal a process proven to be the one we started."""

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pantau.localstack.system import read_cmdline

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class PidRecord:
    """What a pid file holds: the pid, plus the start time and argv that prove a live
    process with this pid is still ours (pids get reused)."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]

    def render(self) -> str:
        meta = {"name": self.name, "start_ticks": self.start_ticks, "argv": list(self.argv)}
        # First line is the bare pid, as tools expect of a pid file.
        return f"{self.pid}\n{json.dumps(meta)}\n"

    @classmethod
    def parse(cls, text: str) -> "PidRecord | None":
        lines = text.splitlines()
        try:
            meta = json.loads(lines[1])
            return cls(
                name=str(meta["name"]),
                pid=int(lines[0]),
                start_ticks=int(meta["start_ticks"]),
                argv=tuple(str(arg) for arg in meta["argv"]),
            )
        except (IndexError, ValueError, KeyError, TypeError):
            return None


def process_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _process_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_running(pid: int) -> bool:
    """True for a live process (a zombie has finished and is not running)."""
    state = _process_state(pid)
    return state is not None and state not in ("Z", "X")


def _settled_cmdline(pid: int, *, timeout: float = 2.0) -> list[str] | None:
    """argv of ``pid``; a process caught inside execve briefly shows an empty one."""
    deadline = time.monotonic() + timeout
    while True:
        argv = read_cmdline(pid)
        if argv or argv is None or time.monotonic() > deadline or not is_running(pid):
            return argv
        time.sleep(0.01)


def is_ours(record: PidRecord) -> bool:
    """True when ``record.pid`` is alive and still the very process we started."""
    if not is_running(record.pid):
        return False
    if process_start_ticks(record.pid) != record.start_ticks:
        return False
    return tuple(_settled_cmdline(record.pid) or ()) == record.argv


def record_for(pid: int, *, name: str, fallback_argv: Sequence[str] = ()) -> PidRecord:
    """The identity of live process ``pid``: its start time and argv as the kernel
    reports them, so later checks compare like with like."""
    ticks = process_start_ticks(pid)
    return PidRecord(
        name=name,
        pid=pid,
        start_ticks=ticks if ticks is not None else -1,
        argv=tuple(_settled_cmdline(pid) or fallback_argv),
    )


def read_record(pid_file: Path) -> PidRecord | None:
    try:
        return PidRecord.parse(pid_file.read_text())
    except OSError:
        return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # In `run` mode the children must not outlive the launcher, even if it is SIGKILLed.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    *,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    log_file: Path,
    pid_file: Path,
    tied_to_parent: bool,
) -> tuple[subprocess.Popen[bytes], PidRecord]:
    """Start ``argv`` as the leader of a new process group with output appended to
    ``log_file``, and write its pid file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n===== {stamp} starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if tied_to_parent else None,
        )
    record = record_for(proc.pid, name=name, fallback_argv=argv)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(record.render())
    tmp.replace(pid_file)
    return proc, record


def _reap(pid: int) -> None:
    # When the launcher itself started the process (run mode, tests), collect the zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _wait_group_gone(pgid: int, *, timeout: float) -> bool:
    """Wait until the leader and every other member of group ``pgid`` have exited."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(pgid)
        if not is_running(pgid) and not live_group_members(pgid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def live_group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group ``pgid``."""
    members: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(proc.name))
    return members


def stop_record(record: PidRecord, *, grace: float) -> str:
    """Stop the process group led by ``record`` if it is provably ours: SIGTERM, then
    SIGKILL after ``grace`` seconds. Returns what happened, for the user."""
    if not is_ours(record):
        # Gone, or the pid now belongs to someone else: never signal it.
        return "not running"
    # From here the group is ours: its id cannot be reused while any member lives.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGTERM)
    if _wait_group_gone(record.pid, timeout=grace):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGKILL)
    _wait_group_gone(record.pid, timeout=5)
    return f"killed (did not stop within {grace:.0f} s)"
