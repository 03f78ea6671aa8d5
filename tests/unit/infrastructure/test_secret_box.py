from __future__ import annotations

import base64

import pytest

from auth_service.infrastructure.security.secret_box import AesGcmSecretBox

OLD_SECRET = "an-old-secret-key-that-was-rotated-out-0123"
SECRET = "the-current-secret-key-of-at-least-32-chars"


def test_what_is_encrypted_decrypts_to_the_same_bytes() -> None:
    box = AesGcmSecretBox(SECRET, [])

    ciphertext = box.encrypt(b"-----BEGIN PRIVATE KEY-----", purpose="signing_key")

    assert box.decrypt(ciphertext, purpose="signing_key") == b"-----BEGIN PRIVATE KEY-----"


def test_the_ciphertext_names_its_version_and_key_and_hides_the_plaintext() -> None:
    box = AesGcmSecretBox(SECRET, [])

    ciphertext = box.encrypt(b"JBSWY3DPEHPK3PXP", purpose="totp")

    version, key_id, payload = ciphertext.split(".")
    assert version == "v1"
    assert len(key_id) == 8 and int(key_id, 16) >= 0
    assert b"JBSWY3DPEHPK3PXP" not in base64.urlsafe_b64decode(payload + "==")
    assert SECRET not in ciphertext


def test_the_same_plaintext_encrypts_differently_each_time() -> None:
    box = AesGcmSecretBox(SECRET, [])

    assert box.encrypt(b"same", purpose="totp") != box.encrypt(b"same", purpose="totp")


def test_a_ciphertext_does_not_decrypt_under_another_purpose() -> None:
    box = AesGcmSecretBox(SECRET, [])
    ciphertext = box.encrypt(b"successor refresh token", purpose="refresh_successor")

    with pytest.raises(ValueError, match="cannot decrypt"):
        box.decrypt(ciphertext, purpose="outbox")


@pytest.mark.parametrize("position", [-1, -10, 12])
def test_a_tampered_ciphertext_does_not_decrypt(position: int) -> None:
    box = AesGcmSecretBox(SECRET, [])
    ciphertext = box.encrypt(b"JBSWY3DPEHPK3PXP", purpose="totp")
    prefix, payload = ciphertext.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[position] ^= 0x01
    tampered = f"{prefix}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"

    with pytest.raises(ValueError, match="cannot decrypt"):
        box.decrypt(tampered, purpose="totp")


@pytest.mark.parametrize("garbage", ["", "v1", "v1.{kid}.", "v1.{kid}.!!!", "v1.{kid}.A", "v1.{kid}.AAAA",
                                     "v2.{kid}.AAAA", "v1.abcdef01.AAAA", "a.b.c.d"])
def test_garbage_does_not_decrypt(garbage: str) -> None:
    box = AesGcmSecretBox(SECRET, [])
    garbage = garbage.format(kid=box.encrypt(b"", purpose="totp").split(".")[1])

    with pytest.raises(ValueError, match="cannot decrypt"):
        box.decrypt(garbage, purpose="totp")


def test_a_different_secret_cannot_decrypt() -> None:
    ciphertext = AesGcmSecretBox(OLD_SECRET, []).encrypt(b"secret", purpose="totp")

    with pytest.raises(ValueError, match="cannot decrypt"):
        AesGcmSecretBox(SECRET, []).decrypt(ciphertext, purpose="totp")


def test_a_fallback_secret_still_decrypts_but_is_not_current() -> None:
    ciphertext = AesGcmSecretBox(OLD_SECRET, []).encrypt(b"secret", purpose="totp")
    rotated = AesGcmSecretBox(SECRET, [OLD_SECRET])

    plaintext = rotated.decrypt(ciphertext, purpose="totp")

    assert plaintext == b"secret"
    assert rotated.is_current(ciphertext) is False
    reencrypted = rotated.encrypt(plaintext, purpose="totp")
    assert rotated.is_current(reencrypted) is True
    assert AesGcmSecretBox(SECRET, []).decrypt(reencrypted, purpose="totp") == b"secret"


def test_the_key_id_is_stable_across_instances() -> None:
    first = AesGcmSecretBox(SECRET, []).encrypt(b"x", purpose="totp")

    assert AesGcmSecretBox(SECRET, [OLD_SECRET]).is_current(first) is True


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        AesGcmSecretBox("", [])
