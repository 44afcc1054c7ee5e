"""The report endpoints: monitor apps, offline batches and the public form."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pantau.intake.adapters.auth import request_header
from pantau.intake.adapters.problems import (
    error_dicts,
    field_errors,
    rejected,
    unavailable,
)
from pantau.intake.adapters.ratelimit import RateLimit
from pantau.intake.adapters.schemas import REPORT_EXAMPLES, ReportAccepted, problem_responses
from pantau.intake.core.errors import FieldError, PublishUnavailable, ReportRejected
from pantau.intake.core.intake import Intake, Origin, SealedReport
from pantau.intake.core.models import BATCH_MAX_REPORTS, PublicReportIn, ReportBatchIn, ReportIn
from pantau.intake.core.rules import time_window_errors
from pantau.intake.metrics import REPORTS_ACCEPTED, REPORTS_RECEIVED, REPORTS_REJECTED
from pantau.shared.auth import Principal
from pantau.shared.events import Channel

PUBLIC_CLIENT_ID = "public"
TRACEPARENT = b"traceparent"


@dataclass(frozen=True)
class ApiDeps:
    """What the report routes need, wired once by ``main.create_app``."""

    intake: Intake
    monitor: Callable[..., Any]
    client_limit: RateLimit
    public_limit: RateLimit
    retry_after: int


class BatchEnvelope(BaseModel):
    """The batch body before each item is judged on its own."""

    model_config = ConfigDict(extra="forbid")

    # Any item type: a non-object item is rejected on its own, not the whole batch.
    reports: list[Any] = Field(min_length=1, max_length=BATCH_MAX_REPORTS)


class BatchItemResult(BaseModel):
    """What happened to one item of a batch."""

    index: int = Field(description="Position of the item in `reports`.")
    client_report_id: str | None = None
    status: Literal["accepted", "duplicate", "rejected"] = Field(
        description="`accepted`, `duplicate` (repeated earlier in this batch) or `rejected`."
    )
    report_id: str | None = None
    errors: list[dict[str, str]] | None = Field(
        None, description="Why it was rejected: field paths relative to the request body."
    )


class BatchResult(BaseModel):
    """Per-item outcome; accepted items are all acknowledged by Kafka."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItemResult]


