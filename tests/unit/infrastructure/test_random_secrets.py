from __future__ import annotations

import hashlib
import re

import pytest

from auth_service.infrastructure.security.random_secrets import RandomSecrets

SECRET = "the-current-secret-key-of-at-least-32-chars"


@pytest.fixture
def secrets_() -> RandomSecrets:
    return RandomSecrets(SECRET)


def test_a_default_token_carries_256_bits_in_url_safe_characters(secrets_: RandomSecrets) -> None:
    token = secrets_.new_token()

    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 bytes -> 43 base64url characters


def test_tokens_do_not_repeat(secrets_: RandomSecrets) -> None:
    assert len({secrets_.new_token() for _ in range(1000)}) == 1000


def test_a_token_shorter_than_128_bits_is_refused(secrets_: RandomSecrets) -> None:
    with pytest.raises(ValueError):
        secrets_.new_token(8)


def test_codes_are_six_digits_including_leading_zeros(secrets_: RandomSecrets) -> None:
    codes = [secrets_.new_code() for _ in range(3000)]

    assert all(re.fullmatch(r"\d{6}", code) for code in codes)
    assert any(code.startswith("0") for code in codes)  # ~1 - 0.9**3000: zero-padded, not dropped
    assert len(set(codes)) > 2500


def test_a_digest_is_stable_64_hex_characters(secrets_: RandomSecrets) -> None:
    first = secrets_.digest("some-token", purpose="reset")

    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert RandomSecrets(SECRET).digest("some-token", purpose="reset") == first


def test_the_same_value_digests_differently_per_purpose(secrets_: RandomSecrets) -> None:
    reset = secrets_.digest("some-token", purpose="reset")

    assert reset != secrets_.digest("some-token", purpose="invitation")


def test_a_purpose_containing_the_separator_is_refused(secrets_: RandomSecrets) -> None:
    # Otherwise ("reset", "\x00x") and ("reset\x00", "x") would hash the same message.
    with pytest.raises(ValueError):
        secrets_.digest("x", purpose="reset\x00")


def test_a_digest_depends_on_the_secret_key(secrets_: RandomSecrets) -> None:
    other = RandomSecrets("another-secret-key-of-at-least-32-chars!")

    assert other.digest("123456", purpose="verification_code") != secrets_.digest(
        "123456", purpose="verification_code"
    )


def test_a_digest_is_not_a_plain_hash_of_the_value(secrets_: RandomSecrets) -> None:
    digest = secrets_.digest("123456", purpose="verification_code")

    assert digest != hashlib.sha256(b"123456").hexdigest()
    assert digest != hashlib.sha256(b"verification_code\x00123456").hexdigest()
