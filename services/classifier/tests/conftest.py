"""Fixtures of the classifier's tests: the packaged rules, configs, topic readers."""

import os
from typing import Any

import pytest

from pantau.classifier.config import Config
from pantau.classifier.core import Ruleset, load_rules


@pytest.fixture(scope="session")
def rules() -> Ruleset:
    """The rules packaged with the service (loading them takes about half a second)."""
    return load_rules()


def make_config(env: dict[str, str], **overrides: Any) -> Config:
    """A ``Config`` from ``env`` only (not the process environment), plus overrides."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return Config(_env_file=None, **overrides)  # type: ignore[call-arg]
    finally:
        os.environ.clear()
        os.environ.update(saved)
