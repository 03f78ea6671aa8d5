"""AES-256-GCM encryption at rest, keyed from SECRET_KEY and its fallbacks (SPEC §3, §8)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
KEY_INFO = b"auth-service/at-rest/v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16


class AesGcmSecretBox:
    """Encrypts with the key derived from the current secret; decrypts with the current one or any
    fallback. A ciphertext is bound to its `purpose`: it never decrypts under another purpose.

    Format: `v1.<key-id>.<base64url(nonce + ciphertext + tag)>`, key-id = 8 hex chars of SHA-256
    of the derived key (it names the key without revealing it)."""

    def __init__(self, secret_key: str, fallbacks: Sequence[str] = ()) -> None:
        if not secret_key:
            raise ValueError("secret_key must not be empty")
        self._keys: dict[str, list[AESGCM]] = {}
        self._current_id = ""
        for index, secret in enumerate([secret_key, *fallbacks]):
            key = HKDF(SHA256(), length=32, salt=None, info=KEY_INFO).derive(secret.encode())
            key_id = hashlib.sha256(key).hexdigest()[:8]
            if index == 0:
                self._current_id, self._current = key_id, AESGCM(key)
            self._keys.setdefault(key_id, []).append(AESGCM(key))

    def encrypt(self, plaintext: bytes, *, purpose: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)  # random 96-bit nonces: safe far beyond our volumes
        sealed = self._current.encrypt(nonce, plaintext, _associated_data(purpose))
        payload = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{VERSION}.{self._current_id}.{payload}"

    def decrypt(self, ciphertext: str, *, purpose: str) -> bytes:
        version, key_id, payload = _split(ciphertext)
        if version != VERSION or key_id not in self._keys:
            raise ValueError("cannot decrypt")
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("cannot decrypt") from None
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise ValueError("cannot decrypt")
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        # Key ids are 32 bits: two secrets could share one, so try every key that has it.
        for aead in self._keys[key_id]:
            try:
                return aead.decrypt(nonce, sealed, _associated_data(purpose))
            except InvalidTag:
                continue
        raise ValueError("cannot decrypt")

    def is_current(self, ciphertext: str) -> bool:
        """Whether the current secret encrypted it (reads the header only; does not authenticate)."""
        version, key_id, _ = _split(ciphertext)
        return version == VERSION and key_id == self._current_id


def _associated_data(purpose: str) -> bytes:
    return f"{VERSION}\x00{purpose}".encode()


def _split(ciphertext: str) -> tuple[str, str, str]:
    parts = ciphertext.split(".")
    if len(parts) != 3:
        return "", "", ""
    return parts[0], parts[1], parts[2]
