"""The launcher's start/stop machinery on small stand-in processes (no Kafka, no store)."""

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pantau.localstack.config import ServiceSpec, StackConfig
from pantau.localstack.errors import StackError
from pantau.localstack.launcher import Component, Launcher
from pantau.localstack.procs import PidRecord, is_running, read_record, spawn, stop_record
from pantau.localstack.testing import free_port

_SLEEPER = "import time; print('ready', flush=True); time.sleep(120)"


class FakeLauncher(Launcher):
    """The real lifecycle with stand-in parts instead of Kafka, the store and SMTP."""

    def __init__(self, config: StackConfig, parts: list[Component]) -> None:
        super().__init__(config)
        self.parts = parts
        self.fetched = False

    def fetch(self) -> None:
        self.fetched = True

    def infra_components(self) -> list[Component]:
        return self.parts

    def service_components(self) -> list[Component]:
        return []


def _logged_ready(config: StackConfig, name: str) -> bool:
    log = config.log_file(name)
    return log.exists() and "\nready\n" in log.read_text()


def _part(
    config: StackConfig,
    name: str,
    code: str,
    *,
    ports: tuple[tuple[int, str], ...] = (),
    start_timeout: float = 20.0,
) -> Component:
    return Component(
        name=name,
        kind="infra",
        address=f"fake://{name}",
        ports=ports,
        probe=lambda: _logged_ready(config, name),
        prepare=lambda: [sys.executable, "-c", code],
        start_timeout=start_timeout,
        stop_grace=5.0,
    )


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    return StackConfig(
        repo_root=tmp_path,
        var_dir=tmp_path / "var",
        cache_dir=tmp_path / "cache",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        mongo_port=free_port(),
        smtp_port=free_port(),
    )


@pytest.fixture
def launchers() -> Iterator[list[Launcher]]:
    made: list[Launcher] = []
    yield made
    for launcher in made:
        launcher.down()


def test_up_is_idempotent(config: StackConfig, launchers: list[Launcher]) -> None:
    launcher = FakeLauncher(config, [_part(config, "alpha", _SLEEPER)])
    launchers.append(launcher)

    first = launcher.up()
    assert launcher.started == ["alpha"]
    second = launcher.up()

    assert launcher.started == []
    assert first[0].state == second[0].state == "healthy"
    assert first[0].pid == second[0].pid
    assert is_running(first[0].pid or -1)


def test_down_stops_everything_and_status_says_so(
    config: StackConfig, launchers: list[Launcher]
) -> None:
    launcher = FakeLauncher(
        config, [_part(config, "alpha", _SLEEPER), _part(config, "beta", _SLEEPER)]
    )
    launchers.append(launcher)
    pids = [row.pid for row in launcher.up()]

    results = launcher.down()

    assert sorted(results) == [("alpha", "stopped"), ("beta", "stopped")]
    assert not any(is_running(pid or -1) for pid in pids)
    assert [row.state for row in launcher.status()] == ["stopped", "stopped"]
    assert not list(config.run_dir.glob("*.pid"))


def test_a_process_dying_at_start_shows_its_log_and_rolls_back(
    config: StackConfig, launchers: list[Launcher]
) -> None:
    dying = "import sys; print('boom: no such directory', flush=True); sys.exit(3)"
    launcher = FakeLauncher(
        config, [_part(config, "alpha", _SLEEPER), _part(config, "beta", dying)]
    )
    launchers.append(launcher)

    with pytest.raises(StackError) as raised:
        launcher.up()

    assert raised.value.problem == "beta exited while starting."
    assert "boom: no such directory" in raised.value.log_tail
    assert str(config.log_file("beta")) in raised.value.fix
    # alpha was started by this `up`, so it was stopped again.
    assert [row.state for row in launcher.status()] == ["stopped", "stopped"]


def test_a_part_that_never_gets_healthy_times_out(
    config: StackConfig, launchers: list[Launcher]
) -> None:
    silent = "import time; print('starting', flush=True); time.sleep(120)"
    launcher = FakeLauncher(config, [_part(config, "slow", silent, start_timeout=1.0)])
    launchers.append(launcher)

    with pytest.raises(StackError) as raised:
        launcher.up()

    assert raised.value.problem == "slow did not become healthy within 1 s."
    assert "starting" in raised.value.log_tail
    assert launcher.status()[0].state == "stopped"


