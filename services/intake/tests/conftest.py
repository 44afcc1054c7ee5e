"""Shared fixtures: a config for this run, tokens, sample bodies."""

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from pantau.intake.config import Config
from pantau.shared.auth import Role, issue_token
from pantau.shared.envelope import utcnow
from pantau.shared.identity import generate_key

SAMPLE_VILLAGE = "32.01.01.1002"  # Karadenan, Cibinong, Kabupaten Bogor


def make_config(env: dict[str, str], **overrides: Any) -> Config:
    """A ``Config`` from ``env`` only (not the process environment), plus overrides."""
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return Config(**overrides)  # type: ignore[call-arg]
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def unit_env() -> Iterator[dict[str, str]]:
    """Settings for tests that never reach Kafka."""
    yield {
        "PANTAU_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "PANTAU_AUTH_SECRET": uuid4().hex + uuid4().hex,
        "PANTAU_IDENTITY_KEYS": f"unit:{generate_key()}",
        "PANTAU_ENV_FILE": "/nonexistent",
        "PANTAU_SMS_WEBHOOK_SECRET": "sms-" + uuid4().hex,
    }


def token(config: Config, *, role: Role = Role.MONITOR, subject: str | None = None) -> str:
    """A bearer token signed with ``config``'s secret."""
    return issue_token(
        secret=config.auth_secret.get_secret_value(),
        issuer=config.token_issuer,
        role=role,
        subject=subject,
    )


def auth(config: Config, **kwargs: Any) -> dict[str, str]:
    """An ``Authorization`` header for ``token(config, **kwargs)``."""
    return {"Authorization": f"Bearer {token(config, **kwargs)}"}


def report_body(**overrides: Any) -> dict[str, Any]:
    """A valid report body; ``overrides`` replace fields (``None`` removes one)."""
    body: dict[str, Any] = {
        "client_report_id": str(uuid4()),
        "occurred_at": (utcnow() - timedelta(minutes=5)).isoformat(),
        "region_code": SAMPLE_VILLAGE,
        "tps": 5,
        "description": "Banjir setinggi 1 meter merendam TPS 05, pemungutan suara ditunda.",
        "location": {"lat": -6.4817, "lon": 106.854},
        "reporter": {"name": "Siti Rahmawati", "phone": "+6281234567890"},
        "anonymous": False,
    }
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


@asynccontextmanager
async def serve(app: FastAPI, *, client_ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process HTTP client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client
