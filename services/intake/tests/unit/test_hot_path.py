"""The report routes skip FastAPI's per-request dependency solving, and the benchmark's
no-op baseline goes through exactly the same route class (a fair ratio)."""

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import Response

from pantau.intake.adapters.api import AcceptedResponse, DirectRoute
from pantau.intake.main import create_app

from ..conftest import make_config
from ..fakes import FakePublisher


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, looking into included routers (newer FastAPI keeps them nested)."""
    for route in routes:
        router = getattr(route, "original_router", None) or getattr(route, "router", None)
        nested = getattr(router, "routes", None)
        if nested is not None and not hasattr(route, "path"):
            yield from _routes(nested)
        else:
            yield route


def test_report_routes_and_the_noop_baseline_share_the_direct_route_class(unit_env) -> None:
    config = make_config(unit_env, bench_noop_endpoint=True)
    app = create_app(config, publisher=FakePublisher())
    classes = {getattr(r, "path", None): type(r) for r in _routes(app.routes)}
    for path in ("/v1/reports", "/v1/reports:batch", "/v1/public/reports", "/v1/_bench/noop"):
        assert classes[path] is DirectRoute, path
    # Still documented: the OpenAPI schema comes from the route declarations.
    paths = app.openapi()["paths"]
    assert "/v1/reports" in paths and "/v1/_bench/noop" not in paths
    assert paths["/v1/reports"]["post"]["requestBody"]["content"]["application/json"]


def test_the_accepted_response_has_the_headers_starlette_writes() -> None:
    body = b'{"report_id":"rpt_0123456789abcdef0123456789abcdef"}'
    ours = AcceptedResponse(body)
    theirs = Response(body.decode(), status_code=202, media_type="application/json")
    assert (ours.status_code, ours.body, ours.raw_headers) == (
        theirs.status_code,
        theirs.body,
        theirs.raw_headers,
    )
    assert ours.background is None and ours.media_type == theirs.media_type
