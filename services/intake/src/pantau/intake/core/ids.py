"""Deterministic report ids: a retry of the same report gets the same id, with no storage."""

import hashlib
import os
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


class RandomUuids:
    """Random (version 4) UUIDs as text, from ``os.urandom`` like ``uuid.uuid4`` but
    drawn 256 at a time: one ``getrandom`` call and no ``UUID`` object per event (hot
    path). The pool is dropped in a forked child, which must not repeat the parent's."""

    def __init__(self, *, batch: int = 256) -> None:
        self._size = 16 * batch
        self._pool = b""
        self._next = 0
        os.register_at_fork(after_in_child=self._drop)

    def _drop(self) -> None:
        self._pool, self._next = b"", 0

    def __call__(self) -> str:
        if self._next >= len(self._pool):
            self._pool, self._next = os.urandom(self._size), 0
        raw = bytearray(self._pool[self._next : self._next + 16])
        self._next += 16
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


random_uuid = RandomUuids()
