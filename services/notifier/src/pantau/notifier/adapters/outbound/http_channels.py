"""HTTP channels: signed webhooks and the Telegram Bot API (base URL configurable).

Both map HTTP outcomes the same way: 2xx delivered; 429 and 5xx/408 transient
(honouring ``Retry-After`` or Telegram's ``retry_after``); other 4xx permanent;
network errors and timeouts transient.
"""

import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx

from pantau.notifier.core.errors import PermanentDeliveryError, TransientDeliveryError
from pantau.notifier.core.models import ChannelKind, Delivery
from pantau.notifier.core.signing import sign_webhook

HEADER_TIMESTAMP = "X-Pantau-Timestamp"
HEADER_SIGNATURE = "X-Pantau-Signature"
HEADER_ALERT_ID = "X-Pantau-Alert-Id"
TELEGRAM_TEXT_LIMIT = 4096


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; the backoff schedule will do


def _raise_for(response: httpx.Response, *, what: str, retry_after: float | None = None) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    detail = f"{what} answered {code}: {response.text[:300]}"
    if code == 429 or code == 408 or code >= 500:
        raise TransientDeliveryError(detail, retry_after=retry_after or _retry_after(response))
    raise PermanentDeliveryError(detail)


class WebhookSender:
    """POSTs the alert as JSON, signed with HMAC-SHA256 over ``<timestamp>.<body>``.

    The secret comes from the environment variable the recipient's entry names
    (``secret_env``), else ``PANTAU_WEBHOOK_SECRET``; it is never stored in the ledger.
    ``X-Pantau-Alert-Id`` doubles as an idempotency key for the receiver.
    """

    channel = ChannelKind.WEBHOOK

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        environ: Mapping[str, str] = os.environ,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._environ = environ
        self._now = now

    def body(self, delivery: Delivery) -> bytes:
        payload = {
            "alert_id": delivery.alert_id,
            "kind": delivery.kind.value,
            "escalation_level": delivery.escalation_level,
            "recipient_id": delivery.recipient_id,
            "report_ids": list(delivery.report_ids),
            "region_code": delivery.region_code,
            "regency": delivery.regency,
            "category": delivery.category.value,
            "severity": delivery.severity.value,
            "subject": delivery.message.subject,
            "text": delivery.message.text,
            "links": delivery.message.data.get("links", []),
            "ack_url": delivery.message.data.get("ack_url"),
            "sent_at": datetime.now(UTC).isoformat(),
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    async def send(self, delivery: Delivery) -> str | None:
        secret = self._environ.get(delivery.secret_env or "PANTAU_WEBHOOK_SECRET")
        if not secret:
            raise PermanentDeliveryError(
                f"no webhook secret: set {delivery.secret_env or 'PANTAU_WEBHOOK_SECRET'}"
            )
        body = self.body(delivery)
        timestamp = int(self._now())
        headers = {
            "Content-Type": "application/json",
            HEADER_TIMESTAMP: str(timestamp),
            HEADER_SIGNATURE: sign_webhook(secret=secret, timestamp=timestamp, body=body),
            HEADER_ALERT_ID: delivery.alert_id,
        }
        try:
            response = await self._client.post(delivery.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"webhook unreachable: {exc!r}") from exc
        _raise_for(response, what="webhook")
        return response.headers.get("X-Request-Id") or delivery.alert_id


class TelegramSender:
    """``sendMessage`` of the Telegram Bot API; the target is a chat id or @channel."""

    channel = ChannelKind.TELEGRAM

    def __init__(self, *, client: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"

    async def send(self, delivery: Delivery) -> str | None:
        text = delivery.message.text
        if len(text) > TELEGRAM_TEXT_LIMIT:
            text = text[: TELEGRAM_TEXT_LIMIT - 1] + "…"
        try:
            response = await self._client.post(
                self._url,
                json={
                    "chat_id": delivery.target,
                    "text": text,
                    "disable_web_page_preview": True,
                },
            )
        except httpx.HTTPError as exc:
            # The exception text may contain the URL, and the URL the token: keep it out.
            raise TransientDeliveryError(f"Telegram unreachable: {type(exc).__name__}") from exc
        retry_after = None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if isinstance(answer, dict):
            retry_after = (answer.get("parameters") or {}).get("retry_after")
        _raise_for(response, what="Telegram", retry_after=retry_after)
        if not answer.get("ok"):
            raise PermanentDeliveryError(f"Telegram refused: {answer.get('description')}")
        return str((answer.get("result") or {}).get("message_id"))
