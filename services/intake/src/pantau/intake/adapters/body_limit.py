"""Caps request bodies before FastAPI reads them (413 as problem+json).

A plain ASGI middleware, not ``BaseHTTPMiddleware``, which would cost throughput.
It trusts ``Content-Length`` when present and counts streamed bytes otherwise.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any

from pantau.shared.http import PROBLEM_JSON

ASGIApp = Callable[..., Any]


class BodyLimitMiddleware:
    """Rejects bodies larger than the cap of their path (``default`` for other paths)."""

    def __init__(self, app: ASGIApp, *, caps: Mapping[str, int], default: int) -> None:
        self.app = app
        self._caps = dict(caps)
        self._default = default

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        cap = self._caps.get(scope["path"], self._default)
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _too_large(send, scope["path"], cap)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read it all here, within the cap, then replay.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > cap:
                await _too_large(send, scope["path"], cap)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Any, path: str, cap: int) -> None:
    body = json.dumps(
        {
            "type": "https://pantau.id/problems/too-large",
            "title": "Request body too large",
            "status": 413,
            "detail": f"the body of {path} may be at most {cap} bytes",
            "instance": path,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
