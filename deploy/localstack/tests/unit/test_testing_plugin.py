import pytest

from pantau.localstack import testing
from pantau.localstack.testing import apache_kafka_env, docker_engine_reachable


def test_no_docker_engine_when_its_socket_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A docker client library and CLI alone do not make an engine.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")

    assert docker_engine_reachable() is False


def test_docker_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_TESTS_DOCKER", "0")

    assert docker_engine_reachable() is False


def test_apache_kafka_image_runs_one_kraft_node_advertising_the_published_port() -> None:
    env = apache_kafka_env(host="127.0.0.1", port=40123)

    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_LISTENERS"] == "PLAINTEXT://:40123,CONTROLLER://:9093"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://127.0.0.1:40123"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_environment_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_KAFKA_BOOTSTRAP", "k:1")
    monkeypatch.setenv("PANTAU_MONGO_URL", "mongodb://m/")

    found = testing._infra_from_env()

    assert found == testing.Infra(kafka_bootstrap="k:1", mongo_url="mongodb://m/", source="env")


def test_one_variable_alone_is_not_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_KAFKA_BOOTSTRAP", "k:1")
    monkeypatch.delenv("PANTAU_MONGO_URL", raising=False)

    assert testing._infra_from_env() is None


def test_free_port_never_hands_out_the_same_port_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    offered = iter([50001, 50001, 50002])  # the OS offers a just-closed port again

    class FakeSocket:
        def __enter__(self) -> "FakeSocket":
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def bind(self, address: tuple[str, int]) -> None:
            self.port = next(offered)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(testing, "_HANDED_OUT_PORTS", set())
    monkeypatch.setattr(testing.socket, "socket", FakeSocket)
    assert [testing.free_port(), testing.free_port()] == [50001, 50002]
