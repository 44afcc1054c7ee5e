import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pantau.localstack.errors import StackError
from pantau.localstack.system import (
    find_port_owner,
    parse_java_major,
    port_is_free,
    require_free_port,
    require_java,
    require_tool,
)
from pantau.localstack.testing import free_port


@pytest.fixture
def listening_port() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", free_port()))
    sock.listen()
    yield sock
    sock.close()


class TestPortInUse:
    def test_a_listening_port_is_not_free(self, listening_port: socket.socket) -> None:
        port = listening_port.getsockname()[1]

        assert not port_is_free("127.0.0.1", port)

    def test_a_closed_port_is_free(self) -> None:
        assert port_is_free("127.0.0.1", free_port())

    def test_owner_is_found_through_proc(self, listening_port: socket.socket) -> None:
        owner = find_port_owner(listening_port.getsockname()[1])

        assert owner is not None
        assert owner.pid == os.getpid()
        assert owner.command and "python" in owner.command

    def test_nobody_owns_a_closed_port(self) -> None:
        assert find_port_owner(free_port()) is None

    def test_error_names_the_port_the_owner_and_the_fix(
        self, listening_port: socket.socket
    ) -> None:
        port = listening_port.getsockname()[1]

        with pytest.raises(StackError) as raised:
            require_free_port("127.0.0.1", port, what="Kafka")

        message = raised.value.render()
        assert f"Port {port} (Kafka)" in message
        assert f"pid {os.getpid()}" in message
        assert "stack down" in raised.value.fix


def _fake_tool(directory: Path, name: str, script: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class TestTools:
    def test_missing_tool_says_how_to_install_it(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))

        with pytest.raises(StackError) as raised:
            require_tool("mvn", purpose="to fetch the Kafka broker jars")

        assert "`mvn` is not installed" in raised.value.problem
        assert "apt-get install maven" in raised.value.fix

    def test_old_java_is_refused_with_the_version_named(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _fake_tool(tmp_path, "java", "echo 'openjdk version \"11.0.21\" 2023-10-17' >&2")
        monkeypatch.setenv("PATH", str(tmp_path))

        with pytest.raises(StackError) as raised:
            require_java()

        assert "Java 11" in raised.value.problem
        assert "17" in raised.value.problem
        assert "openjdk-17" in raised.value.fix

    def test_java_17_is_accepted(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        java = _fake_tool(tmp_path, "java", "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2")
        monkeypatch.setenv("PATH", str(tmp_path))

        assert require_java() == str(java)

    @pytest.mark.parametrize(
        ("output", "major"),
        [
            ('openjdk version "17.0.15" 2025-04-15', 17),
            ('openjdk version "21" 2023-09-19', 21),
            ('java version "1.8.0_392"', 8),
            ("no version here", None),
        ],
    )
    def test_java_major_version(self, output: str, major: int | None) -> None:
        assert parse_java_major(output) == major
