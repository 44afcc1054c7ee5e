"""Deterministic report ids: a retry of the same report gets the same id, with no storage."""

import hashlib
import uuid

# Fixed namespace for uuid5; changing it would change every report id.
REPORT_ID_NAMESPACE = uuid.UUID("6f1d2b8e-6c1e-5b5e-9f43-2f4f1f6a9c10")
_NAMESPACE_BYTES = REPORT_ID_NAMESPACE.bytes


def report_id_for(*, client_id: str, client_report_id: str) -> str:
    """``rpt_<32 hex>`` derived from who sent it and the id the client chose.

    The hex of ``uuid.uuid5(REPORT_ID_NAMESPACE, name)``, computed straight from the
    SHA-1 digest (RFC 4122 §4.3) without building ``UUID`` objects (hot path).
    """
    # The separator cannot occur in a token subject or a UUID, so distinct
    # (client, id) pairs never collide by concatenation.
    name = f"{client_id}\x1f{client_report_id.lower()}"
    sha1 = hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False)
    digest = bytearray(sha1.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return f"rpt_{digest.hex()}"
