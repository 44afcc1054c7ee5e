"""SMTP replies map to transient (4xx, no server) or permanent (5xx), on a real server."""

import pytest
from aiosmtpd.controller import Controller

from pantau.localstack.testing import free_port
from pantau.notifier.adapters.outbound.smtp import SmtpSender
from pantau.notifier.core.errors import PermanentDeliveryError, TransientDeliveryError
from pantau.notifier.core.models import ChannelKind, Delivery, RenderedMessage
from pantau.shared.events import AlertKind, Category, Severity

pytestmark = pytest.mark.integration


class _Replying:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_DATA(self, server, session, envelope) -> str:
        return self.reply


def _delivery() -> Delivery:
    return Delivery(
        alert_id="alr_" + "1" * 32,
        subject_id="rpt_1",
        report_ids=("rpt_1",),
        recipient_id="r",
        channel=ChannelKind.EMAIL,
        target="kpu@example.id",
        kind=AlertKind.INITIAL,
        region_code="32.01",
        regency="32.01",
        category=Category.LOGISTIK,
        severity=Severity.LOW,
        message=RenderedMessage(subject="Subjek", text="Isi pesan"),
    )


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("451 Requested action aborted: local error", TransientDeliveryError),
        ("554 Transaction failed", PermanentDeliveryError),
    ],
)
async def test_smtp_replies(reply, error):
    controller = Controller(_Replying(reply), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sender = SmtpSender(host="127.0.0.1", port=controller.port, sender="p@pantau.local")
        with pytest.raises(error, match=reply[:3]):
            await sender.send(_delivery())
    finally:
        controller.stop()


async def test_no_server_is_transient():
    sender = SmtpSender(host="127.0.0.1", port=free_port(), sender="p@pantau.local", timeout=2)
    with pytest.raises(TransientDeliveryError):
        await sender.send(_delivery())


async def test_accepted_mail_carries_a_stable_message_id(smtp_sink):
    sender = SmtpSender(host=smtp_sink.host, port=smtp_sink.port, sender="p@pantau.local")
    message_id = await sender.send(_delivery())
    assert message_id == f"<{'alr_' + '1' * 32}@pantau.notifier>"
    assert any(m["Message-ID"] == message_id for m in smtp_sink.messages())
