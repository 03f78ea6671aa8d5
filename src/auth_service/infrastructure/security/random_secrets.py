"""Opaque random tokens and codes, and the keyed hashes under which they are stored (SPEC §3)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DIGEST_KEY_INFO = b"auth-service/digest/v1"
MIN_TOKEN_BYTES = 16  # SPEC §3: opaque tokens carry at least 128 bits
CODE_DIGITS = 6


class RandomSecrets:
    """Tokens from the OS CSPRNG (256 bits by default) and 6-digit codes; `digest` is an HMAC keyed
    from SECRET_KEY and bound to a purpose, so a stolen database alone cannot brute-force codes or
    e-mails, and a token of one purpose never matches another's hash."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("secret_key must not be empty")
        self._key = HKDF(SHA256(), length=32, salt=None, info=DIGEST_KEY_INFO).derive(secret_key.encode())

    def new_token(self, nbytes: int = 32) -> str:
        if nbytes < MIN_TOKEN_BYTES:
            raise ValueError(f"tokens need at least {MIN_TOKEN_BYTES} random bytes")
        return secrets.token_urlsafe(nbytes)

    def new_code(self) -> str:
        return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"

    def digest(self, value: str, *, purpose: str) -> str:
        if "\x00" in purpose:
            # The separator must stay unambiguous: ("a", "\x00b") and ("a\x00", "b") must differ.
            raise ValueError("purpose must not contain NUL")
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
