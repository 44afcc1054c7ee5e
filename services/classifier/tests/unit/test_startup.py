"""A bad rules file stops the service at start-up, naming the file and line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pantau.classifier.core import RulesError
from pantau.classifier.core.rules import DEFAULT_RULES_PATH
from pantau.classifier.main import create_app

from ..conftest import make_config


def broken_rules(tmp_path: Path) -> tuple[Path, int]:
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    broken = text.replace("    level: critical\n", "    level: catastrophic\n", 1)
    line = next(n for n, row in enumerate(broken.splitlines(), 1) if "catastrophic" in row)
    path = tmp_path / "rules.yaml"
    path.write_text(broken, encoding="utf-8")
    return path, line


def test_create_app_refuses_bad_rules(tmp_path: Path) -> None:
    path, line = broken_rules(tmp_path)
    config = make_config(
        {"PANTAU_KAFKA_BOOTSTRAP": "127.0.0.1:1", "PANTAU_ENV_FILE": "/nonexistent"},
        classifier_rules_file=path,
    )
    with pytest.raises(RulesError, match=rf"rules\.yaml:{line}: "):
        create_app(config)


def test_service_process_exits_with_the_line(tmp_path: Path) -> None:
    path, line = broken_rules(tmp_path)
    env = {
        **os.environ,
        "PANTAU_ENV_FILE": "/nonexistent",
        "PANTAU_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "PANTAU_CLASSIFIER_RULES_FILE": str(path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pantau.classifier"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{path}:{line}:" in done.stderr
