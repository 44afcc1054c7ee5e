"""``POST /v1/inbound/sms``: the SMS gateway's webhook, signed with HMAC-SHA256.

The gateway signs ``<timestamp>.<raw body>`` with the shared secret and sends
``X-Pantau-Timestamp: <unix seconds>`` and ``X-Pantau-Signature: sha256=<hex>``.
A request older than the allowed skew, or one whose signature was already seen
within that window, is refused: a captured request cannot be replayed. The seen
set is per process; with several replicas a replay that reaches another replica
is still harmless, because its report id is the same and consumers are idempotent.
"""

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from pantau.intake.adapters.problems import field_errors, rejected, unavailable
from pantau.intake.adapters.schemas import problem_responses
from pantau.intake.core.errors import PublishUnavailable, ReportRejected
from pantau.intake.core.intake import Intake, Origin
from pantau.intake.core.models import ReportIn
from pantau.intake.core.sms import (
    Language,
    SmsProblem,
    parse_sms,
    problem_for_field,
    reply_accepted,
    reply_problem,
    sms_client_report_id,
)
from pantau.intake.metrics import REPORTS_REJECTED
from pantau.shared.events import Channel
from pantau.shared.http import Problem

SMS_CLIENT_ID = "sms-gateway"
TIMESTAMP_HEADER = "X-Pantau-Timestamp"
SIGNATURE_HEADER = "X-Pantau-Signature"
MAX_REMEMBERED_SIGNATURES = 100_000


class SmsIn(BaseModel):
    """One received SMS as the gateway forwards it (JSON or form-encoded)."""

    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=3, max_length=32, examples=["+6281234567890"])
    text: str = Field(
        min_length=1, max_length=5000, examples=["LAPOR 32.01.01.1002 5 Banjir merendam TPS 05"]
    )
    received_at: AwareDatetime = Field(description="When the gateway received the SMS.")
    message_id: str | None = Field(
        None, max_length=128, description="The gateway's id; makes redelivery idempotent."
    )
    lang: Language = Field("id", description="Language of the reply text: `id` or `en`.")


class SmsReply(BaseModel):
    """What the gateway should text back to the sender."""

    accepted: bool
    report_id: str | None = None
    reply: str = Field(examples=["Terima kasih, laporan Anda diterima. Nomor laporan: rpt_…"])


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (gateway side too)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class ReplayGuard:
    """Remembers signatures seen within the skew window; a second sighting is a replay."""

    def __init__(self, *, window_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._window = window_seconds
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check_fresh(self, timestamp: str) -> None:
        """Refuse timestamps outside ``now ± window``."""
        try:
            sent = int(timestamp)
        except ValueError:
            raise _unauthorised("timestamp is not unix seconds") from None
        if abs(self._clock() - sent) > self._window:
            raise _unauthorised(f"timestamp outside the {self._window} s window")

    def remember(self, signature: str) -> None:
        """Record ``signature``; raise 409 when it was already used."""
        now = self._clock()
        while self._seen and (
            next(iter(self._seen.values())) < now - 2 * self._window
            or len(self._seen) > MAX_REMEMBERED_SIGNATURES
        ):
            self._seen.popitem(last=False)
        if signature in self._seen:
            raise Problem(
                409,
                "Replayed request",
                "this signed request was already received",
                type_="https://pantau.id/problems/replay",
            )
        self._seen[signature] = now

    def forget(self, signature: str) -> None:
        """Allow ``signature`` again (its request had no effect)."""
        self._seen.pop(signature, None)


def _unauthorised(detail: str) -> Problem:
    return Problem(
        401,
        "Invalid signature",
        detail,
        type_="https://pantau.id/problems/signature",
        headers={"WWW-Authenticate": "HMAC-SHA256"},
    )


def sms_router(
    *, intake: Intake, secret: SecretStr | None, guard: ReplayGuard, retry_after: int
) -> APIRouter:
    """The webhook route; without a configured secret every call is refused (401)."""
    router = APIRouter(tags=["sms"])

    @router.post(
        "/v1/inbound/sms",
        summary="SMS gateway webhook (HMAC-signed)",
        response_model=SmsReply,
        responses={
            202: {"model": SmsReply, "description": "The SMS became a report."},
            **problem_responses(401, 409, 413, 422, 503),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/SmsIn"},
                        "examples": {
                            "lapor": {
                                "summary": "SMS laporan banjir",
                                "value": {
                                    "sender": "+6281234567890",
                                    "text": "LAPOR 32.01.01.1002 5 Banjir merendam TPS 05",
                                    "received_at": "2029-02-14T07:31:00+07:00",
                                    "message_id": "gw-000123",
                                },
                            }
                        },
                    },
                    "application/x-www-form-urlencoded": {
                        "schema": {"$ref": "#/components/schemas/SmsIn"}
                    },
                },
            }
        },
    )
    async def inbound_sms(
        request: Request,
        timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER)] = None,
        signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
    ) -> Any:
        """Turns `LAPOR <kode wilayah> <nomor TPS> <isi laporan>` into a report. Answers
        202 with the report number, or 200 with a reply explaining how to fix the SMS."""
        body = await request.body()
        seen = _verify(
            secret=secret, timestamp=timestamp, signature=signature, body=body, guard=guard
        )
        sms = _parse_body(body, request.headers.get("content-type", ""))
        try:
            reply = await _handle(
                intake,
                sms,
                traceparent=request.headers.get("traceparent"),
                retry_after=retry_after,
            )
        except Problem:
            # Nothing was stored (Kafka unreachable): the gateway's retry of this very
            # request is legitimate, not a replay.
            guard.forget(seen)
            raise
        return JSONResponse(reply.model_dump(), status_code=202 if reply.accepted else 200)

    return router


