"""Email over SMTP (aiosmtplib), mapping SMTP replies to transient or permanent errors."""

import email.utils
from email.message import EmailMessage

import aiosmtplib

from pantau.notifier.core.errors import PermanentDeliveryError, TransientDeliveryError
from pantau.notifier.core.models import ChannelKind, Delivery


class SmtpSender:
    """``ChannelSender`` for email; one connection per message keeps failure handling simple."""

    channel = ChannelKind.EMAIL

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self._host, self._port = host, port
        self._sender = sender
        self._username, self._password = username, password
        self._starttls = starttls
        self._timeout = timeout

    def build(self, delivery: Delivery) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self._sender
        msg["To"] = delivery.target
        msg["Subject"] = delivery.message.subject
        msg["Date"] = email.utils.formatdate(localtime=False)
        # Derived from the alert id: a resend after a crash carries the same Message-ID,
        # so a mail client can fold the duplicate.
        msg["Message-ID"] = f"<{delivery.alert_id}@pantau.notifier>"
        msg["X-Pantau-Alert-Id"] = delivery.alert_id
        msg["X-Pantau-Reports"] = ",".join(delivery.report_ids[:20])
        msg.set_content(delivery.message.text)
        return msg

    async def send(self, delivery: Delivery) -> str | None:
        msg = self.build(delivery)
        try:
            await aiosmtplib.send(
                msg,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._starttls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [err.code for err in exc.recipients]
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused: {exc}") from exc
            raise TransientDeliveryError(f"recipient deferred: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise TransientDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
            raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection refused, disconnects and timeouts: the server may come back.
            raise TransientDeliveryError(f"SMTP unavailable: {exc!r}") from exc
        return str(msg["Message-ID"])
