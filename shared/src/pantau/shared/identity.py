"""Field-by-field encryption of reporter identity (AES-256-GCM, key ids for rotation).

Intake seals each field before publishing; only reporting opens it, and only for
roles granted it. The report id and field name are the associated data, so a
ciphertext cannot be moved to another report or field unnoticed.
"""

import base64
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pantau.shared.events.submitted import EncryptedField

IDENTITY_FIELDS = ("name", "phone", "email", "nik")
NONCE_BYTES = 12  # AES-GCM's 96-bit nonce


class IdentityKeyError(ValueError):
    """The key configuration is unusable, or a field cannot be opened with it."""


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key() -> str:
    """A fresh key in the `base64` form ``PANTAU_IDENTITY_KEYS`` expects."""
    return _b64e(AESGCM.generate_key(bit_length=256))


class IdentityCipher:
    """Seals with the first configured key; opens with any configured key."""

    def __init__(self, keys_spec: str) -> None:
        self._keys: dict[str, AESGCM] = {}
        self._active: str | None = None
        for item in filter(None, (part.strip() for part in keys_spec.split(","))):
            kid, sep, material = item.partition(":")
            if not sep or not kid:
                raise IdentityKeyError("identity keys must look like `kid:base64key,...`")
            raw = _b64d(material)
            if len(raw) != 32:
                raise IdentityKeyError(f"identity key {kid!r} must be 32 bytes, got {len(raw)}")
            self._keys[kid] = AESGCM(raw)
            self._active = self._active or kid
        if self._active is None:
            raise IdentityKeyError("no identity key configured (PANTAU_IDENTITY_KEYS)")

    def seal(self, plaintext: str, *, report_id: str, field: str) -> EncryptedField:
        return self.seal_fields({field: plaintext}, report_id=report_id)[field]

    def seal_fields(
        self, plaintexts: Mapping[str, str], *, report_id: str
    ) -> dict[str, EncryptedField]:
        """``seal`` for several fields of one report: each still gets its own random
        nonce and associated data (the same format, opened field by field), drawn from
        one ``os.urandom`` call."""
        return {
            field: EncryptedField(**parts)
            for field, parts in self.seal_field_dicts(plaintexts, report_id=report_id).items()
        }

    def seal_field_dicts(
        self, plaintexts: Mapping[str, str], *, report_id: str
    ) -> dict[str, dict[str, str]]:
        """``seal_fields`` as plain ``EncryptedField`` dicts (``kid``, ``nonce``,
        ``ciphertext``), for a producer that writes the event's JSON itself."""
        kid = self._active
        assert kid is not None
        key = self._keys[kid]
        randomness = os.urandom(NONCE_BYTES * len(plaintexts))
        sealed: dict[str, dict[str, str]] = {}
        for index, (field, plaintext) in enumerate(plaintexts.items()):
            nonce = randomness[index * NONCE_BYTES : (index + 1) * NONCE_BYTES]
            ct = key.encrypt(nonce, plaintext.encode(), f"{report_id}/{field}".encode())
            sealed[field] = {"kid": kid, "nonce": _b64e(nonce), "ciphertext": _b64e(ct)}
        return sealed

    def open(self, sealed: EncryptedField, *, report_id: str, field: str) -> str:
        key = self._keys.get(sealed.kid)
        if key is None:
            raise IdentityKeyError(f"identity key {sealed.kid!r} is not configured")
        aad = f"{report_id}/{field}".encode()
        try:
            return key.decrypt(_b64d(sealed.nonce), _b64d(sealed.ciphertext), aad).decode()
        except InvalidTag as exc:
            raise IdentityKeyError(f"identity field {field!r} failed authentication") from exc
