"""Fault injection on a stack the launcher started (chaos tests): signal or kill one part
by its pid file, and wait until it is gone. ``Launcher.up()`` then restarts exactly the
parts that are not running and waits until they are healthy again.

Like ``procs.stop_record``, nothing is signalled unless its pid file proves it is ours.
"""

import contextlib
import os
import signal
import time

from pantau.localstack import procs
from pantau.localstack.config import StackConfig
from pantau.localstack.errors import StackError


def _record(config: StackConfig, name: str) -> procs.PidRecord:
    record = procs.read_record(config.pid_file(name))
    if record is None or not procs.is_ours(record):
        raise StackError(f"{name} is not running in the stack at {config.var_dir}")
    return record


def signal_part(config: StackConfig, name: str, sig: signal.Signals) -> int:
    """Send ``sig`` to the leader of ``name``'s process group; returns its pid."""
    record = _record(config, name)
    os.kill(record.pid, sig)
    return record.pid


def kill_part(
    config: StackConfig, name: str, *, sig: signal.Signals = signal.SIGKILL, timeout: float = 30
) -> int:
    """Send ``sig`` (default: kill -9) to ``name``'s whole process group and wait until
    every member has exited; returns the pid it had. Fails after ``timeout`` seconds."""
    record = _record(config, name)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, sig)
    deadline = time.monotonic() + timeout
    while procs.is_running(record.pid) or procs.live_group_members(record.pid):
        # This process may be its parent (the launcher started it): collect the zombie.
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(record.pid, os.WNOHANG)
        if time.monotonic() > deadline:
            raise StackError(f"{name} (pid {record.pid}) did not exit within {timeout:.0f} s")
        time.sleep(0.05)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(record.pid, os.WNOHANG)
    return record.pid
