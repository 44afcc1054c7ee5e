"""The query API: reports, filters and pagination, under bearer auth and region scope."""

import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field, model_validator

from pantau.reporting.adapters.listing import MemoryListing
from pantau.reporting.adapters.store import ReportStore, page_filter, query_filter, sort_spec
from pantau.reporting.config import SERVICE, Config
from pantau.reporting.core.duplicates import DuplicateRules, place_of, score
from pantau.reporting.core.export import (
    CSV_COLUMNS,
    EXPORT_PROJECTION,
    csv_row,
    geojson_feature,
)
from pantau.reporting.core.query import (
    InvalidCursor,
    ReportQuery,
    SortOrder,
    decode_cursor,
    encode_cursor,
)
from pantau.reporting.core.views import public_report, summary_report
from pantau.shared import regions
from pantau.shared.auth import Principal, Role
from pantau.shared.envelope import utcnow
from pantau.shared.events import (
    Category,
    EncryptedField,
    ReportStatus,
    ReportStatusChanged,
    ReportStatusChangedData,
    Severity,
)
from pantau.shared.http import Problem, bearer_auth, problem_responses
from pantau.shared.identity import IdentityCipher, IdentityKeyError
from pantau.shared.kafka import publish_event

READ_ROLES = (Role.LIAISON, Role.OPERATOR, Role.ADMIN)
STATUS_ROLES = (Role.LIAISON, Role.OPERATOR, Role.ADMIN)
# Candidates scanned for one duplicates query (same village, category and time window).
DUPLICATE_SCAN_LIMIT = 500
EXPORT_CHUNK_ROWS = 200
TEXT_QUERY_MAX = 200
FILTER_VALUES_MAX = 20
# Every route here needs a bearer token of an allowed role, and validates its parameters.
AUTHED = (401, 403, 422)
NOT_FOUND = "No such report, or not in the caller's region."


GEOJSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {"type": "object"}},
    },
}


