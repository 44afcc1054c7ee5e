import pytest

from pantau.shared import regions
from pantau.shared.auth import InvalidToken, Principal, Role, issue_token, verify_token
from pantau.shared.identity import IdentityCipher, IdentityKeyError, generate_key

SECRET = "k" * 40


class TestIdentityCipher:
    def test_seal_and_open_round_trip_without_plaintext_in_the_sealed_form(self):
        cipher = IdentityCipher(f"k1:{generate_key()}")
        sealed = cipher.seal("Budi Santoso", report_id="r1", field="name")
        assert "Budi" not in sealed.model_dump_json()
        assert cipher.open(sealed, report_id="r1", field="name") == "Budi Santoso"

    def test_a_ciphertext_moved_to_another_report_fails(self):
        cipher = IdentityCipher(f"k1:{generate_key()}")
        sealed = cipher.seal("0812", report_id="r1", field="phone")
        with pytest.raises(IdentityKeyError):
            cipher.open(sealed, report_id="r2", field="phone")

    def test_rotation_old_key_still_opens_new_key_seals(self):
        old = IdentityCipher(f"old:{(k_old := generate_key())}")
        sealed_before = old.seal("x@y.id", report_id="r", field="email")
        rotated = IdentityCipher(f"new:{generate_key()},old:{k_old}")
        assert rotated.open(sealed_before, report_id="r", field="email") == "x@y.id"
        assert rotated.seal("a", report_id="r", field="email").kid == "new"

    def test_fields_sealed_together_open_one_by_one_each_with_its_own_nonce(self):
        cipher = IdentityCipher(f"k1:{generate_key()}")
        values = {"name": "Siti", "phone": "+6281234567890", "email": "s@x.id", "nik": "1" * 16}
        sealed = cipher.seal_fields(values, report_id="r1")
        assert list(sealed) == list(values)
        for field, value in values.items():
            assert cipher.open(sealed[field], report_id="r1", field=field) == value
            assert value not in sealed[field].model_dump_json()
        assert len({s.nonce for s in sealed.values()}) == len(values)
        assert {s.kid for s in sealed.values()} == {"k1"}
        # Each field's associated data is its own: a ciphertext moved to another field fails.
        with pytest.raises(IdentityKeyError):
            cipher.open(sealed["name"], report_id="r1", field="email")

    def test_a_field_sealed_before_seal_fields_existed_still_opens(self):
        # Sealed by the earlier per-field code (os.urandom(12) per field, same AAD).
        import base64
        import os

        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from pantau.shared.events.submitted import EncryptedField

        raw = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        ct = AESGCM(raw).encrypt(nonce, b"Budi", b"r9/name")

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        cipher = IdentityCipher(f"old:{b64(raw)}")
        sealed = EncryptedField(kid="old", nonce=b64(nonce), ciphertext=b64(ct))
        assert cipher.open(sealed, report_id="r9", field="name") == "Budi"

    @pytest.mark.parametrize("spec", ["", "nokey", "k1:c2hvcnQ"])
    def test_bad_key_configuration_is_refused(self, spec):
        with pytest.raises(IdentityKeyError):
            IdentityCipher(spec)


class TestTokens:
    def test_round_trip_keeps_role_region_institution(self):
        token = issue_token(
            secret=SECRET, issuer="pantau", role=Role.LIAISON, region="3201", institution="KPU"
        )
        who = verify_token(token, secret=SECRET, issuer="pantau")
        assert (who.role, who.region, who.institution) == (Role.LIAISON, "32.01", "KPU")

    def test_a_token_signed_with_another_secret_is_invalid(self):
        token = issue_token(secret="x" * 40, issuer="pantau", role=Role.ADMIN)
        with pytest.raises(InvalidToken):
            verify_token(token, secret=SECRET, issuer="pantau")

    def test_an_unsigned_token_is_invalid(self):
        import jwt

        forged = jwt.encode({"sub": "a", "role": "admin"}, key=None, algorithm="none")
        with pytest.raises(InvalidToken):
            verify_token(forged, secret=SECRET, issuer="pantau")

    def test_liaison_sees_only_its_subtree(self):
        liaison = Principal(subject="l", role=Role.LIAISON, region="32.01")
        assert liaison.can_see_region("32.01.01.1001")
        assert liaison.can_see_region("3201")
        assert not liaison.can_see_region("32.02.01")
        assert not liaison.can_see_region("32")
        assert Principal(subject="o", role=Role.OPERATOR).can_see_region("91.01")
        assert not Principal(subject="m", role=Role.LIAISON).can_see_region("32.01")


class TestRegions:
    @pytest.mark.parametrize(
        ("raw", "dotted"),
        [("32", "32"), ("3201", "32.01"), ("320101", "32.01.01"), ("3201011001", "32.01.01.1001")],
    )
    def test_undotted_codes_normalise(self, raw, dotted):
        assert regions.normalize(raw) == dotted

    @pytest.mark.parametrize("raw", ["3", "32.1", "32-01", "abc", "32010110011"])
    def test_malformed_codes_are_rejected(self, raw):
        with pytest.raises(regions.InvalidRegionCode):
            regions.normalize(raw)

    def test_validate_checks_existence(self):
        assert regions.validate("32.01") == "32.01"
        with pytest.raises(regions.InvalidRegionCode):
            regions.validate("99.99")

    def test_classified_key_is_the_regency_or_the_province(self):
        assert regions.regency_key("32.01.01.1001") == "32.01"
        assert regions.regency_key("32") == "32"
