import base64
import re
from dataclasses import replace
from pathlib import Path

import pytest

from pantau.localstack.config import (
    StackConfig,
    ensure_env_file,
    new_cluster_id,
    parse_env_file,
    render_log4j2_yaml,
    render_server_properties,
)
from pantau.localstack.errors import StackError
from pantau.shared.identity import IdentityCipher


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    return StackConfig(
        repo_root=tmp_path,
        var_dir=tmp_path / "var",
        cache_dir=tmp_path / "cache",
        kafka_port=39092,
        kafka_controller_port=39093,
        mongo_port=37017,
        smtp_port=31025,
    )


def _properties(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


class TestServerProperties:
    def test_single_node_kraft_on_the_configured_ports(self, config: StackConfig) -> None:
        props = _properties(render_server_properties(config))

        assert props["process.roles"] == "broker,controller"
        assert props["node.id"] == "1"
        assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:39093"
        assert props["listeners"] == "PLAINTEXT://127.0.0.1:39092,CONTROLLER://127.0.0.1:39093"
        assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:39092"
        assert props["log.dirs"] == str(config.var_dir / "kafka" / "data")

    def test_single_replica_fast_rebalance_and_explicit_topics(self, config: StackConfig) -> None:
        props = _properties(render_server_properties(config))

        assert props["offsets.topic.replication.factor"] == "1"
        assert props["transaction.state.log.replication.factor"] == "1"
        assert props["transaction.state.log.min.isr"] == "1"
        assert props["group.initial.rebalance.delay.ms"] == "0"
        assert props["auto.create.topics.enable"] == "false"

    def test_log4j_config_keeps_only_warnings(self) -> None:
        assert "level: WARN" in render_log4j2_yaml()


def test_cluster_id_is_a_uuid_in_kafka_base64_form() -> None:
    cluster_id = new_cluster_id()

    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert new_cluster_id() != cluster_id


class TestLocalEnv:
    def test_generated_with_secrets_and_stack_addresses(self, config: StackConfig) -> None:
        values = ensure_env_file(config)

        assert re.fullmatch(r"[0-9a-f]{64}", values["PANTAU_AUTH_SECRET"])
        kid, _, _ = values["PANTAU_IDENTITY_KEYS"].partition(":")
        assert kid == "local1"
        IdentityCipher(values["PANTAU_IDENTITY_KEYS"])  # raises when the key is unusable
        assert values["PANTAU_KAFKA_BOOTSTRAP"] == "127.0.0.1:39092"
        assert values["PANTAU_MONGO_URL"] == "mongodb://127.0.0.1:37017/"
        assert values["PANTAU_SMTP_HOST"] == "127.0.0.1"
        assert values["PANTAU_SMTP_PORT"] == "31025"
        assert parse_env_file(config.env_file.read_text()) == values

    def test_only_the_owner_can_read_it(self, config: StackConfig) -> None:
        ensure_env_file(config)

        assert config.env_file.stat().st_mode & 0o777 == 0o600

    def test_secrets_are_generated_once_and_kept(self, config: StackConfig) -> None:
        first = ensure_env_file(config)
        moved = replace(config, kafka_port=49092)

        second = ensure_env_file(moved)

        assert second["PANTAU_AUTH_SECRET"] == first["PANTAU_AUTH_SECRET"]
        assert second["PANTAU_IDENTITY_KEYS"] == first["PANTAU_IDENTITY_KEYS"]
        assert second["PANTAU_KAFKA_BOOTSTRAP"] == "127.0.0.1:49092"

    def test_missing_keys_are_added_without_touching_the_others(self, config: StackConfig) -> None:
        config.var_dir.mkdir(parents=True)
        config.env_file.write_text("# mine\nPANTAU_AUTH_SECRET=" + "a" * 64 + "\nOTHER=1\n")

        values = ensure_env_file(config)

        assert values["PANTAU_AUTH_SECRET"] == "a" * 64
        assert values["OTHER"] == "1"
        assert "PANTAU_IDENTITY_KEYS" in values


class TestStackConfig:
    def test_external_infra_only_when_both_variables_are_set(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PANTAU_KAFKA_BOOTSTRAP", "kafka.example:9092")
        monkeypatch.delenv("PANTAU_MONGO_URL", raising=False)
        assert not StackConfig.default(repo_root=tmp_path).uses_external_infra

        monkeypatch.setenv("PANTAU_MONGO_URL", "mongodb://store.example/")
        config = StackConfig.default(repo_root=tmp_path)

        assert config.uses_external_infra
        assert config.kafka_bootstrap == "kafka.example:9092"
        assert config.mongo_url == "mongodb://store.example/"

    def test_ferretdb_debug_endpoint_only_on_the_developer_stack(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from pantau.localstack.cli import _config

        monkeypatch.delenv("PANTAU_KAFKA_BOOTSTRAP", raising=False)
        monkeypatch.setenv("PANTAU_REPO_ROOT", str(tmp_path))
        # Test stacks (and anything built from the defaults) never bind it...
        assert StackConfig.default(repo_root=tmp_path).ferretdb_debug_url is None
        # ...`pantau stack up` does, for `python -m pantau.bench profile`.
        assert _config(None).ferretdb_debug_url == "http://127.0.0.1:8088"
        monkeypatch.setenv("PANTAU_KAFKA_BOOTSTRAP", "kafka.example:9092")
        monkeypatch.setenv("PANTAU_MONGO_URL", "mongodb://store.example/")
        assert _config(None).ferretdb_debug_url is None  # not our FerretDB

    def test_cache_follows_xdg_cache_home(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

        config = StackConfig.default(repo_root=tmp_path)

        assert config.cache_dir == tmp_path / "xdg" / "pantau"
        assert config.var_dir == tmp_path / "var"

    def test_service_subset_keeps_the_given_order(self, config: StackConfig) -> None:
        subset = config.with_services(["notifier", "intake"])

        assert [spec.name for spec in subset.services] == ["notifier", "intake"]
        assert [spec.port for spec in subset.services] == [8002, 8000]

    def test_unknown_service_names_the_choices(self, config: StackConfig) -> None:
        with pytest.raises(StackError) as raised:
            config.with_services(["intake", "billing"])

        assert "billing" in raised.value.problem
        assert "reporting" in raised.value.fix
