"""Compact JWS checked straight with `cryptography`: a bearer check runs this for every token it
has not seen, and PyJWT's generic decoding costs about three times the signature itself.

Only what an access token needs: the algorithm always comes from our key, never from the token;
segments must be canonical base64url (a token has exactly one spelling); header and claims must be
JSON objects. Raises InvalidTokenError for anything else.

What is left besides the signature is kept small (a new token is the bearer check's slow case):
the strict base64 decoder is what checks the alphabet, a header seen before is not decoded again,
and each key's verify call (padding, digest) is built once."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from auth_service.application.errors import InvalidTokenError

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# base64url to base64 for the strict decoder; "+", "/" and "=" are not base64url, so they become a
# character it refuses.
_TO_BASE64 = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")  # by length % 4; a length of 1 more than a multiple of 4 is refused
_MEMO_SIZE = 64  # parsed headers and key checks kept; a flood of new ones only empties the memo

Check = Callable[[bytes, bytes], None]
_headers: dict[str, dict[str, Any]] = {}
_checks: dict[tuple[str, int], tuple[Any, Check]] = {}


def b64url(segment: str) -> bytes:
    """The bytes of an unpadded base64url segment; raises InvalidTokenError for anything else."""
    try:
        data = segment.encode("ascii").translate(_TO_BASE64)
        return binascii.a2b_base64(data + _PADDING[len(data) % 4], strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidTokenError() from None


def json_object(segment: str) -> dict[str, Any]:
    # orjson shares the strings of short keys between documents (its key cache): the claims of the
    # thousands of cached tokens do not each hold a copy of the dozen claim names.
    try:
        value = orjson.loads(b64url(segment))
    except orjson.JSONDecodeError:
        raise InvalidTokenError() from None
    if not isinstance(value, dict):
        raise InvalidTokenError()
    return value


def _header(segment: str) -> dict[str, Any]:
    """The parsed header segment; the same few headers come on every token, so they are kept
    (read-only: callers share the dict)."""
    parsed = _headers.get(segment)
    if parsed is None:
        parsed = json_object(segment)
        if len(_headers) >= _MEMO_SIZE:
            _headers.clear()
        _headers[segment] = parsed
    return parsed


def split(token: str) -> tuple[dict[str, Any], str, str, str]:
    """The parsed header and the three segments of a compact JWS."""
    segments = token.split(".")
    if len(segments) != 3 or not all(segments):
        raise InvalidTokenError()  # JWE, JSON serialisation, unsigned: three non-empty segments only
    header_segment, payload_segment, signature_segment = segments
    return _header(header_segment), header_segment, payload_segment, signature_segment


def verify_signature(alg: str, key: Any, token: str, signature_segment: str) -> None:
    """Check the signature of `token` (its first two segments) with `key`, under `alg`."""
    signature = b64url(signature_segment)
    # Canonical only: unused low bits in the last character would give one token many spellings.
    rest = len(signature_segment) % 4
    if rest and _B64URL.index(signature_segment[-1]) & (0x0F if rest == 2 else 0x03):
        raise InvalidTokenError()
    signing_input = token[: len(token) - len(signature_segment) - 1].encode()
    memo = _checks.get((alg, id(key)))
    if memo is None or memo[0] is not key:  # an id is only unique while its object lives
        if len(_checks) >= _MEMO_SIZE:
            _checks.clear()
        memo = _checks[(alg, id(key))] = (key, _check_for(alg, key))
    try:
        memo[1](signature, signing_input)
    except (InvalidSignature, ValueError):
        raise InvalidTokenError() from None


def _check_for(alg: str, key: Any) -> Check:
    """`check(signature, signing_input)` under `alg` with `key`, raising InvalidSignature."""
    if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return key.verify
    digest = _HASHES.get(alg[2:])
    if digest is None:
        return _refuse
    if alg[:2] in ("RS", "PS") and isinstance(key, rsa.RSAPublicKey):
        algorithm = digest()
        scheme = padding.PKCS1v15() if alg[0] == "R" else padding.PSS(
            mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
        return lambda signature, data: key.verify(signature, data, scheme, algorithm)
    if alg[:2] == "ES" and isinstance(key, ec.EllipticCurvePublicKey):
        size = (key.curve.key_size + 7) // 8
        ecdsa = ec.ECDSA(digest())

        def check(signature: bytes, data: bytes) -> None:
            if len(signature) != 2 * size:
                raise InvalidSignature()
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), data, ecdsa)

        return check
    return _refuse


def _refuse(_signature: bytes, _data: bytes) -> None:
    raise InvalidSignature()


def verified_claims(token: str, max_length: int,
                    key_for: Callable[[dict[str, Any], str], tuple[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The key id and claims of `token`, once its signature is checked with `key_for(header, kid)`,
    which answers (algorithm, key) or raises. What both bearer verifiers share: the shape, no
    critical extension (RFC 7515 §4.1.11: we understand none), and the algorithm of the key, never
    the token's choice (this defeats `alg: none` and HS256 signed with a public key as the secret)."""
    if len(token) > max_length:
        raise InvalidTokenError()
    parsed, _, payload_segment, signature_segment = split(token)
    kid = parsed.get("kid")
    if "crit" in parsed or not isinstance(kid, str):
        raise InvalidTokenError()
    alg, key = key_for(parsed, kid)
    if parsed.get("alg") != alg:
        raise InvalidTokenError()
    verify_signature(alg, key, token, signature_segment)
    return kid, json_object(payload_segment)
