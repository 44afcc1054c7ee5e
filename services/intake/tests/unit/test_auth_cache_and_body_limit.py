"""The verified-token cache and the streamed-body cap."""

import json
from collections.abc import AsyncIterator

import pytest
from fastapi import Request

from pantau.intake.adapters.auth import cached_auth, request_header
from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.shared.auth import Principal, Role
from pantau.shared.http import Problem

from ..conftest import auth, make_config, report_body, serve
from ..fakes import FakePublisher


def _request(token: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})


class TestCachedAuth:
    async def test_verified_token_is_reused_until_ttl(self) -> None:
        calls: list[str] = []
        now = [100.0]

        async def verify(request: Request) -> Principal:
            calls.append(request.headers["authorization"])
            return Principal(subject="app", role=Role.MONITOR)

        dependency = cached_auth(verify, ttl=30, clock=lambda: now[0])
        await dependency(_request("a"))
        await dependency(_request("a"))
        assert len(calls) == 1
        now[0] += 31
        await dependency(_request("a"))
        assert len(calls) == 2

    async def test_refusals_are_not_cached(self) -> None:
        calls = 0

        async def verify(request: Request) -> Principal:
            nonlocal calls
            calls += 1
            raise Problem(403, "Forbidden")

        dependency = cached_auth(verify)
        for _ in range(2):
            with pytest.raises(Problem):
                await dependency(_request("liaison"))
        assert calls == 2


@pytest.fixture
def config(unit_env: dict[str, str]) -> Config:
    return make_config(unit_env)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 4096):
        yield data[start : start + 4096]


async def test_streamed_body_without_length_is_capped(config: Config) -> None:
    async with serve(create_app(config, publisher=FakePublisher())) as client:
        small = json.dumps(report_body()).encode()
        accepted = await client.post(
            "/v1/reports",
            content=_chunks(small),
            headers={**auth(config), "content-type": "application/json"},
        )
        big = json.dumps(report_body(title="x" * 70_000)).encode()
        refused = await client.post(
            "/v1/reports",
            content=_chunks(big),
            headers={**auth(config), "content-type": "application/json"},
        )
    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 413


def test_request_header_reads_the_first_value_from_the_scope() -> None:
    scope = {
        "type": "http",
        "headers": [(b"traceparent", b"00-a-b-01"), (b"x", b"1"), (b"traceparent", b"second")],
    }
    request = Request(scope)
    assert request_header(request, b"traceparent") == "00-a-b-01"
    assert request_header(request, b"authorization") is None
    assert request_header(request, b"traceparent") == request.headers.get("traceparent")
