from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantau.localstack.cli import stack_app

runner = CliRunner()


@pytest.fixture(autouse=True)
def empty_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The CLI works on "this checkout": point it at an empty one.
    monkeypatch.setenv("PANTAU_REPO_ROOT", str(tmp_path))
    monkeypatch.delenv("PANTAU_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("PANTAU_MONGO_URL", raising=False)
    return tmp_path


def test_status_of_a_stack_that_never_ran() -> None:
    result = runner.invoke(stack_app, ["status"])

    assert result.exit_code == 0, result.output
    for part in ("kafka", "smtp", "intake", "reporting", "notifier", "classifier"):
        assert part in result.output
    assert "healthy" not in result.output


def test_down_with_nothing_running() -> None:
    result = runner.invoke(stack_app, ["down"])

    assert result.exit_code == 0
    assert "Nothing was running." in result.output


def test_unknown_service_fails_with_the_choices() -> None:
    result = runner.invoke(stack_app, ["up", "--services", "intake,billing"])

    assert result.exit_code == 1
    assert "unknown service(s): billing" in result.output
    assert "intake, reporting, notifier, classifier" in result.output


def test_every_command_is_there() -> None:
    result = runner.invoke(stack_app, ["--help"])

    for command in ("up", "down", "status", "run", "fetch"):
        assert command in result.output
