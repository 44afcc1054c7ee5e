"""Delivery errors: transient ones are retried, permanent ones are not."""


class DeliveryError(Exception):
    """A channel could not deliver a message."""


class TransientDeliveryError(DeliveryError):
    """Try again later (server down, 4xx SMTP reply, HTTP 429/5xx, timeouts)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (5xx SMTP reply, HTTP 4xx, an invalid address or token)."""


class RoutesError(ValueError):
    """The recipients directory or routes file is invalid."""
