"""HMAC signatures: acknowledgement links and outgoing webhooks."""

import hashlib
import hmac


def alert_id_for(*, subject_id: str, recipient_id: str, channel: str, kind: str) -> str:
    """The ledger key as one id: the same (subject, recipient, channel, kind) → same id."""
    digest = hashlib.sha256(f"{subject_id}\x1f{recipient_id}\x1f{channel}\x1f{kind}".encode())
    return f"alr_{digest.hexdigest()[:32]}"


def sign_ack(*, secret: str, alert_id: str) -> str:
    """The signature of an acknowledgement link: it proves the link came from us."""
    return hmac.new(secret.encode(), f"ack:{alert_id}".encode(), hashlib.sha256).hexdigest()


def verify_ack(*, secret: str, alert_id: str, signature: str) -> bool:
    return hmac.compare_digest(sign_ack(secret=secret, alert_id=alert_id), signature)


def sign_webhook(*, secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` over ``<timestamp>.<body>``: a receiver rejects stale timestamps,
    so a captured request cannot be replayed later."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_webhook(
    *, secret: str, timestamp: int, body: bytes, signature: str, now: int, tolerance: int = 300
) -> bool:
    """What a receiver checks: a fresh timestamp and a matching signature."""
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(
        sign_webhook(secret=secret, timestamp=timestamp, body=body), signature
    )
