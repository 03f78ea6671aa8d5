"""Compact JWS checked straight with `cryptography`: a bearer check runs this for every token it
has not seen, and PyJWT's generic decoding costs about three times the signature itself.

Only what an access token needs: the algorithm always comes from our key, never from the token;
segments must be canonical base64url (a token has exactly one spelling); header and claims must be
JSON objects. Raises InvalidTokenError for anything else."""

from __future__ import annotations

import binascii
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from auth_service.application.errors import InvalidTokenError

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
# Exactly three non-empty base64url segments: rejects JWE, JSON serialisation and unsigned tokens early.
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


def b64url(segment: str) -> bytes:
    try:
        return urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError() from None


def json_object(segment: str) -> dict[str, Any]:
    try:
        value = orjson.loads(b64url(segment))
    except orjson.JSONDecodeError:
        raise InvalidTokenError() from None
    if not isinstance(value, dict):
        raise InvalidTokenError()
    return value


def split(token: str) -> tuple[dict[str, Any], str, str, str]:
    """The parsed header and the three segments of a compact JWS (already checked for its shape)."""
    header_segment, payload_segment, signature_segment = token.split(".")
    return json_object(header_segment), header_segment, payload_segment, signature_segment


def verify_signature(alg: str, key: Any, token: str, signature_segment: str) -> None:
    """Check the signature of `token` (its first two segments) with `key`, under `alg`."""
    signature = b64url(signature_segment)
    # Canonical only: unused low bits of the last character would give one token many spellings.
    if urlsafe_b64encode(signature).rstrip(b"=").decode() != signature_segment:
        raise InvalidTokenError()
    signing_input = token[: len(token) - len(signature_segment) - 1].encode()
    try:
        if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, signing_input)
        elif alg[:2] in ("RS", "PS") and isinstance(key, rsa.RSAPublicKey):
            digest = _HASHES[alg[2:]]()
            scheme = padding.PKCS1v15() if alg[0] == "R" else padding.PSS(
                mgf=padding.MGF1(digest), salt_length=padding.PSS.DIGEST_LENGTH)
            key.verify(signature, signing_input, scheme, digest)
        elif alg[:2] == "ES" and isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                raise InvalidTokenError()
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(_HASHES[alg[2:]]()))
        else:
            raise InvalidTokenError()
    except (InvalidSignature, KeyError, ValueError):
        raise InvalidTokenError() from None


def verified_claims(token: str, max_length: int,
                    key_for: Callable[[dict[str, Any], str], tuple[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The key id and claims of `token`, once its signature is checked with `key_for(header, kid)`,
    which answers (algorithm, key) or raises. What both bearer verifiers share: the shape, no
    critical extension (RFC 7515 §4.1.11: we understand none), and the algorithm of the key, never
    the token's choice (this defeats `alg: none` and HS256 signed with a public key as the secret)."""
    if len(token) > max_length or not COMPACT_JWS.fullmatch(token):
        raise InvalidTokenError()
    header, _, payload_segment, signature_segment = split(token)
    kid = header.get("kid")
    if "crit" in header or not isinstance(kid, str):
        raise InvalidTokenError()
    alg, key = key_for(header, kid)
    if header.get("alg") != alg:
        raise InvalidTokenError()
    verify_signature(alg, key, token, signature_segment)
    return kid, json_object(payload_segment)