class DirectRoute(APIRoute):
    """A route whose endpoint takes only the ``Request`` and returns a ready ``Response``:
    called directly, without FastAPI's per-request dependency solving and response
    serialisation (FastAPI's documented hook: a custom ``APIRoute.get_route_handler``).
    The OpenAPI schema still comes from the route's declaration."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint  # type: ignore[no-any-return]


class AcceptedResponse(Response):
    """``202`` with a ready JSON body: the headers Starlette's ``Response`` writes for it
    (length, ``application/json``), set directly instead of by ``render`` and
    ``init_headers`` (hot path)."""

    media_type = "application/json"

    def __init__(self, body: bytes) -> None:
        self.status_code = 202
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]


def reports_router(deps: ApiDeps) -> APIRouter:
    """The routes that receive reports over HTTP."""
    router = APIRouter(tags=["reports"], route_class=DirectRoute)

    # Authentication and rate limits run first, before the body is read, so invalid
    # bodies count too. They are called by each route rather than declared as FastAPI
    # dependencies: ``solve_dependencies`` costs more per request than the checks
    # themselves, and these declare nothing for the OpenAPI schema anyway.
    async def limited_monitor(request: Request) -> Principal:
        principal: Principal = await deps.monitor(request)
        deps.client_limit.check(principal.subject)
        return principal

    def limited_ip(request: Request) -> None:
        deps.public_limit.check(request.client.host if request.client else "unknown")

    async def accept(model: type[ReportIn], *, origin: Origin, request: Request) -> Response:
        # The body is parsed here, straight from bytes (``model_validate_json``), rather
        # than by a FastAPI body parameter, which decodes to dicts first and validates
        # again; the request body schema is declared in ``openapi_extra`` instead.
        try:
            report = model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise rejected(ReportRejected(field_errors(exc))) from exc
        try:
            report_id = await deps.intake.submit(
                report, origin=origin, traceparent=request_header(request, TRACEPARENT)
            )
        except ReportRejected as exc:
            raise rejected(exc) from exc
        except PublishUnavailable as exc:
            raise unavailable(exc, retry_after=deps.retry_after) from exc
        # A ready Response skips FastAPI's re-validation of the return value (hot path).
        return AcceptedResponse(f'{{"report_id":"{report_id}"}}'.encode())

    @router.post(
        "/v1/reports",
        status_code=202,
        response_model=ReportAccepted,
        summary="Submit a report (monitor app)",
        responses=problem_responses(401, 403, 413, 422, 429, 503),
        openapi_extra=_json_body("ReportIn"),
    )
    async def submit_report(request: Request) -> Response:
        """Accept one report; answers 202 only once Kafka holds it. A retry with the same
        `client_report_id` gets the same `report_id`."""
        principal = await limited_monitor(request)
        return await accept(
            ReportIn,
            origin=Origin(client_id=principal.subject, channel=Channel.MONITOR),
            request=request,
        )

    @router.post(
        "/v1/public/reports",
        status_code=202,
        response_model=ReportAccepted,
        summary="Submit a report (public form, no account)",
        responses=problem_responses(413, 422, 429, 503),
        openapi_extra=_json_body("PublicReportIn"),
    )
    async def submit_public_report(request: Request) -> Response:
        """Anyone may report; limits are stricter and applied per IP address."""
        limited_ip(request)
        return await accept(
            PublicReportIn,
            origin=Origin(client_id=PUBLIC_CLIENT_ID, channel=Channel.PUBLIC),
            request=request,
        )

    @router.post(
        "/v1/reports:batch",
        summary="Submit up to 500 reports (offline sync)",
        response_model=BatchResult,
        responses=problem_responses(401, 403, 413, 422, 429, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ReportBatchIn"},
                        "examples": {
                            "sinkron": {
                                "summary": "Sinkronisasi setelah kembali mendapat sinyal",
                                "value": {
                                    "reports": [e["value"] for e in REPORT_EXAMPLES.values()]
                                },
                            }
                        },
                    }
                },
            }
        },
    )
    async def submit_batch(request: Request) -> Response:
        """Each item is accepted, a duplicate of an earlier item, or rejected with reasons;
        one bad item never sinks the others. Answers only once Kafka holds every accepted
        item; if Kafka is unreachable the whole batch gets 503 (retry it unchanged)."""
        principal = await limited_monitor(request)
        items = _batch_items(await request.body())
        origin = Origin(client_id=principal.subject, channel=Channel.MONITOR)
        results, events = _judge_batch(deps.intake, items, origin=origin)
        try:
            await deps.intake.publish(events, traceparent=request_header(request, TRACEPARENT))
        except PublishUnavailable as exc:
            REPORTS_REJECTED.labels(Channel.MONITOR.value, "unavailable").inc(len(events))
            raise unavailable(exc, retry_after=deps.retry_after) from exc
        # A ready Response skips FastAPI's re-validation of 500 results (``response_model``
        # still documents it).
        return Response(_summarise(results).model_dump_json(), media_type="application/json")

    return router


def _json_body(schema: str) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses its JSON body itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{schema}"},
                    "examples": REPORT_EXAMPLES,
                }
            },
        }
    }


def _batch_items(body: bytes) -> list[Any]:
    """The batch's items: all parsed ``ReportIn`` s when every item is valid (the common
    case, validated straight from the JSON bytes in one pass), else the raw items, each
    to be judged on its own."""
    try:
        return list(ReportBatchIn.model_validate_json(body).reports)
    except ValidationError:
        pass
    try:
        return BatchEnvelope.model_validate_json(body).reports
    except ValidationError as exc:
        raise rejected(ReportRejected(field_errors(exc))) from exc


def _judge_batch(
    intake: Intake, items: list[Any], *, origin: Origin
) -> tuple[list[dict[str, Any]], list[SealedReport]]:
    """Each item's ``BatchItemResult`` (as a dict: validated once, with the whole answer,
    by ``_summarise``) and the events of the accepted ones."""
    now = intake.now()
    results: list[dict[str, Any]] = []
    events: list[SealedReport] = []
    seen: dict[str, str] = {}
    channel = origin.channel.value
    REPORTS_RECEIVED.labels(channel).inc(len(items))
    for index, item in enumerate(items):
        prefix = f"reports.{index}."
        errors: list[FieldError]
        if isinstance(item, ReportIn):  # already parsed by ``_batch_items``
            report = item
            errors = time_window_errors(report, now=now, window=intake.window, prefix=prefix)
        else:
            try:
                report = ReportIn.model_validate(item)
            except ValidationError as exc:
                errors = field_errors(exc, prefix=prefix)
            else:
                errors = time_window_errors(report, now=now, window=intake.window, prefix=prefix)
        if errors:
            REPORTS_REJECTED.labels(channel, "validation").inc()
            results.append(
                {
                    "index": index,
                    "client_report_id": _client_report_id(item),
                    "status": "rejected",
                    "errors": error_dicts(errors),
                }
            )
            continue
        key = str(report.client_report_id)
        if key in seen:
            REPORTS_REJECTED.labels(channel, "duplicate").inc()
            results.append(
                {
                    "index": index,
                    "client_report_id": key,
                    "status": "duplicate",
                    "report_id": seen[key],
                }
            )
            continue
        event = intake.seal(report, origin=origin, received_at=now)
        seen[key] = event.report_id
        events.append(event)
        results.append(
            {
                "index": index,
                "client_report_id": key,
                "status": "accepted",
                "report_id": event.report_id,
            }
        )
    return results, events


def _client_report_id(item: Any) -> str | None:
    """The ``client_report_id`` of a batch item, parsed or raw, if it has a usable one."""
    if isinstance(item, ReportIn):
        return str(item.client_report_id)
    raw = item.get("client_report_id") if isinstance(item, dict) else None
    return raw if isinstance(raw, str) else None


def _summarise(results: list[dict[str, Any]]) -> BatchResult:
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for result in results:
        counts[result["status"]] += 1
    REPORTS_ACCEPTED.labels(Channel.MONITOR.value).inc(counts["accepted"])
    return BatchResult.model_validate(
        {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": results,
        }
    )
