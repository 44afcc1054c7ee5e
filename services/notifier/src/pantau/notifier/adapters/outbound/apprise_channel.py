"""The catch-all channel: any Apprise URL (WhatsApp and SMS gateways, Slack, ntfy, ...).

Tokens live in Apprise URLs, so a recipient's entry may name an environment variable
(``secret_env``) holding the URL instead of writing it in the routes file.
"""

import os
from collections.abc import Mapping

import apprise

from pantau.notifier.core.errors import PermanentDeliveryError, TransientDeliveryError
from pantau.notifier.core.models import ChannelKind, Delivery


class AppriseSender:
    """``ChannelSender`` over Apprise. Apprise reports success or failure but not why,
    so a failed notification counts as transient and follows the retry schedule."""

    channel = ChannelKind.APPRISE

    def __init__(self, *, environ: Mapping[str, str] = os.environ) -> None:
        self._environ = environ

    def _url(self, delivery: Delivery) -> str:
        if delivery.secret_env:
            url = self._environ.get(delivery.secret_env)
            if not url:
                raise PermanentDeliveryError(f"set {delivery.secret_env} to the Apprise URL")
            return url
        return delivery.target

    async def send(self, delivery: Delivery) -> str | None:
        notifier = apprise.Apprise()
        if not notifier.add(self._url(delivery)):
            raise PermanentDeliveryError("not a valid Apprise URL")
        result = await notifier.async_notify(
            body=delivery.message.text, title=delivery.message.subject
        )
        if not result:
            raise TransientDeliveryError("Apprise could not deliver the notification")
        return delivery.alert_id
