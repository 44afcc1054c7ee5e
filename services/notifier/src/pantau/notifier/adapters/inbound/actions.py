"""Acknowledgements and silences over HTTP.

An alert is acknowledged with a bearer token (operator, admin, or a liaison of its
region) or with the signed link its message carries. Silences are for operators.
"""

import html
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from pantau.notifier.adapters.inbound.api import ALERT_ID_PATTERN
from pantau.notifier.core.institutions import lenient_institution
from pantau.notifier.core.models import ReportFacts
from pantau.notifier.core.signing import verify_ack
from pantau.notifier.inject import Components
from pantau.shared import regions
from pantau.shared.auth import Principal
from pantau.shared.events import Category, Severity
from pantau.shared.http import Problem

MAX_SILENCE = timedelta(days=7)
AlertId = Annotated[str, Path(pattern=ALERT_ID_PATTERN)]
Signature = Annotated[str | None, Query(max_length=128, pattern=r"^[0-9a-f]+$")]


class AckResult(BaseModel):
    alert_id: str
    subject_id: str
    acknowledged: bool = True
    first: bool = Field(description="False when someone had acknowledged it already.")
    acknowledged_by: str
    acknowledged_at: datetime


class SilenceCreate(BaseModel):
    """Mute a route, region, category or recipient (at least one) for a while."""

    route_id: str | None = Field(None, max_length=128)
    region: str | None = Field(None, max_length=20)
    category: Category | None = None
    recipient_id: str | None = Field(None, max_length=128)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    duration_minutes: int | None = Field(None, ge=1, le=int(MAX_SILENCE.total_seconds() // 60))
    reason: str = Field(min_length=3, max_length=500)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return regions.validate(value) if value else None

    @model_validator(mode="after")
    def _complete(self) -> "SilenceCreate":
        if not (self.route_id or self.region or self.category or self.recipient_id):
            raise ValueError("name at least one of route_id, region, category, recipient_id")
        if (self.ends_at is None) == (self.duration_minutes is None):
            raise ValueError("give exactly one of ends_at and duration_minutes")
        return self


class SilencePublic(BaseModel):
    id: str
    route_id: str | None = None
    region: str | None = None
    category: str | None = None
    recipient_id: str | None = None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None = None


def ack_router(*, components: Callable[[], Components], auth: Any) -> APIRouter:
    router = APIRouter(tags=["alerts"])

    async def _acknowledge(alert_id: str, who: Principal | None) -> AckResult:
        c = components()
        row = await c.ledger.get(alert_id)
        if row is None or (who is not None and not who.can_see_region(row.delivery.region_code)):
            raise Problem(404, "Not found", f"no alert {alert_id}")
        # A signed link acknowledges on behalf of the recipient it was sent to.
        by = who.subject if who is not None else f"link:{row.delivery.recipient_id}"
        first = await c.notifier.acknowledge(row.delivery, by=by)
        ack = await c.escalations.acknowledgement(row.delivery.subject_id)
        assert ack is not None
        return AckResult(
            alert_id=alert_id,
            subject_id=row.delivery.subject_id,
            first=first,
            acknowledged_by=ack["by"],
            acknowledged_at=ack["at"],
        )

    @router.post("/v1/alerts/{alert_id}/ack", response_model=AckResult)
    async def acknowledge(request: Request, alert_id: AlertId, sig: Signature = None) -> AckResult:
        """Acknowledge an alert: stops its escalation. Bearer token or signed link."""
        if sig is not None:
            secret = components().config.auth_secret.get_secret_value()
            if not verify_ack(secret=secret, alert_id=alert_id, signature=sig):
                raise Problem(403, "Forbidden", "the acknowledgement link is not valid")
            return await _acknowledge(alert_id, None)
        who: Principal = await auth(request)
        return await _acknowledge(alert_id, who)

    @router.get("/v1/alerts/{alert_id}/ack", response_class=HTMLResponse, include_in_schema=False)
    async def acknowledge_page(alert_id: AlertId, sig: Signature = None) -> HTMLResponse:
        """The page a signed link opens: one button, so that link previews that fetch
        URLs do not acknowledge on a liaison's behalf."""
        secret = components().config.auth_secret.get_secret_value()
        if sig is None or not verify_ack(secret=secret, alert_id=alert_id, signature=sig):
            raise Problem(403, "Forbidden", "the acknowledgement link is not valid")
        action = html.escape(f"/v1/alerts/{alert_id}/ack?sig={sig}")
        return HTMLResponse(
            "<!doctype html><html lang=id><meta charset=utf-8><title>Pantau</title>"
            f"<p>Konfirmasi penerimaan peringatan {html.escape(alert_id)}.</p>"
            f'<form method=post action="{action}"><button>Konfirmasi</button></form>'
            "<p lang=en>Acknowledge receipt of this alert.</p></html>"
        )

    return router


def silences_router(*, components: Callable[[], Components], operator_auth: Any) -> APIRouter:
    router = APIRouter(tags=["silences"])
    Operator = Annotated[Principal, Depends(operator_auth)]

    @router.post("/v1/silences", response_model=SilencePublic, status_code=201)
    async def create_silence(who: Operator, body: SilenceCreate) -> SilencePublic:
        """Mute alerts for a while; muted deliveries are recorded as ``suppressed``."""
        c = components()
        now = c.overrides.clock()
        starts = body.starts_at or now
        ends = body.ends_at or starts + timedelta(minutes=body.duration_minutes or 0)
        if ends <= starts or ends - starts > MAX_SILENCE:
            raise Problem(422, "Invalid silence", "it must end after it starts, within 7 days")
        fields: dict[str, Any] = {
            "route_id": body.route_id,
            "region": body.region,
            "category": body.category.value if body.category else None,
            "recipient_id": body.recipient_id,
            "starts_at": starts,
            "ends_at": ends,
            "reason": body.reason,
        }
        silence = await c.silences.create(silence=fields, created_by=who.subject, now=now)
        await c.refresh_silences()
        return SilencePublic(**{**fields, "id": silence.id, "created_by": who.subject})

    @router.get("/v1/silences", response_model=list[SilencePublic])
    async def list_silences(who: Operator) -> list[SilencePublic]:
        """Silences in force or scheduled."""
        c = components()
        docs = await c.silences.listing(now=c.overrides.clock(), limit=500)
        return [
            SilencePublic(id=d["_id"], **{k: v for k, v in d.items() if k != "_id"}) for d in docs
        ]

    @router.delete("/v1/silences/{silence_id}", status_code=204)
    async def end_silence(
        who: Operator, silence_id: Annotated[str, Path(pattern=r"^sil_[0-9a-f]{16}$")]
    ) -> None:
        """End a silence now."""
        c = components()
        if not await c.silences.end(silence_id, now=c.overrides.clock()):
            raise Problem(404, "Not found", f"no active silence {silence_id}")
        await c.refresh_silences()

    return router


class ExplainRequest(BaseModel):
    region_code: str = Field(max_length=20)
    category: Category
    severity: Severity
    institutions: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("region_code")
    @classmethod
    def _region(cls, value: str) -> str:
        return regions.validate(value)


class ExplainAnswer(BaseModel):
    version: str
    recipients: list[str]
    trace: list[str]
    escalation: list[list[str]] = Field(description="Recipients added at each step.")


def routes_router(*, components: Callable[[], Components], operator_auth: Any) -> APIRouter:
    router = APIRouter(prefix="/v1/routes", tags=["routes"])
    Operator = Annotated[Principal, Depends(operator_auth)]

    @router.get("")
    async def current_routes(who: Operator) -> dict[str, Any]:
        """The recipients and routes in force, and their version (the file's hash)."""
        c = components()
        return {"version": c.directory.version, **c.directory.router.directory.snapshot()}

    @router.post("/explain", response_model=ExplainAnswer)
    async def explain(who: Operator, body: ExplainRequest) -> ExplainAnswer:
        """Who a report like this would alert, and why (as `pantau routes explain`)."""
        c = components()
        now = c.overrides.clock()
        report = ReportFacts(
            report_id="example",
            region_code=body.region_code,
            regency=regions.regency_key(body.region_code),
            category=body.category,
            severity=body.severity,
            institutions=tuple(lenient_institution(i) for i in body.institutions),
            occurred_at=now,
            received_at=now,
            description="",
        )
        router_ = c.directory.router
        decision = router_.decide(report, explain=True)
        steps = []
        for step in range(1, 6):
            added = router_.escalation_targets(decision, step=step)
            if not added:
                break
            steps.append([r.id for r in added])
        return ExplainAnswer(
            version=c.directory.version,
            recipients=[r.id for r in decision.recipients],
            trace=list(decision.trace),
            escalation=steps,
        )

    return router
