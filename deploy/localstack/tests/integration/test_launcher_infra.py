"""The launcher against the real thing: Kafka, FerretDB (or mongod) and the SMTP sink on
free ports with a throwaway var dir, so a stack the developer has running is untouched."""

import asyncio
import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import MongoClient

from pantau.localstack.config import FAST_START_JVM_OPTIONS, StackConfig
from pantau.localstack.launcher import Launcher
from pantau.localstack.procs import is_running, live_group_members, read_record, record_for
from pantau.localstack.testing import Infra, free_port, launched_infra

pytestmark = pytest.mark.integration

INFRA = ("kafka", "ferretdb", "smtp")


def _config(var_dir: Path) -> StackConfig:
    return StackConfig.default(
        var_dir=var_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        mongo_port=free_port(),
        smtp_port=free_port(),
        external_kafka=None,
        external_mongo=None,
        kafka_jvm_options=FAST_START_JVM_OPTIONS,
    )


def _pids(config: StackConfig) -> dict[str, int]:
    records = {path.stem: read_record(path) for path in config.run_dir.glob("*.pid")}
    return {name: record.pid for name, record in records.items() if record}


def _assert_all_gone(pids: dict[str, int]) -> None:
    for name, pid in pids.items():
        assert not is_running(pid), f"{name} (pid {pid}) still running"
        assert live_group_members(pid) == [], f"{name}'s process group still has members"