def _verify(
    *,
    secret: SecretStr | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    guard: ReplayGuard,
) -> str:
    """Check freshness and signature, remember it; return the signature remembered."""
    if secret is None:
        raise _unauthorised("the SMS webhook is not configured")
    if not timestamp or not signature:
        raise _unauthorised(f"send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    guard.check_fresh(timestamp)
    expected = sign(secret=secret.get_secret_value(), timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected, signature.strip()):
        raise _unauthorised("signature does not match the body")
    guard.remember(expected)
    return expected


def _parse_body(body: bytes, content_type: str) -> SmsIn:
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
            return SmsIn.model_validate({k: v[-1] for k, v in form.items()})
        return SmsIn.model_validate_json(body)
    except (ValidationError, UnicodeDecodeError, ValueError) as exc:
        errors = field_errors(exc) if isinstance(exc, ValidationError) else []
        raise rejected(ReportRejected(errors)) from exc


async def _handle(
    intake: Intake, sms: SmsIn, *, traceparent: str | None, retry_after: int
) -> SmsReply:
    parsed = parse_sms(sms.text)
    if parsed is None:
        return _refused(SmsProblem.FORMAT, None, sms.lang)
    sender = "".join(ch for ch in sms.sender if ch.isdigit() or ch == "+")
    candidate: dict[str, Any] = {
        "client_report_id": sms_client_report_id(
            sender=sender,
            message_id=sms.message_id,
            fallback=f"{sms.received_at.isoformat()}\x1f{sms.text}",
        ),
        "occurred_at": sms.received_at,
        "region_code": parsed.region_code,
        "tps": parsed.tps,
        "description": parsed.text,
    }
    if 8 <= len(sender.lstrip("+")) <= 15:
        candidate["reporter"] = {"phone": sender}
    try:
        report = ReportIn.model_validate(candidate)
        report_id = await intake.submit(
            report,
            origin=Origin(client_id=SMS_CLIENT_ID, channel=Channel.SMS),
            traceparent=traceparent,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return _refused(problem_for_field(field, first["type"]), parsed, sms.lang)
    except ReportRejected as exc:
        first_error = exc.errors[0]
        return _refused(problem_for_field(first_error.field, first_error.type), parsed, sms.lang)
    except PublishUnavailable as exc:
        raise unavailable(exc, retry_after=retry_after) from exc
    return SmsReply(
        accepted=True, report_id=report_id, reply=reply_accepted(report_id, lang=sms.lang)
    )


def _refused(problem: SmsProblem, parsed: Any, lang: Language) -> SmsReply:
    REPORTS_REJECTED.labels(Channel.SMS.value, f"sms_{problem.value}").inc()
    return SmsReply(accepted=False, reply=reply_problem(problem, parsed=parsed, lang=lang))
