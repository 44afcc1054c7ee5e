"""The notifier's HTTP API: the delivery ledger, read with a bearer token."""

from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from pantau.shared.auth import Principal, Role
from pantau.shared.http import Problem, bearer_auth

ALERT_ID_PATTERN = r"^alr_[0-9a-f]{32}$"


class LedgerQueries(Protocol):
    async def query(
        self,
        *,
        region: str | None,
        report_id: str | None,
        status: str | None,
        limit: int,
        before: datetime | None,
    ) -> list[dict[str, Any]]: ...

    async def get_doc(self, alert_id: str) -> dict[str, Any] | None: ...

    async def acknowledgements(self, subject_ids: list[str]) -> dict[str, dict[str, Any]]: ...


class AttemptPublic(BaseModel):
    at: datetime
    status: str
    attempt: int
    error: str | None = None


class AlertPublic(BaseModel):
    """One ledger row: an alert to one recipient over one channel, and its attempts."""

    alert_id: str
    subject_id: str = Field(description="The report id, or the group id of a grouped alert.")
    report_ids: list[str]
    recipient_id: str
    channel: str
    target: str
    kind: str
    escalation_level: int = 0
    region_code: str
    regency: str
    category: str
    severity: str
    status: str
    attempts: int
    error: str | None = None
    note: str | None = Field(None, description="Why it was suppressed, when it was.")
    provider_message_id: str | None = None
    subject: str | None = Field(None, description="The message's subject line.")
    created_at: datetime
    updated_at: datetime | None = None
    next_attempt_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    attempt_log: list[AttemptPublic] = Field(default_factory=list)

    @classmethod
    def from_doc(cls, doc: dict[str, Any], ack: dict[str, Any] | None = None) -> "AlertPublic":
        return cls(
            alert_id=doc["_id"],
            subject=(doc.get("message") or {}).get("subject"),
            acknowledged_at=ack["at"] if ack else None,
            acknowledged_by=ack["by"] if ack else None,
            **{
                k: v
                for k, v in doc.items()
                if k in cls.model_fields
                and k not in ("subject", "acknowledged_at", "acknowledged_by")
            },
        )


_DERIVED = frozenset({"subject", "acknowledged_at", "acknowledged_by"})


class AlertPage(BaseModel):
    items: list[AlertPublic]
    next_before: datetime | None = Field(
        None, description="Pass as `before` for the next, older page."
    )


def _scope(who: Principal) -> str | None:
    """The region filter for this caller: none for operators, their region for liaisons."""
    if who.role in (Role.OPERATOR, Role.ADMIN):
        return None
    if who.region is None:
        raise Problem(403, "Forbidden", "a liaison token must name a region")
    return who.region


def alerts_router(*, ledger: LedgerQueries, auth: Any) -> APIRouter:
    """``GET /v1/alerts`` and ``GET /v1/alerts/{id}``: operators see all, liaisons their region."""
    router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
    Caller = Annotated[Principal, Depends(auth)]

    @router.get("", response_model=AlertPage, summary="List alerts, newest first")
    async def list_alerts(
        who: Caller,
        report_id: Annotated[str | None, Query(max_length=100)] = None,
        status: Annotated[str | None, Query(max_length=32)] = None,
        before: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> AlertPage:
        """The delivery ledger: every alert, its status and attempts."""
        docs = await ledger.query(
            region=_scope(who), report_id=report_id, status=status, limit=limit, before=before
        )
        acks = await ledger.acknowledgements([d["subject_id"] for d in docs])
        items = [AlertPublic.from_doc(d, acks.get(d["subject_id"])) for d in docs]
        return AlertPage(
            items=items, next_before=items[-1].created_at if len(items) == limit else None
        )

    @router.get("/{alert_id}", response_model=AlertPublic, summary="One alert and its attempts")
    async def get_alert(
        who: Caller, alert_id: Annotated[str, Path(pattern=ALERT_ID_PATTERN)]
    ) -> AlertPublic:
        """One ledger row, with every delivery attempt."""
        doc = await ledger.get_doc(alert_id)
        scope = _scope(who)
        if doc is None or (scope is not None and scope not in doc.get("region_path", [])):
            raise Problem(404, "Not found", f"no alert {alert_id}")
        acks = await ledger.acknowledgements([doc["subject_id"]])
        return AlertPublic.from_doc(doc, acks.get(doc["subject_id"]))

    return router


def default_auth(*, secret: Any, issuer: str) -> Any:
    return bearer_auth(
        secret=secret, issuer=issuer, roles=(Role.OPERATOR, Role.ADMIN, Role.LIAISON)
    )
