import json
import stat
import zipfile
from pathlib import Path

import pytest

from pantau.localstack import cache, system
from pantau.localstack.config import FERRETDB_VERSION, StackConfig
from pantau.localstack.errors import StackError

# Stands in for `mvn dependency:copy-dependencies`: writes two valid jars into the
# -DoutputDirectory it is given and counts its runs, without any network.
_FAKE_MVN = """#!/bin/sh
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}" ;; esac
done
echo run >> "$(dirname "$0")/mvn-runs"
mkdir -p "$out"
python3 - "$out" <<'PY'
import sys, zipfile
for name in ("kafka_2.13-4.1.1.jar", "kafka-clients-4.1.1.jar"):
    with zipfile.ZipFile(f"{sys.argv[1]}/{name}", "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\\n")
PY
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    repo = tmp_path / "repo"
    (repo / "deploy" / "kafka").mkdir(parents=True)
    (repo / "deploy" / "kafka" / "pom.xml").write_text("<project/>")
    return StackConfig(repo_root=repo, var_dir=repo / "var", cache_dir=tmp_path / "cache")


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tools = tmp_path / "tools"
    tools.mkdir()
    _executable(tools / "mvn", _FAKE_MVN)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    return tools / "mvn-runs"


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


class TestKafkaJars:
    def test_fetched_once_then_reused(self, config: StackConfig, fake_mvn: Path) -> None:
        libs = cache.ensure_kafka_libs(config)
        again = cache.ensure_kafka_libs(config)

        assert again == libs
        assert (libs / "kafka_2.13-4.1.1.jar").is_file()
        assert json.loads((libs / ".complete.json").read_text())["jars"] == [
            "kafka-clients-4.1.1.jar",
            "kafka_2.13-4.1.1.jar",
        ]
        assert _runs(fake_mvn) == 1

    def test_a_corrupted_jar_is_reported_and_re_fetched(
        self, config: StackConfig, fake_mvn: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        libs = cache.ensure_kafka_libs(config)
        (libs / "kafka-clients-4.1.1.jar").write_bytes(b"truncated download")

        cache.ensure_kafka_libs(config)

        assert "re-fetching" in capsys.readouterr().err
        assert zipfile.is_zipfile(libs / "kafka-clients-4.1.1.jar")
        assert _runs(fake_mvn) == 2

    def test_a_missing_jar_is_re_fetched(self, config: StackConfig, fake_mvn: Path) -> None:
        libs = cache.ensure_kafka_libs(config)
        (libs / "kafka_2.13-4.1.1.jar").unlink()

        cache.ensure_kafka_libs(config)

        assert (libs / "kafka_2.13-4.1.1.jar").is_file()
        assert _runs(fake_mvn) == 2

    def test_an_interrupted_download_is_not_trusted(self, config: StackConfig) -> None:
        config.kafka_libs_dir.mkdir(parents=True)

        assert cache.kafka_libs_problem(config.kafka_libs_dir) == (
            "the previous download did not finish"
        )

    def test_failing_maven_shows_its_output_and_the_fix(
        self, config: StackConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tools = tmp_path / "broken"
        tools.mkdir()
        _executable(tools / "mvn", "#!/bin/sh\necho 'Could not resolve dependencies'\nexit 1\n")
        monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")

        with pytest.raises(StackError) as raised:
            cache.ensure_kafka_libs(config)

        assert "exit code 1" in raised.value.problem
        assert "Maven Central" in raised.value.fix
        assert "Could not resolve dependencies" in raised.value.log_tail

    def test_missing_maven_says_how_to_install_it(
        self, config: StackConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))

        with pytest.raises(StackError, match="`mvn` is not installed"):
            cache.ensure_kafka_libs(config)


class TestFerretDbBinary:
    def test_a_working_binary_has_no_problem(self, tmp_path: Path) -> None:
        binary = _executable(
            tmp_path / "ferretdb", f"#!/bin/sh\necho 'version: {FERRETDB_VERSION}'\n"
        )

        assert cache.ferretdb_problem(binary) is None

    def test_a_binary_that_fails_is_damaged(self, tmp_path: Path) -> None:
        binary = _executable(tmp_path / "ferretdb", "#!/bin/sh\nexit 2\n")

        assert "failed" in (cache.ferretdb_problem(binary) or "")

    def test_a_non_executable_file_is_damaged(self, tmp_path: Path) -> None:
        binary = tmp_path / "ferretdb"
        binary.write_bytes(b"\x7fELF truncated")

        assert cache.ferretdb_problem(binary) == "it is not executable"

    def test_a_missing_binary_is_reported(self, tmp_path: Path) -> None:
        assert cache.ferretdb_problem(tmp_path / "ferretdb") == "it is missing"

    def test_without_go_the_error_names_go_and_mongod(
        self, config: StackConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        # /usr/local/go/bin is searched too; pretend it is absent.
        monkeypatch.setattr(system, "_EXTRA_TOOL_DIRS", {})

        with pytest.raises(StackError) as raised:
            cache.ensure_ferretdb(config)

        assert "`go` is not installed" in raised.value.problem
        assert "mongod" in raised.value.fix


class TestFerretDbPatches:
    def test_each_patch_replaces_its_text(self, tmp_path: Path) -> None:
        source = tmp_path / "src"
        target = source / "internal" / "metadata.go"
        target.parent.mkdir(parents=True)
        target.write_text('const IDColumn = "a"\n')
        patch = cache.SourcePatch(path="internal/metadata.go", old='"a"', new='"b"', why="t")

        cache.apply_source_patches(source, (patch,))

        assert target.read_text() == 'const IDColumn = "b"\n'

    def test_a_patch_that_no_longer_matches_fails_loudly(self, tmp_path: Path) -> None:
        (tmp_path / "metadata.go").write_text("moved elsewhere\n")
        patch = cache.SourcePatch(path="metadata.go", old="IDColumn", new="x", why="t")

        with pytest.raises(StackError) as raised:
            cache.apply_source_patches(tmp_path, (patch,))

        assert "metadata.go" in raised.value.problem
        assert "FERRETDB_PATCH_LEVEL" in raised.value.fix

    def test_the_id_index_patch_matches_the_pinned_ferretdb_source(self) -> None:
        # The Go module cache holds the source once the stack has been built here.
        module = (
            Path.home() / "go/pkg/mod/github.com/!ferret!d!b" / f"!ferret!d!b@{FERRETDB_VERSION}"
        )
        if not module.is_dir():
            pytest.skip("FerretDB's source is not in the Go module cache")
        for patch in cache.FERRETDB_PATCHES:
            if patch.add:
                assert not (module / patch.path).exists()
                assert (cache.FERRETDB_PATCH_DIR / patch.add).is_file()
                continue
            assert (module / patch.path).read_text().count(patch.old) == 1

    def test_an_added_file_is_copied_in_and_never_overwrites(self, tmp_path: Path) -> None:
        (tmp_path / "internal").mkdir()
        patch = cache.SourcePatch(
            path="internal/pantau_id_in.go", old="", new="", add="pantau_id_in.go", why="t"
        )

        cache.apply_source_patches(tmp_path, (patch,))

        added = (tmp_path / "internal/pantau_id_in.go").read_text()
        assert added == (cache.FERRETDB_PATCH_DIR / "pantau_id_in.go").read_text()
        with pytest.raises(StackError) as raised:
            cache.apply_source_patches(tmp_path, (patch,))
        assert "exists already" in raised.value.problem
