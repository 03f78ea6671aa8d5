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


def _verify(token: str) -> dict[str, Any]:
    return jws.verified_claims(token, 8192, lambda header, kid: ("RS256", RSA.public_key()))[1]


@pytest.mark.parametrize("change", [
    lambda t: t.replace(".", "+.", 1),                    # "+" and "/" are base64, not base64url
    lambda t: t[: t.rindex(".")] + ".//" + t[t.rindex(".") + 3:],
    lambda t: t + "=",                                     # no padding in a JWS
    lambda t: t[: t.index(".") + 1] + t[t.index(".") + 1:].replace(".", ".."),  # four segments
    lambda t: t[: t.rindex(".")],                          # two segments
    lambda t: t[: t.rindex(".") + 1],                      # empty signature
    lambda t: t.replace("e", "é", 1),                      # not ASCII
])
def test_what_is_not_a_compact_jws_in_base64url_is_refused(change: Any) -> None:
    token = jwt.encode(CLAIMS, RSA, algorithm="RS256", headers={"kid": "k1"})
    assert _verify(token) == CLAIMS

    with pytest.raises(InvalidTokenError):
        _verify(change(token))


def test_a_header_seen_before_is_still_checked_against_the_key() -> None:
    token = jwt.encode(CLAIMS, RSA, algorithm="RS256", headers={"kid": "k1"})
    assert _verify(token) == CLAIMS  # its header is now remembered
    other = jwt.encode(CLAIMS, KEYS["ES256"], algorithm="ES256", headers={"kid": "k1"})

    with pytest.raises(InvalidTokenError):  # a remembered header does not skip the algorithm check
        _verify(other)
    another_rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(InvalidTokenError):  # nor the key's own check
        jws.verified_claims(token, 8192, lambda header, kid: ("RS256", another_rsa_key))
