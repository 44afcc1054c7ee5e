import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pantau.localstack.procs import (
    PidRecord,
    is_ours,
    is_running,
    live_group_members,
    read_record,
    spawn,
    stop_record,
)

_SLEEPER = "import time; time.sleep(120)"
# Ignores SIGTERM, so only the SIGKILL after the grace period ends it.
_STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(120)"
)
# Leads a group with a grandchild in it, as a wrapper script would.
_WITH_CHILD = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "print(child.pid, flush=True); time.sleep(120)"
)


def _start(tmp_path: Path, code: str, name: str = "demo") -> PidRecord:
    _, record = spawn(
        name=name,
        argv=[sys.executable, "-c", code],
        env={},
        cwd=tmp_path,
        log_file=tmp_path / "log" / f"{name}.log",
        pid_file=tmp_path / "run" / f"{name}.pid",
        tied_to_parent=False,
    )
    return record


def _wait_for_log(path: Path, predicate: Callable[[str], bool], timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text()
        if predicate(text):
            return text
        time.sleep(0.05)
    raise AssertionError(f"log {path} never matched: {path.read_text()!r}")


@pytest.fixture
def cleanup() -> Iterator[list[PidRecord]]:
    records: list[PidRecord] = []
    yield records
    for record in records:
        if is_ours(record):
            stop_record(record, grace=0.1)


class TestPidFile:
    def test_round_trip_with_the_bare_pid_first(self) -> None:
        record = PidRecord(name="kafka", pid=4242, start_ticks=99, argv=("java", "-cp", "x"))

        text = record.render()

        assert text.splitlines()[0] == "4242"
        assert PidRecord.parse(text) == record

    @pytest.mark.parametrize("text", ["", "123", "123\nnot json", "abc\n{}"])
    def test_garbage_is_no_record(self, text: str) -> None:
        assert PidRecord.parse(text) is None

    def test_spawn_writes_the_pid_file(self, tmp_path: Path, cleanup: list[PidRecord]) -> None:
        record = _start(tmp_path, _SLEEPER)
        cleanup.append(record)

        assert read_record(tmp_path / "run" / "demo.pid") == record
        assert record.argv == (sys.executable, "-c", _SLEEPER)
        assert is_ours(record)


class TestOwnership:
    def test_another_start_time_means_a_reused_pid(
        self, tmp_path: Path, cleanup: list[PidRecord]
    ) -> None:
        record = _start(tmp_path, _SLEEPER)
        cleanup.append(record)
        impostor = replace(record, start_ticks=record.start_ticks - 1)

        assert not is_ours(impostor)
        assert stop_record(impostor, grace=0.1) == "not running"
        assert is_running(record.pid)

    def test_another_command_line_is_not_ours(
        self, tmp_path: Path, cleanup: list[PidRecord]
    ) -> None:
        record = _start(tmp_path, _SLEEPER)
        cleanup.append(record)
        impostor = replace(record, argv=("/usr/bin/java", "kafka.Kafka"))

        assert not is_ours(impostor)
        assert stop_record(impostor, grace=0.1) == "not running"
        assert is_running(record.pid)

    def test_a_dead_process_is_not_ours(self, tmp_path: Path) -> None:
        record = _start(tmp_path, "pass")

        deadline = time.monotonic() + 10
        while is_ours(record) and time.monotonic() < deadline:
            time.sleep(0.05)

        assert not is_ours(record)
        assert stop_record(record, grace=0.1) == "not running"


class TestStop:
    def test_sigterm_stops_it(self, tmp_path: Path) -> None:
        record = _start(tmp_path, _SLEEPER)

        assert stop_record(record, grace=10) == "stopped"
        assert not is_running(record.pid)

    def test_sigkill_after_the_grace_period(self, tmp_path: Path) -> None:
        record = _start(tmp_path, _STUBBORN)
        _wait_for_log(tmp_path / "log" / "demo.log", lambda text: "\nready\n" in text)

        outcome = stop_record(record, grace=0.5)

        assert outcome.startswith("killed")
        assert not is_running(record.pid)

    def test_the_whole_process_group_goes(self, tmp_path: Path) -> None:
        record = _start(tmp_path, _WITH_CHILD)
        log = _wait_for_log(
            tmp_path / "log" / "demo.log", lambda text: text.strip().splitlines()[-1].isdigit()
        )
        grandchild = int(log.strip().splitlines()[-1])
        assert live_group_members(record.pid) == sorted([record.pid, grandchild])

        assert stop_record(record, grace=10) == "stopped"

        assert not is_running(grandchild)
        assert live_group_members(record.pid) == []


def test_children_lead_their_own_session(tmp_path: Path) -> None:
    # Ctrl-C goes to the terminal's foreground group; the stack must stop in order instead.
    record = _start(tmp_path, _SLEEPER)
    try:
        assert os.getpgid(record.pid) == record.pid
        assert os.getsid(record.pid) == record.pid
    finally:
        stop_record(record, grace=5)
