"""Field-by-field encryption of reporter identity (AES-256-GCM, key ids for rotation).

Intake seals each field before publishing; only reporting opens it, and only for
roles granted it. The report id and field name are the associated data, so a
ciphertext cannot be moved to another report or field unnoticed.
"""

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pantau.shared.events.submitted import EncryptedField

IDENTITY_FIELDS = ("name", "phone", "email", "nik")


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
        assert self._active is not None
        nonce = os.urandom(12)
        aad = f"{report_id}/{field}".encode()
        ct = self._keys[self._active].encrypt(nonce, plaintext.encode(), aad)
        return EncryptedField(kid=self._active, nonce=_b64e(nonce), ciphertext=_b64e(ct))

    def open(self, sealed: EncryptedField, *, report_id: str, field: str) -> str:
        key = self._keys.get(sealed.kid)
        if key is None:
            raise IdentityKeyError(f"identity key {sealed.kid!r} is not configured")
        aad = f"{report_id}/{field}".encode()
        try:
            return key.decrypt(_b64d(sealed.nonce), _b64d(sealed.ciphertext), aad).decode()
        except InvalidTag as exc:
            raise IdentityKeyError(f"identity field {field!r} failed authentication") from exc