def _wait(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    launcher = Launcher(_config(tmp_path_factory.mktemp("stack") / "var"))
    launcher.up(include_services=False)
    yield launcher
    launcher.down()


def test_up_brings_every_part_up_healthy(stack: Launcher) -> None:
    rows = {row.name: row for row in stack.status(include_services=False)}

    names = {"kafka", "smtp", stack.store_kind()}
    assert set(rows) == names
    assert {row.state for row in rows.values()} == {"healthy"}
    assert all(row.pid and is_running(row.pid) for row in rows.values())


def test_second_up_reuses_the_running_processes(stack: Launcher) -> None:
    before = _pids(stack.config)

    stack.up(include_services=False)

    assert stack.started == []
    assert _pids(stack.config) == before


async def test_broker_creates_topics_and_moves_messages(stack: Launcher) -> None:
    bootstrap = stack.config.kafka_bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("launcher-check", 3, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("launcher-check", b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        "launcher-check",
        bootstrap_servers=bootstrap,
        group_id="launcher-check",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert message.value == b"hello"


async def test_topics_are_not_created_implicitly(stack: Launcher) -> None:
    bootstrap = stack.config.kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - aiokafka raises its own timeout type
            await asyncio.wait_for(producer.send_and_wait("no-such-topic", b"x"), timeout=1.5)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        assert "no-such-topic" not in await admin.list_topics()
    finally:
        await admin.close()


def test_store_keeps_documents(stack: Launcher) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(stack.config.mongo_url)
    try:
        collection = client["launcher_check"]["things"]
        collection.insert_one({"_id": "one", "value": 1})
        assert collection.find_one({"_id": "one"}) == {"_id": "one", "value": 1}
    finally:
        client.close()


def test_smtp_sink_writes_mail_files(stack: Launcher) -> None:
    mail = EmailMessage()
    mail["From"] = "pantau@example.org"
    mail["To"] = "bawaslu@example.org"
    mail["Subject"] = "Laporan baru"
    mail.set_content("isi")

    with smtplib.SMTP(stack.config.host, stack.config.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)

    _wait(
        lambda: list(stack.config.mail_dir.glob("*.eml")),
        timeout=10,
        what="a mail file appears",
    )
    text = next(stack.config.mail_dir.glob("*.eml")).read_text()
    assert "Subject: Laporan baru" in text


def test_local_env_points_at_this_stack(stack: Launcher) -> None:
    text = stack.config.env_file.read_text()

    assert f"PANTAU_KAFKA_BOOTSTRAP={stack.config.kafka_bootstrap}" in text
    assert f"PANTAU_SMTP_PORT={stack.config.smtp_port}" in text


def test_down_leaves_no_process(tmp_path: Path) -> None:
    launcher = Launcher(_config(tmp_path / "var"))
    launcher.up(include_services=False)
    pids = _pids(launcher.config)
    assert set(pids) == {"kafka", "smtp", launcher.store_kind()}

    results = dict(launcher.down())

    assert set(results.values()) == {"stopped"}
    _assert_all_gone(pids)
    assert [row.state for row in launcher.status(include_services=False)] == ["stopped"] * 3


_RUN_SCRIPT = """
import json, sys
from pathlib import Path
from pantau.localstack.config import StackConfig
from pantau.localstack.launcher import Launcher
settings = json.loads(sys.argv[1])
settings["kafka_jvm_options"] = tuple(settings["kafka_jvm_options"])
config = StackConfig.default(var_dir=Path(settings.pop("var_dir")), **settings)
sys.exit(Launcher(config, tied_to_parent=True).run(include_services=False))
"""


def _start_runner(config: StackConfig, output: Path) -> subprocess.Popen[bytes]:
    """`Launcher.run` in a process of its own, as `pantau stack run` would be."""
    settings = {
        "var_dir": str(config.var_dir),
        "kafka_port": config.kafka_port,
        "kafka_controller_port": config.kafka_controller_port,
        "mongo_port": config.mongo_port,
        "smtp_port": config.smtp_port,
        "external_kafka": None,
        "external_mongo": None,
        "kafka_jvm_options": FAST_START_JVM_OPTIONS,
    }
    with output.open("wb") as sink:
        runner = subprocess.Popen(
            [sys.executable, "-c", _RUN_SCRIPT, json.dumps(settings)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    _wait(
        lambda: "Stack is up" in output.read_text() or runner.poll() is not None,
        timeout=180,
        what="the stack is up",
    )
    assert runner.poll() is None, output.read_text()
    return runner


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_everything_on_a_signal(tmp_path: Path, stop_signal: signal.Signals) -> None:
    config = _config(tmp_path / "var")
    output = tmp_path / "run.out"
    runner = _start_runner(config, output)
    try:
        pids = _pids(config)
        assert set(pids) == {"kafka", "smtp", Launcher(config).store_kind()}

        runner.send_signal(stop_signal)
        assert runner.wait(timeout=60) == 0
    finally:
        if runner.poll() is None:
            runner.kill()

    _assert_all_gone(pids)
    assert "Stopping the stack" in output.read_text()


def test_run_stops_everything_when_a_part_dies(tmp_path: Path) -> None:
    config = _config(tmp_path / "var")
    output = tmp_path / "run.out"
    runner = _start_runner(config, output)
    try:
        pids = _pids(config)
        os.kill(pids["smtp"], signal.SIGKILL)
        assert runner.wait(timeout=60) == 1
    finally:
        if runner.poll() is None:
            runner.kill()

    _assert_all_gone(pids)
    assert "smtp exited unexpectedly" in output.read_text()


def test_up_restarts_only_the_part_that_died(tmp_path: Path) -> None:
    config = _config(tmp_path / "var")
    launcher = Launcher(config)
    launcher.up(include_services=False)
    pids = _pids(config)
    try:
        os.kill(pids["smtp"], signal.SIGKILL)
        _wait(lambda: not is_running(pids["smtp"]), timeout=10, what="smtp is dead")
        rows = {row.name: row.state for row in launcher.status(include_services=False)}
        assert rows["smtp"] == "stopped"
        assert rows["kafka"] == "healthy"
        # `up` repairs exactly the missing part.
        launcher.up(include_services=False)
        assert launcher.started == ["smtp"]
    finally:
        launcher.down()
    _assert_all_gone({**pids, **_pids(config)})


class TestPytestFallback:
    def test_reuses_healthy_infra_and_leaves_it_running(self, stack: Launcher) -> None:
        before = _pids(stack.config)

        with launched_infra(stack.config) as infra:
            assert infra.kafka_bootstrap == stack.config.kafka_bootstrap
            assert infra.source == "launcher"

        assert _pids(stack.config) == before
        assert all(is_running(pid) for pid in before.values())

    def test_starts_missing_infra_and_stops_only_that(self, tmp_path: Path) -> None:
        config = _config(tmp_path / "var")

        with launched_infra(config) as infra:
            assert infra.mongo_url == config.mongo_url
            pids = _pids(config)
            assert set(pids) == {"kafka", "smtp", Launcher(config).store_kind()}

        _assert_all_gone(pids)

    def test_leaves_infra_up_while_another_session_uses_it(self, tmp_path: Path) -> None:
        config = _config(tmp_path / "var")
        other_session = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        try:
            with launched_infra(config):
                pids = _pids(config)
                # Another test session (here: a stand-in process) takes a lease meanwhile.
                lease = config.run_dir / "leases" / f"{other_session.pid}.lease"
                lease.write_text(record_for(other_session.pid, name="lease").render())

            assert all(is_running(pid) for pid in pids.values())
        finally:
            other_session.kill()
            other_session.wait()
            Launcher(config).down()
        _assert_all_gone(pids)


def test_external_infra_starts_only_the_smtp_sink(tmp_path: Path, infra: Infra) -> None:
    config = replace(
        _config(tmp_path / "var"),
        external_kafka=infra.kafka_bootstrap,
        external_mongo=infra.mongo_url,
    )
    launcher = Launcher(config)
    try:
        rows = {row.name: row.state for row in launcher.up(include_services=False)}
        assert launcher.started == ["smtp"]
    finally:
        launcher.down()

    assert rows == {"kafka": "external", "store": "external", "smtp": "healthy"}
    env = launcher.service_env(config.services[0])
    assert env["PANTAU_KAFKA_BOOTSTRAP"] == infra.kafka_bootstrap
    assert env["PANTAU_MONGO_URL"] == infra.mongo_url


def test_kafka_storage_formats_with_a_cluster_id_that_starts_with_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster_id = "-" + "A" * 21  # base64url ids start with "-" once in 64
    monkeypatch.setattr("pantau.localstack.launcher.new_cluster_id", lambda: cluster_id)
    config = _config(tmp_path / "var")
    config.log_file("kafka").parent.mkdir(parents=True)
    Launcher(config)._prepare_kafka()
    meta = (config.kafka_data_dir / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta
