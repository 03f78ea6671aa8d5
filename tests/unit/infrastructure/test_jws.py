"""The direct compact-JWS check agrees with PyJWT's encoder for every algorithm it accepts, and
refuses what PyJWT would refuse."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from auth_service.application.errors import InvalidTokenError
from auth_service.infrastructure.security import jws

RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEYS: dict[str, Any] = {
    "RS256": RSA, "RS384": RSA, "RS512": RSA, "PS256": RSA, "PS512": RSA,
    "ES256": ec.generate_private_key(ec.SECP256R1()), "ES384": ec.generate_private_key(ec.SECP384R1()),
    "ES512": ec.generate_private_key(ec.SECP521R1()), "EdDSA": ed25519.Ed25519PrivateKey.generate(),
}
CLAIMS = {"sub": "USR-aaaaaaaaaaaaaaaa", "exp": 2_000_000_000}


def check(token: str, alg: str, key: Any) -> dict[str, Any]:
    header, _, payload, signature = jws.split(token)
    assert header["alg"] == alg
    jws.verify_signature(alg, key, token, signature)
    return jws.json_object(payload)


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_tokens_pyjwt_signs_verify_to_their_claims(alg: str) -> None:
    token = jwt.encode(CLAIMS, KEYS[alg], algorithm=alg)

    assert check(token, alg, KEYS[alg].public_key()) == CLAIMS


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_another_key_or_another_algorithm_family_is_refused(alg: str) -> None:
    token = jwt.encode(CLAIMS, KEYS[alg], algorithm=alg)
    other = {"EdDSA": "ES256", "ES256": "ES384"}.get(alg, "EdDSA")

    with pytest.raises(InvalidTokenError):
        check(token, alg, KEYS[other].public_key())


def test_a_signature_spelled_with_its_unused_low_bits_set_is_refused() -> None:
    token = jwt.encode(CLAIMS, RSA, algorithm="RS256")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]  # same bytes, other text

    with pytest.raises(InvalidTokenError):
        check(respelled, "RS256", RSA.public_key())


@pytest.mark.parametrize("segment", ["W10", "bnVsbA", "e30x", "!!!"])  # [], null, bad JSON, not base64
def test_a_header_that_is_not_a_json_object_is_refused(segment: str) -> None:
    token = jwt.encode(CLAIMS, RSA, algorithm="RS256")

    with pytest.raises(InvalidTokenError):
        jws.split(segment + token[token.index("."):])
