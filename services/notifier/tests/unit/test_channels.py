"""Channel adapters map provider answers to transient or permanent errors."""

import json

import httpx
import pytest

from pantau.notifier.adapters.outbound.http_channels import TelegramSender, WebhookSender
from pantau.notifier.core.errors import PermanentDeliveryError, TransientDeliveryError
from pantau.notifier.core.models import ChannelKind, Delivery, RenderedMessage
from pantau.notifier.core.signing import verify_webhook
from pantau.shared.events import AlertKind, Category, Severity


def _delivery(channel: ChannelKind, target: str, secret_env: str | None = None) -> Delivery:
    return Delivery(
        alert_id="alr_" + "0" * 32,
        subject_id="rpt_1",
        report_ids=("rpt_1",),
        recipient_id="r",
        channel=channel,
        target=target,
        kind=AlertKind.INITIAL,
        region_code="32.01.01",
        regency="32.01",
        category=Category.KEAMANAN,
        severity=Severity.HIGH,
        message=RenderedMessage(subject="S", text="T", data={"links": ["http://x"]}),
        secret_env=secret_env,
    )


def _client(status: int, body: object = None, headers: dict[str, str] | None = None):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


class TestWebhook:
    async def test_signed_body_verifies(self):
        client, seen = _client(204)
        sender = WebhookSender(client=client, environ={"HOOK": "secret"}, now=lambda: 1000.0)
        await sender.send(_delivery(ChannelKind.WEBHOOK, "http://h/x", "HOOK"))
        [request] = seen
        assert verify_webhook(
            secret="secret",
            timestamp=int(request.headers["x-pantau-timestamp"]),
            body=request.content,
            signature=request.headers["x-pantau-signature"],
            now=1010,
        )
        assert json.loads(request.content)["alert_id"] == "alr_" + "0" * 32

    @pytest.mark.parametrize(
        ("status", "error"),
        [
            (429, TransientDeliveryError),
            (503, TransientDeliveryError),
            (408, TransientDeliveryError),
            (400, PermanentDeliveryError),
            (410, PermanentDeliveryError),
        ],
    )
    async def test_status_codes(self, status, error):
        client, _ = _client(status, headers={"Retry-After": "7"})
        sender = WebhookSender(client=client, environ={"PANTAU_WEBHOOK_SECRET": "s"})
        with pytest.raises(error) as caught:
            await sender.send(_delivery(ChannelKind.WEBHOOK, "http://h/x"))
        if status == 429:
            assert caught.value.retry_after == 7

    async def test_missing_secret_is_permanent(self):
        client, seen = _client(204)
        with pytest.raises(PermanentDeliveryError, match="NOPE"):
            await WebhookSender(client=client, environ={}).send(
                _delivery(ChannelKind.WEBHOOK, "http://h/x", "NOPE")
            )
        assert seen == []

    async def test_unreachable_is_transient(self):
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
        with pytest.raises(TransientDeliveryError):
            await WebhookSender(client=client, environ={"PANTAU_WEBHOOK_SECRET": "s"}).send(
                _delivery(ChannelKind.WEBHOOK, "http://h/x")
            )


class TestTelegram:
    async def test_flood_control_carries_retry_after(self):
        client, _ = _client(
            429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 12}}
        )
        sender = TelegramSender(client=client, base_url="http://tg", token="1:a")
        with pytest.raises(TransientDeliveryError) as caught:
            await sender.send(_delivery(ChannelKind.TELEGRAM, "-100"))
        assert caught.value.retry_after == 12

    async def test_a_blocked_bot_is_permanent_and_the_token_stays_out_of_errors(self):
        client, seen = _client(403, {"ok": False, "description": "bot was blocked"})
        sender = TelegramSender(client=client, base_url="http://tg/", token="1:secret")
        with pytest.raises(PermanentDeliveryError) as caught:
            await sender.send(_delivery(ChannelKind.TELEGRAM, "-100"))
        assert "1:secret" not in str(caught.value)
        assert str(seen[0].url) == "http://tg/bot1:secret/sendMessage"

    async def test_success_returns_the_message_id(self):
        client, _ = _client(200, {"ok": True, "result": {"message_id": 99}})
        sender = TelegramSender(client=client, base_url="http://tg", token="1:a")
        assert await sender.send(_delivery(ChannelKind.TELEGRAM, "-100")) == "99"
