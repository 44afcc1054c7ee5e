"""HTTP conventions every API shares: RFC 9457 problem+json errors and bearer auth."""

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from pantau.shared.auth import InvalidToken, Principal, Role, verify_token

PROBLEM_JSON = "application/problem+json"

# What each error status means unless a route says otherwise (``problem_responses``).
PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: "The request could not be understood.",
    401: "No or invalid bearer token.",
    403: "The token's role may not do this.",
    404: "Not found, or not visible to the caller.",
    409: "Conflicts with the current state.",
    413: "The body is larger than this endpoint accepts.",
    422: "A parameter or the body breaks a rule; `errors` lists each field.",
    429: "Rate limit reached; see `Retry-After`.",
    500: "An internal error.",
    503: "A dependency is unavailable; retry after `Retry-After`.",
}


class ProblemFieldError(BaseModel):
    """One broken rule, located by a dotted path such as ``reporter.phone``."""

    field: str
    message: str
    type: str


class ProblemDetails(BaseModel):
    """The body of every error: RFC 9457 problem details (for the OpenAPI schema)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting ``statuses`` as problem+json.

    ``descriptions`` overrides the default text of a status, keyed ``s404="..."``.
    (``model`` registers the schema component; FastAPI also lists it under the route's
    own media type, which is harmless.)
    """
    schema = {"$ref": "#/components/schemas/ProblemDetails"}
    return {
        status: {
            "model": ProblemDetails,
            "description": descriptions.get(f"s{status}", PROBLEM_DESCRIPTIONS[status]),
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for status in statuses
    }


class Problem(Exception):
    """An error answered as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.type = status, title, detail, type_
        self.headers = headers or {}
        self.extensions = extensions

    def response(self, instance: str | None = None) -> JSONResponse:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return JSONResponse(
            body, status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


def _field_path(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    """Every error, including FastAPI's own 404/405/422, leaves as problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return exc.response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_path(err["loc"]), "message": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        return Problem(
            422,
            "Invalid request",
            f"{len(errors)} field(s) failed validation",
            type_="https://pantau.id/problems/validation",
            errors=errors,
        ).response(request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return Problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {})).response(
            request.url.path
        )


_bearer = HTTPBearer(auto_error=False)


def bearer_auth(
    *, secret: Callable[[], str], issuer: str, roles: Iterable[Role]
) -> Callable[..., Any]:
    """A FastAPI dependency returning the caller's ``Principal`` if it holds one of ``roles``."""
    allowed = frozenset(roles)

    async def principal(request: Request) -> Principal:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None:
            raise Problem(
                401,
                "Authentication required",
                "send `Authorization: Bearer <token>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            who = verify_token(credentials.credentials, secret=secret(), issuer=issuer)
        except InvalidToken as exc:
            raise Problem(
                401,
                "Invalid token",
                str(exc),
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from exc
        if who.role not in allowed:
            raise Problem(
                403,
                "Forbidden",
                f"role {who.role.value!r} may not do this; needs one of "
                f"{sorted(r.value for r in allowed)}",
            )
        return who

    return principal