def export_responses(
    media_type: str, filename: str, schema: dict[str, Any]
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` of a streamed export: its media type, and the errors."""
    return {
        200: {
            "description": f"Every matching report, streamed as `{media_type}`.",
            "content": {media_type: {"schema": schema}},
            "headers": {
                "Content-Disposition": {
                    "description": f'`attachment; filename="{filename}"`',
                    "schema": {"type": "string"},
                }
            },
        },
        **problem_responses(*AUTHED),
    }


def reader_auth(config: Config, roles: tuple[Role, ...] = READ_ROLES) -> Callable[..., Any]:
    """The bearer-token dependency for ``roles``."""
    return bearer_auth(
        secret=lambda: config.auth_secret.get_secret_value(),
        issuer=config.token_issuer,
        roles=roles,
    )


def not_found(report_id: str) -> Problem:
    # The same answer for "unknown" and "outside your region": a liaison learns nothing
    # about reports elsewhere, not even that they exist.
    return Problem(404, "Report not found", f"no report {report_id!r} visible to you")


def visible(principal: Principal, document: dict[str, Any] | None) -> bool:
    """Whether ``principal`` may see the report ``document``."""
    if document is None or "status" not in document:
        return False  # unknown, or a placeholder being created this instant
    if principal.role in (Role.OPERATOR, Role.ADMIN):
        return True
    region = document.get("region") or {}
    return bool(region.get("code")) and principal.can_see_region(region["code"])


def _region_codes(values: list[str]) -> tuple[str, ...]:
    try:
        return tuple(regions.normalize(v) for v in values)
    except regions.InvalidRegionCode as exc:
        raise Problem(
            422,
            "Invalid request",
            str(exc),
            type_="https://pantau.id/problems/validation",
            errors=[{"field": "region", "message": str(exc), "type": "region_code"}],
        ) from exc


class ListParams:
    """Query parameters shared by the list, export and duplicates endpoints."""

    def __init__(
        self,
        region: Annotated[
            list[str],
            Query(
                max_length=FILTER_VALUES_MAX,
                description="Kemendagri code at any level; matches its whole subtree.",
            ),
        ] = [],  # noqa: B006 -- FastAPI copies defaults per request
        category: Annotated[list[Category], Query(max_length=FILTER_VALUES_MAX)] = [],  # noqa: B006
        severity: Annotated[list[Severity], Query(max_length=FILTER_VALUES_MAX)] = [],  # noqa: B006
        status: Annotated[list[ReportStatus], Query(max_length=FILTER_VALUES_MAX)] = [],  # noqa: B006
        occurred_from: Annotated[
            datetime | None, Query(alias="from", description="Incident time, inclusive.")
        ] = None,
        occurred_to: Annotated[
            datetime | None, Query(alias="to", description="Incident time, exclusive.")
        ] = None,
        q: Annotated[
            str | None,
            Query(min_length=2, max_length=TEXT_QUERY_MAX, description="Free text, substring."),
        ] = None,
    ) -> None:
        self.query = ReportQuery(
            regions=_region_codes(region),
            categories=tuple(c.value for c in category),
            severities=tuple(s.value for s in severity),
            statuses=tuple(s.value for s in status),
            occurred_from=occurred_from,
            occurred_to=occurred_to,
            text=q.strip() if q else None,
        )

    def for_principal(self, principal: Principal) -> ReportQuery:
        """The query narrowed to what ``principal`` may see."""
        return params_scope(self.query, principal)


def params_scope(query: ReportQuery, principal: Principal) -> ReportQuery:
    """``query`` narrowed to what ``principal`` may see."""
    if principal.role in (Role.OPERATOR, Role.ADMIN):
        return query
    return query.scoped_to(principal.region)


class StatusChangeRequest(BaseModel):
    """A liaison's or operator's decision about a report."""

    status: ReportStatus = Field(description="New status; `new` cannot be set by hand.")
    duplicate_of: str | None = Field(None, max_length=100)
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _consistent(self) -> "StatusChangeRequest":
        if self.status is ReportStatus.NEW:
            raise ValueError("a report cannot be set back to `new`")
        if (self.status is ReportStatus.DUPLICATE) != (self.duplicate_of is not None):
            raise ValueError("`duplicate_of` is required with, and only with, `duplicate`")
        return self


async def _csv_chunks(cursor: Any) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rows = 0
    async for document in cursor:
        writer.writerow(csv_row(document))
        rows += 1
        if rows % EXPORT_CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _geojson_chunks(cursor: Any) -> AsyncIterator[str]:
    yield '{"type":"FeatureCollection","features":['
    parts: list[str] = []
    first = True
    async for document in cursor:
        parts.append(("" if first else ",") + geojson_feature(document))
        first = False
        if len(parts) >= EXPORT_CHUNK_ROWS:
            yield "".join(parts)
            parts.clear()
    yield "".join(parts) + "]}"


async def find_reports(
    store: ReportStore,
    listing: MemoryListing | None,
    *,
    query: ReportQuery,
    order: SortOrder,
    after: tuple[Any, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The first ``limit`` documents matching ``query`` after ``after`` in ``order``:
    their ids from the listing index once it is loaded, then their documents by ``_id``;
    before that (or with the index off) one MongoDB query."""
    if listing is not None and listing.ready:
        ids = listing.page(query, order, after, limit)
        found = await store.load_many(ids)
        return [found[report_id] for report_id in ids if report_id in found]
    filter_ = query_filter(query)
    if after is not None:
        filter_ = {"$and": [filter_, page_filter(order, after)]}
    return await store.find(filter_=filter_, sort=sort_spec(order), limit=limit)


async def _page_from_index(
    store: ReportStore,
    listing: MemoryListing,
    *,
    query: ReportQuery,
    order: SortOrder,
    after: tuple[Any, str] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """A list page from the index: its rows from memory (a row the index lacks is loaded
    by ``_id``), the cursor from the index's sort value of the last."""
    ids = listing.page(query, order, after, limit + 1)
    page = ids[:limit]
    rows = listing.rows(page)
    missing = [report_id for report_id in page if report_id not in rows]
    if missing:
        rows |= {rid: summary_report(doc) for rid, doc in (await store.load_many(missing)).items()}
    items = [rows[report_id] for report_id in page if report_id in rows]
    next_cursor = None
    if len(ids) > limit and page:
        position = listing.index.position(page[-1], order)
        if position is not None:
            next_cursor = encode_cursor(order=order, value=position[0], report_id=position[1])
    return items, next_cursor


def export_router(*, config: Config, store: ReportStore) -> APIRouter:
    """``/v1/reports/export.*``: streamed CSV and GeoJSON of any filter (mount first)."""
    router = APIRouter(prefix="/v1/reports", tags=["reports"])
    Reader = Annotated[Principal, Depends(reader_auth(config))]

    def matching(principal: Principal, params: ListParams) -> Any:
        """The caller's reports that match ``params``, newest first, for export."""
        return store.stream(
            filter_=query_filter(params.for_principal(principal)),
            sort=sort_spec(SortOrder.NEWEST),
            projection=EXPORT_PROJECTION,
        )

    @router.get(
        "/export.csv",
        summary="Export reports as CSV",
        response_class=StreamingResponse,
        responses=export_responses("text/csv", "pantau-reports.csv", {"type": "string"}),
    )
    async def export_csv(
        principal: Reader, params: Annotated[ListParams, Depends()]
    ) -> StreamingResponse:
        """Every report matching the filters as CSV, streamed (constant memory)."""
        cursor = matching(principal, params)
        return StreamingResponse(
            _csv_chunks(cursor),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="pantau-reports.csv"'},
        )

    @router.get(
        "/export.geojson",
        summary="Export reports as GeoJSON",
        response_class=StreamingResponse,
        responses=export_responses(
            "application/geo+json", "pantau-reports.geojson", GEOJSON_SCHEMA
        ),
    )
    async def export_geojson(
        principal: Reader, params: Annotated[ListParams, Depends()]
    ) -> StreamingResponse:
        """Every report matching the filters as a GeoJSON FeatureCollection, streamed."""
        cursor = matching(principal, params)
        return StreamingResponse(
            _geojson_chunks(cursor),
            media_type="application/geo+json",
            headers={"Content-Disposition": 'attachment; filename="pantau-reports.geojson"'},
        )

    return router


def reports_router(
    *, config: Config, store: ReportStore, listing: MemoryListing | None = None
) -> APIRouter:
    """``/v1/reports``: filtered, paginated lists and one report."""
    router = APIRouter(prefix="/v1/reports", tags=["reports"])
    Reader = Annotated[Principal, Depends(reader_auth(config))]

    @router.get(
        "",
        summary="List reports",
        responses=problem_responses(400, *AUTHED, s400="`cursor` is not one this API issued."),
    )
    async def list_reports(
        principal: Reader,
        params: Annotated[ListParams, Depends()],
        sort: SortOrder = SortOrder.NEWEST,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=config.page_size_max)] = 50,
    ) -> dict[str, Any]:
        """Reports matching every filter, newest first by default; pass `next_cursor`
        back as `cursor` for the next page."""
        try:
            after = decode_cursor(cursor, order=sort) if cursor else None
        except InvalidCursor as exc:
            raise Problem(400, "Invalid cursor", str(exc)) from exc
        query = params.for_principal(principal)
        if listing is not None and listing.ready:
            items, next_cursor = await _page_from_index(
                store, listing, query=query, order=sort, after=after, limit=limit
            )
        else:
            rows = await find_reports(
                store, None, query=query, order=sort, after=after, limit=limit + 1
            )
            page, more = rows[:limit], len(rows) > limit
            next_cursor = None
            if more and page:
                last = page[-1]
                next_cursor = encode_cursor(
                    order=sort, value=last.get(sort.field), report_id=last["_id"]
                )
            items = [summary_report(doc) for doc in page]
        for item in items:
            code = (item.get("region") or {}).get("code")
            item["region_name"] = regions.name(code) if code else None
        return {"items": items, "next_cursor": next_cursor}

    @router.get(
        "/{report_id}",
        summary="One report",
        responses=problem_responses(*AUTHED, 404, s404=NOT_FOUND),
    )
    async def get_report(principal: Reader, report_id: str) -> dict[str, Any]:
        """The read model of one report: submission, classification, status, alerts."""
        if len(report_id) > 100:
            raise not_found(report_id[:100])
        document = await store.get(report_id)
        if not visible(principal, document):
            raise not_found(report_id)
        assert document is not None
        return public_report(document)

    return router


def triage_router(
    *,
    config: Config,
    store: ReportStore,
    broker: KafkaBroker,
    listing: MemoryListing | None = None,
) -> APIRouter:
    """Possible duplicates and status changes (published as events)."""
    router = APIRouter(prefix="/v1/reports", tags=["reports"])
    Reader = Annotated[Principal, Depends(reader_auth(config))]

    @router.get(
        "/{report_id}/duplicates",
        summary="Possible duplicates of a report",
        responses=problem_responses(*AUTHED, 404, s404=NOT_FOUND),
    )
    async def possible_duplicates(
        principal: Reader,
        report_id: str,
        window_hours: Annotated[int, Query(ge=1, le=72)] = 6,
        min_similarity: Annotated[float, Query(ge=0, le=1)] = 0.3,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> dict[str, Any]:
        """Reports of the same village (and TPS), category and time window with similar
        text, best match first, so triage can mark them `duplicate` of this one."""
        document = await store.get(report_id[:100])
        if not visible(principal, document) or document is None:
            raise not_found(report_id)
        rules = DuplicateRules(window=timedelta(hours=window_hours), min_similarity=min_similarity)
        place, at = place_of(document), document.get("occurred_at")
        if place is None or at is None or document.get("category") is None:
            return {"report_id": report_id, "candidates": []}
        query = ReportQuery(
            regions=(place,),
            categories=(document["category"],),
            occurred_from=at - rules.window,
            occurred_to=at + rules.window + timedelta(milliseconds=1),
        )
        candidates = await find_reports(
            store,
            listing,
            query=params_scope(query, principal),
            order=SortOrder.NEWEST,
            after=None,
            limit=DUPLICATE_SCAN_LIMIT,
        )
        scored = [
            (value, other)
            for other in candidates
            if (value := score(document, other, rules=rules)) is not None
        ]
        scored.sort(key=lambda pair: (-pair[0], pair[1]["_id"]))
        return {
            "report_id": report_id,
            "candidates": [
                {"score": value, "report": summary_report(other)} for value, other in scored[:limit]
            ],
        }

    @router.post(
        "/{report_id}/status",
        status_code=202,
        summary="Change a report's status",
        responses=problem_responses(
            *AUTHED, 404, 503, s404=NOT_FOUND, s503="Kafka is unreachable: nothing was recorded."
        ),
    )
    async def change_status(
        principal: Annotated[Principal, Depends(reader_auth(config, STATUS_ROLES))],
        report_id: str,
        change: StatusChangeRequest,
    ) -> dict[str, Any]:
        """Publishes `report.status_changed`; the read model follows once it is consumed.
        Answers 202 only after Kafka holds the event."""
        document = await store.get(report_id[:100])
        if not visible(principal, document):
            raise not_found(report_id)
        if change.status is ReportStatus.DUPLICATE:
            original = await store.get(change.duplicate_of or "")
            if change.duplicate_of == report_id or not visible(principal, original):
                raise Problem(
                    422,
                    "Invalid duplicate",
                    "`duplicate_of` must name another report visible to you",
                    type_="https://pantau.id/problems/validation",
                )
        event = ReportStatusChanged.create(
            producer=SERVICE,
            subject=report_id,
            data=ReportStatusChangedData(
                report_id=report_id,
                status=change.status,
                duplicate_of=change.duplicate_of,
                note=change.note,
                changed_by=principal.subject,
                changed_by_role=principal.role.value,
                changed_at=utcnow(),
            ),
        )
        try:
            await publish_event(broker, event, topic=config.topics.status, key=report_id)
        except Exception as exc:
            raise Problem(
                503,
                "Event bus unavailable",
                "the status change was not recorded; try again",
                headers={"Retry-After": "5"},
            ) from exc
        return {"event_id": str(event.event_id), "report_id": report_id, "status": change.status}

    return router


def identity_router(*, config: Config, store: ReportStore, cipher: IdentityCipher) -> APIRouter:
    """Reporter identity for granted roles, every read audited."""
    router = APIRouter(prefix="/v1/reports", tags=["reports"])
    identity_roles = tuple(Role(r) for r in config.identity_roles)

    @router.get(
        "/{report_id}/reporter",
        summary="Reporter identity (audited)",
        responses=problem_responses(
            *AUTHED, 404, 500, s404=NOT_FOUND, s500="The identity key cannot decrypt it."
        ),
    )
    async def reporter_identity(
        principal: Annotated[Principal, Depends(reader_auth(config, identity_roles))],
        report_id: str,
        reason: Annotated[str, Query(min_length=5, max_length=500)],
    ) -> dict[str, Any]:
        """Decrypts the reporter's identity for a role granted it. Every read is written
        to the audit log first (who, when, which report, which fields, why)."""
        document = await store.get(report_id[:100])
        if not visible(principal, document) or document is None:
            raise not_found(report_id)
        sealed = (document.get("submission") or {}).get("reporter") or {}
        entry = {
            "_id": uuid4().hex,
            "at": utcnow(),
            "actor": principal.subject,
            "role": principal.role.value,
            "institution": principal.institution,
            "report_id": report_id,
            "fields": sorted(sealed),
            "reason": reason,
        }
        await store.record_audit(entry)
        try:
            reporter = {
                field: cipher.open(
                    EncryptedField.model_validate(value), report_id=report_id, field=field
                )
                for field, value in sorted(sealed.items())
            }
        except IdentityKeyError as exc:
            raise Problem(500, "Identity cannot be decrypted", str(exc)) from exc
        return {"report_id": report_id, "reporter": reporter, "audit_id": entry["_id"]}

    return router
