"""Keycloak access-token checks (SPEC §9.5), with a JWKS served by a counting fake."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from auth_service.application.errors import InvalidTokenError, TokenExpiredError, UnknownSigningKeyError
from auth_service.domain.ids import session_id_for
from auth_service.infrastructure.keycloak.tokens import KeycloakAccessTokens, parse_jwks
from tests.doubles import FixedClock

ISSUER = "http://kc.example/realms/myrealm"


class Realm:
    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        self.rotate()

    def rotate(self) -> str:
        kid = f"kid-{len(self.keys)}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.active = kid
        return kid

    async def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0)
        keys = []
        for kid, key in self.keys.items():
            jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        keys.append({"kid": "enc", "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"})
        return {"keys": keys}

    def token(self, clock: FixedClock, **changes: Any) -> str:
        now = int(clock.now().timestamp())
        claims = {"iss": ISSUER, "typ": "Bearer", "azp": "auth-client", "sub": "kc-1", "sid": "kc-session",
                  "user_id": "USR-aaaaaaaaaaaaaaaa", "roles": ["operator"], "company_id": "CMP-bbbbbbbbbbbbbbbb",
                  "email": "ada@example.com", "email_verified": True, "iat": now, "exp": now + 300, **changes}
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[self.active], algorithm="RS256", headers={"kid": self.active})


@pytest.fixture
def realm() -> Realm:
    return Realm()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def tokens(realm: Realm, clock: FixedClock) -> KeycloakAccessTokens:
    verifier = KeycloakAccessTokens(realm.jwks, ISSUER, frozenset({"auth-client"}), clock)
    assert await verifier.reload_keys()
    return verifier


async def test_a_keycloak_access_token_becomes_the_same_principal_the_local_mode_makes(
        tokens: KeycloakAccessTokens, realm: Realm, clock: FixedClock) -> None:
    principal = tokens.verify(realm.token(clock), now=clock.now())

    assert (principal.user_id, principal.subject, principal.role) == ("USR-aaaaaaaaaaaaaaaa", "kc-1", "operator")
    assert principal.session_id == session_id_for("kc-session")
    assert principal.company_id == "CMP-bbbbbbbbbbbbbbbb" and principal.email_verified is True


@pytest.mark.parametrize("change", [{"typ": "ID"}, {"typ": "Refresh"}, {"typ": None}, {"azp": "backend-admin"},
                                    {"iss": "http://evil.example/realms/myrealm"}, {"user_id": None},
                                    {"sid": None}, {"iat": "now"}])
async def test_tokens_that_are_not_bearer_tokens_of_the_auth_client_are_refused(
        tokens: KeycloakAccessTokens, realm: Realm, clock: FixedClock, change: dict[str, Any]) -> None:
    with pytest.raises(InvalidTokenError):
        tokens.verify(realm.token(clock, **change), now=clock.now())


async def test_expiry_is_checked_against_the_service_clock_even_for_a_cached_token(
        tokens: KeycloakAccessTokens, realm: Realm, clock: FixedClock) -> None:
    token = realm.token(clock)
    tokens.verify(token, now=clock.now())
    tokens.verify(token, now=clock.now())  # the second sight caches it
    clock.advance(301)

    with pytest.raises(TokenExpiredError):
        tokens.verify(token, now=clock.now())


async def test_a_token_signed_with_the_alg_none_or_hmac_trick_is_refused(
        tokens: KeycloakAccessTokens, realm: Realm, clock: FixedClock) -> None:
    claims = jwt.decode(realm.token(clock), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": realm.active})
    hmac = jwt.encode(claims, "a-shared-secret-of-thirty-two-bytes!", algorithm="HS256", headers={"kid": realm.active})

    for token in (unsigned, hmac, realm.token(clock)[:-4] + "AAAA"):
        with pytest.raises(InvalidTokenError):
            tokens.verify(token, now=clock.now())


async def test_an_unknown_kid_asks_for_a_reload_and_the_reload_is_rate_limited(
        tokens: KeycloakAccessTokens, realm: Realm, clock: FixedClock) -> None:
    realm.rotate()
    token = realm.token(clock)
    with pytest.raises(UnknownSigningKeyError):
        tokens.verify(token, now=clock.now())

    assert await tokens.reload_keys() is False  # within 10 s of the last fetch
    clock.advance(10)
    assert await tokens.reload_keys() is True
    assert tokens.verify(token, now=clock.now()).user_id == "USR-aaaaaaaaaaaaaaaa"
    assert realm.fetches == 2


async def test_concurrent_reloads_share_one_fetch(tokens: KeycloakAccessTokens, realm: Realm,
                                                 clock: FixedClock) -> None:
    clock.advance(10)

    results = await asyncio.gather(*(tokens.reload_keys() for _ in range(20)))

    assert realm.fetches == 2 and all(results)


async def test_keycloak_down_keeps_the_keys_already_known(realm: Realm, clock: FixedClock) -> None:
    async def down() -> dict[str, Any]:
        raise OSError("connection refused")

    verifier = KeycloakAccessTokens(down, ISSUER, frozenset({"auth-client"}), clock)
    assert await verifier.reload_keys() is False
    with pytest.raises(UnknownSigningKeyError):
        verifier.verify(realm.token(clock), now=clock.now())


def test_parse_jwks_keeps_only_signing_keys_of_known_types() -> None:
    assert parse_jwks({"keys": [{"kid": "x", "kty": "oct", "k": "c2VjcmV0", "alg": "HS256"},
                                {"kid": "y", "kty": "RSA", "use": "enc"}, "junk", {"kty": "RSA"}]}) == {}
    assert parse_jwks("not a document") == {}