def test_a_busy_port_is_named_before_anything_starts(
    config: StackConfig, launchers: list[Launcher]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        part = _part(config, "alpha", _SLEEPER, ports=((port, "Kafka"),))
        launcher = FakeLauncher(config, [part])
        launchers.append(launcher)

        with pytest.raises(StackError) as raised:
            launcher.up()

    assert f"Port {port} (Kafka)" in raised.value.problem
    assert f"pid {os.getpid()}" in raised.value.problem
    assert not config.pid_file("alpha").exists()
    assert not launcher.fetched  # no long download before a problem the user must fix


def test_down_never_signals_a_process_that_is_not_ours(config: StackConfig) -> None:
    # A stale pid file whose pid now belongs to someone else (here: this test process).
    config.run_dir.mkdir(parents=True)
    me = PidRecord(name="kafka", pid=os.getpid(), start_ticks=1, argv=("java", "kafka.Kafka"))
    config.pid_file("kafka").write_text(me.render())

    results = Launcher(config).down()

    assert results == [("kafka", "not running")]
    assert not config.pid_file("kafka").exists()


def test_a_stale_pid_file_is_replaced_on_up(config: StackConfig, launchers: list[Launcher]) -> None:
    config.run_dir.mkdir(parents=True)
    stale = PidRecord(name="alpha", pid=os.getpid(), start_ticks=1, argv=("gone",))
    config.pid_file("alpha").write_text(stale.render())
    launcher = FakeLauncher(config, [_part(config, "alpha", _SLEEPER)])
    launchers.append(launcher)

    launcher.up()

    record = read_record(config.pid_file("alpha"))
    assert record is not None
    assert record.pid != os.getpid()
    assert launcher.started == ["alpha"]


def test_a_missing_service_fails_before_any_infra_starts(
    config: StackConfig, launchers: list[Launcher]
) -> None:
    class WithService(FakeLauncher):
        def service_components(self) -> list[Component]:
            spec = ServiceSpec(name="ghost", module="pantau.no_such_service", port=free_port())
            return [self._service(spec)]

    launcher = WithService(config, [_part(config, "alpha", _SLEEPER)])
    launchers.append(launcher)

    with pytest.raises(StackError, match=r"pantau\.no_such_service is not installed"):
        launcher.up()

    assert not config.pid_file("alpha").exists()


class TestServices:
    def test_a_service_that_is_not_installed_says_make_venv(self, config: StackConfig) -> None:
        spec = ServiceSpec(name="ghost", module="pantau.no_such_service", port=free_port())
        part = Launcher(config)._service(spec)

        with pytest.raises(StackError) as raised:
            part.prepare()

        assert "pantau.no_such_service is not installed" in raised.value.problem
        assert "make venv" in raised.value.fix

    def test_service_environment(
        self, config: StackConfig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PANTAU_KAFKA_BOOTSTRAP", "elsewhere:9092")  # only one: not external
        monkeypatch.delenv("PANTAU_MONGO_URL", raising=False)
        monkeypatch.setenv("PANTAU_TOKEN_TTL_HOURS", "2")
        spec = ServiceSpec(name="intake", module="pantau.intake", port=18000)

        env = Launcher(config).service_env(spec)

        assert env["PANTAU_HTTP_PORT"] == "18000"
        assert env["PANTAU_KAFKA_BOOTSTRAP"] == config.kafka_bootstrap
        assert env["PANTAU_MONGO_URL"] == config.mongo_url
        assert env["PANTAU_SMTP_PORT"] == str(config.smtp_port)
        assert env["PANTAU_ENV_FILE"] == str(config.env_file)
        assert len(env["PANTAU_AUTH_SECRET"]) == 64
        assert env["PANTAU_IDENTITY_KEYS"].startswith("local1:")
        assert env["PANTAU_TOKEN_TTL_HOURS"] == "2"


class TestLeases:
    def test_other_live_sessions_are_counted_and_dead_ones_cleaned(
        self, config: StackConfig, tmp_path: Path
    ) -> None:
        launcher = Launcher(config)
        mine = launcher.take_lease()
        _, other = spawn(
            name="other-session",
            argv=[sys.executable, "-c", "import time; time.sleep(120)"],
            env={},
            cwd=tmp_path,
            log_file=tmp_path / "other.log",
            pid_file=mine.parent / f"{os.getpid() + 1}-other.lease",
            tied_to_parent=False,
        )
        dead = PidRecord(name="lease", pid=os.getpid(), start_ticks=1, argv=("gone",))
        (mine.parent / "dead.lease").write_text(dead.render())
        try:
            assert launcher.release_lease(mine) == 1
            assert not mine.exists()
            assert not (mine.parent / "dead.lease").exists()
        finally:
            stop_record(other, grace=5)

        assert launcher.release_lease(mine) == 0


def test_ferretdb_runs_with_a_tuned_go_collector_unless_told_otherwise() -> None:
    from pantau.localstack.launcher import ferretdb_env

    assert ferretdb_env({"PATH": "/bin"}) == {"PATH": "/bin", "GOGC": "400", "GOMEMLIMIT": "1GiB"}
    assert ferretdb_env({"GOGC": "100"})["GOGC"] == "100"  # the operator's setting wins


def test_the_ferretdb_part_is_started_with_that_environment(config: StackConfig) -> None:
    part = Launcher(config)._ferretdb()

    assert part.env()["GOGC"] == "400"
