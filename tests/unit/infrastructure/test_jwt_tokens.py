from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms

from auth_service.application.errors import InvalidTokenError, TokenExpiredError
from auth_service.application.ports import StoredSigningKey
from auth_service.domain.sessions import Session
from auth_service.domain.users import Role, User
from auth_service.infrastructure.security.jwt_tokens import JwtAccessTokens
from auth_service.infrastructure.security.keys import KeyStore, PrivateKey, generate_signing_key

if TYPE_CHECKING:
    from conftest import FakeKeysUnitOfWork, FakeKeyTable, FakeSecretBox, FixedClock

    UowFactory = Callable[[], FakeKeysUnitOfWork]

ISSUER = "https://auth.example.com"
AUDIENCE = "auth-service"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def _sign(header: dict[str, Any], claims: dict[str, Any], private_key: PrivateKey, alg: str) -> str:
    """A compact JWS with exactly this header: PyJWT's encode would add or fix members."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = get_default_algorithms()[alg].sign(signing_input.encode(), private_key)
    return f"{signing_input}.{_b64(signature)}"


def _user(now: datetime) -> User:
    return User(id="USR-aaaaaaaaaaaaaaaa", email="ada@example.com", username="ada@example.com",
                password_hash=None, role=Role.OPERATOR, status="active",  # type: ignore[arg-type]
                source="web", created_at=now, updated_at=now, is_verified=True,  # type: ignore[arg-type]
                company_id="CMP-bbbbbbbbbbbbbbbb", network_id="net-1", station_id="")


def _session(now: datetime) -> Session:
    return Session.start("USR-aaaaaaaaaaaaaaaa", now=now, max_lifetime=timedelta(days=30), ip=None,
                         user_agent=None)


@pytest.fixture
def make_tokens(key_store: KeyStore, key_table: FakeKeyTable, uow_factory: UowFactory, clock: FixedClock,
                stored_keys: dict[str, StoredSigningKey]) -> Callable[..., Awaitable[JwtAccessTokens]]:
    """Access tokens over a key store holding one active key of `alg` (what ensure_key would create)."""

    async def make(alg: str = "RS256", cache_size: int = 10000) -> JwtAccessTokens:
        key = copy.deepcopy(stored_keys[alg])
        key_table.rows[key.kid] = key
        await key_store.load(uow_factory, clock)
        return JwtAccessTokens(key_store, ISSUER, AUDIENCE, cache_size)

    return make


@pytest.fixture
async def tokens(make_tokens: Callable[..., Awaitable[JwtAccessTokens]]) -> JwtAccessTokens:
    return await make_tokens()


@functools.cache
def _impostor() -> tuple[str, PrivateKey]:
    """A key the key store never saw, and its kid."""
    impostor = generate_signing_key("RS256", _NoBox(), datetime.now(UTC))
    private_key = serialization.load_pem_private_key(impostor.private_key_enc.encode(), password=None)
    return impostor.kid, private_key  # type: ignore[return-value]


def _issue(tokens: JwtAccessTokens, clock: FixedClock, ttl: int = 900) -> str:
    now = clock.now()
    return tokens.issue(_user(now), _session(now), now=now, expires_at=now + timedelta(seconds=ttl))


def _valid_parts(key_store: KeyStore, clock: FixedClock) -> tuple[dict[str, Any], dict[str, Any], PrivateKey]:
    key = key_store.ring.signing_key
    assert key is not None
    iat = int(clock.now().timestamp())
    header = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
    claims = {"iss": ISSUER, "sub": "USR-aaaaaaaaaaaaaaaa", "aud": AUDIENCE, "exp": iat + 900, "iat": iat,
              "nbf": iat, "jti": "j1", "sid": "SES-cccccccccccccccc", "user_id": "USR-aaaaaaaaaaaaaaaa"}
    return header, claims, key.private_key


# -- issue and verify -----------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_a_token_issued_with_each_algorithm_verifies(
    alg: str, make_tokens: Callable[..., Awaitable[JwtAccessTokens]], key_store: KeyStore, clock: FixedClock,
) -> None:
    tokens = await make_tokens(alg)
    now = clock.now()
    session = _session(now)

    token = tokens.issue(_user(now), session, now=now, expires_at=now + timedelta(seconds=900))
    principal = tokens.verify(token, now=now + timedelta(seconds=10))

    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "kid": key_store.ring.signing_key.kid, "typ": "at+jwt"}  # type: ignore[union-attr]
    assert (principal.user_id, principal.subject, principal.session_id) == (
        "USR-aaaaaaaaaaaaaaaa", "USR-aaaaaaaaaaaaaaaa", session.id)
    assert (principal.email, principal.email_verified) == ("ada@example.com", True)
    assert principal.role == "operator"
    assert (principal.company_id, principal.network_id, principal.station_id) == (
        "CMP-bbbbbbbbbbbbbbbb", "net-1", "")
    assert principal.expires_at == now + timedelta(seconds=900)


async def test_the_claims_are_those_of_the_spec(tokens: JwtAccessTokens, clock: FixedClock) -> None:
    token = _issue(tokens, clock)

    claims = tokens.verify(token, now=clock.now()).claims

    iat = int(clock.now().timestamp())
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "user_id", "email",
                           "email_verified", "roles", "company_id", "network_id", "station_id"}
    assert (claims["iss"], claims["aud"], claims["iat"], claims["nbf"], claims["exp"]) == (
        ISSUER, AUDIENCE, iat, iat, iat + 900)
    assert claims["roles"] == ["operator"]
    assert claims["jti"] != tokens.verify(_issue(tokens, clock), now=clock.now()).claims["jti"]


async def test_issuing_without_a_signing_key_fails_loudly(key_store: KeyStore, clock: FixedClock) -> None:
    tokens = JwtAccessTokens(key_store, ISSUER, AUDIENCE)

    with pytest.raises(RuntimeError):
        _issue(tokens, clock)


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
async def test_the_rfc_9068_media_types_are_accepted(
    typ: str, tokens: JwtAccessTokens, key_store: KeyStore, clock: FixedClock
) -> None:
    header, claims, key = _valid_parts(key_store, clock)

    principal = tokens.verify(_sign({**header, "typ": typ}, claims, key, "RS256"), now=clock.now())

    assert principal.session_id == "SES-cccccccccccccccc"


async def test_an_audience_list_containing_ours_and_a_small_clock_skew_are_accepted(
    tokens: JwtAccessTokens, key_store: KeyStore, clock: FixedClock
) -> None:
    header, claims, key = _valid_parts(key_store, clock)
    claims |= {"aud": ["other", AUDIENCE], "nbf": claims["nbf"] + 5}

    principal = tokens.verify(_sign(header, claims, key, "RS256"), now=clock.now())

    assert principal.role == "user"  # no roles claim


# -- attacks and malformed tokens -----------------------------------------------------------------
def _attacks(key_store: KeyStore, clock: FixedClock) -> dict[str, str]:
    header, claims, key = _valid_parts(key_store, clock)
    good = _sign(header, claims, key, "RS256")
    head, body, signature = good.split(".")
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_input = f"{_segment({**header, 'alg': 'HS256'})}.{body}"
    hs_signature = _b64(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())
    impostor_kid, impostor_key = _impostor()
    middle = list(body)
    middle[len(middle) // 2] = "A" if middle[len(middle) // 2] != "A" else "B"
    return {
        "alg none": f"{_segment({**header, 'alg': 'none'})}.{body}.",
        "alg none with a signature": f"{_segment({**header, 'alg': 'none'})}.{body}.{signature}",
        "HS256 with the public key as secret": f"{hs_input}.{hs_signature}",
        "alg of another family": f"{_segment({**header, 'alg': 'ES256'})}.{body}.{signature}",
        "unknown kid": _sign({**header, "kid": impostor_kid}, claims, impostor_key, "RS256"),
        "another key under our kid": _sign(header, claims, impostor_key, "RS256"),
        "nbf in the future": _sign(header, {**claims, "nbf": claims["iat"] + 6}, key, "RS256"),
        "wrong iss": _sign(header, {**claims, "iss": "https://evil.example.com"}, key, "RS256"),
        "wrong aud": _sign(header, {**claims, "aud": "other-service"}, key, "RS256"),
        "aud list without ours": _sign(header, {**claims, "aud": ["a", "b"]}, key, "RS256"),
        "missing typ": _sign({k: v for k, v in header.items() if k != "typ"}, claims, key, "RS256"),
        "typ JWT": _sign({**header, "typ": "JWT"}, claims, key, "RS256"),
        "critical extension": _sign({**header, "crit": ["exp"], "exp": 1}, claims, key, "RS256"),
        "tampered payload": f"{head}.{''.join(middle)}.{signature}",
        "tampered signature": f"{head}.{body}.{signature[:-4]}AAAA",
        "payload not an object": _sign(header, ["not", "an", "object"], key, "RS256"),  # type: ignore[arg-type]
        "exp not a number": _sign(header, {**claims, "exp": "tomorrow"}, key, "RS256"),
        "empty sub": _sign(header, {**claims, "sub": ""}, key, "RS256"),
        "two parts": f"{head}.{body}",
        "four parts": f"{good}.{signature}",
        "padding": f"{head}.{body}.{signature}==",
        "whitespace": f" {good}",
        "empty": "",
        "garbage": "not a token at all",
        "dots only": "..",
        "base64 of nothing": "e30.e30.e30",
        "opaque random string": secrets.token_urlsafe(32),
        "huge": f"{head}.{'A' * 10000}.{signature}",
    }


class _NoBox:
    """Stores the PEM as is: lets a test sign with a key the key store never saw."""

    def encrypt(self, plaintext: bytes, *, purpose: str) -> str:
        return plaintext.decode()

    def decrypt(self, ciphertext: str, *, purpose: str) -> bytes:
        return ciphertext.encode()

    def is_current(self, ciphertext: str) -> bool:
        return True


ATTACKS = [
    "alg none", "alg none with a signature", "HS256 with the public key as secret", "alg of another family",
    "unknown kid", "another key under our kid", "nbf in the future", "wrong iss", "wrong aud",
    "aud list without ours", "missing typ", "typ JWT", "critical extension", "tampered payload",
    "tampered signature", "payload not an object", "exp not a number", "empty sub", "two parts",
    "four parts", "padding", "whitespace", "empty", "garbage", "dots only", "base64 of nothing",
    "opaque random string", "huge",
]


@pytest.mark.parametrize("attack", ATTACKS)
async def test_a_forged_or_malformed_token_is_invalid(
    attack: str, tokens: JwtAccessTokens, key_store: KeyStore, clock: FixedClock
) -> None:
    token = _attacks(key_store, clock)[attack]

    with pytest.raises(InvalidTokenError):
        tokens.verify(token, now=clock.now())
    with pytest.raises(InvalidTokenError):  # failures are never cached
        tokens.verify(token, now=clock.now())


def test_the_attack_list_is_complete() -> None:
    assert len(set(ATTACKS)) == len(ATTACKS) == 28


@pytest.mark.parametrize("claim", ["sub", "sid", "user_id", "exp", "iat", "jti"])
async def test_a_token_missing_a_required_claim_is_invalid(
    claim: str, tokens: JwtAccessTokens, key_store: KeyStore, clock: FixedClock
) -> None:
    header, claims, key = _valid_parts(key_store, clock)
    del claims[claim]

    with pytest.raises(InvalidTokenError):
        tokens.verify(_sign(header, claims, key, "RS256"), now=clock.now())


async def test_a_token_expires_exactly_at_exp(tokens: JwtAccessTokens, clock: FixedClock) -> None:
    token = _issue(tokens, clock, ttl=60)
    tokens.verify(token, now=clock.now() + timedelta(seconds=59))

    with pytest.raises(TokenExpiredError):
        tokens.verify(token, now=clock.now() + timedelta(seconds=60))
    with pytest.raises(TokenExpiredError):
        tokens.verify(token, now=clock.now() + timedelta(days=1))


async def test_an_expired_token_with_a_bad_signature_is_invalid_not_expired(
    tokens: JwtAccessTokens, clock: FixedClock
) -> None:
    head, body, signature = _issue(tokens, clock, ttl=60).split(".")

    with pytest.raises(InvalidTokenError):
        tokens.verify(f"{head}.{body}.{signature[:-4]}AAAA", now=clock.now() + timedelta(seconds=61))


# -- caching --------------------------------------------------------------------------------------
async def test_a_repeated_token_is_answered_from_the_cache(
    tokens: JwtAccessTokens, clock: FixedClock
) -> None:
    token = _issue(tokens, clock)
    tokens.verify(token, now=clock.now())

    second = tokens.verify(token, now=clock.now())
    third = tokens.verify(token, now=clock.now() + timedelta(seconds=1))

    assert third is second


async def test_a_token_seen_once_is_not_cached_and_only_its_digest_is_remembered(
    tokens: JwtAccessTokens, clock: FixedClock
) -> None:
    token = _issue(tokens, clock)

    first = tokens.verify(token, now=clock.now())

    assert len(tokens._cache) == 0
    assert tokens._seen_once == {hashlib.sha256(token.encode()).digest()}
    assert tokens.verify(token, now=clock.now()) is not first  # verified again, then kept
    assert len(tokens._cache) == 1
    assert tokens._seen_once == set()


async def test_a_cached_token_still_expires(tokens: JwtAccessTokens, clock: FixedClock) -> None:
    token = _issue(tokens, clock, ttl=60)
    tokens.verify(token, now=clock.now())
    tokens.verify(token, now=clock.now())  # the second sight caches it
    assert len(tokens._cache) == 1

    with pytest.raises(TokenExpiredError):
        tokens.verify(token, now=clock.now() + timedelta(seconds=60))


async def test_the_cache_stays_within_its_bound(
    make_tokens: Callable[..., Awaitable[JwtAccessTokens]], clock: FixedClock
) -> None:
    tokens = await make_tokens("EdDSA", cache_size=2)
    issued = [_issue(tokens, clock) for _ in range(3)]

    for token in issued:
        tokens.verify(token, now=clock.now())
        tokens.verify(token, now=clock.now())

    assert list(tokens._cache) == [hashlib.sha256(token.encode()).digest() for token in issued[1:]]
    assert tokens.verify(issued[0], now=clock.now()).session_id  # evicted, verified again


async def test_the_tokens_seen_once_stay_within_the_cache_bound(
    make_tokens: Callable[..., Awaitable[JwtAccessTokens]], clock: FixedClock
) -> None:
    tokens = await make_tokens("EdDSA", cache_size=2)
    issued = [_issue(tokens, clock) for _ in range(5)]

    for token in issued:
        tokens.verify(token, now=clock.now())

    assert len(tokens._seen_once) <= 2
    assert len(tokens._cache) == 0


# -- rotation and revocation ----------------------------------------------------------------------
async def test_after_rotation_the_new_key_signs_at_activation_and_old_tokens_still_verify(
    tokens: JwtAccessTokens, key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock,
    secret_box: FakeSecretBox,
) -> None:
    old_kid = key_store.ring.signing_key.kid  # type: ignore[union-attr]
    old_token = _issue(tokens, clock)
    new_kid = await key_store.rotate(uow_factory, clock, "RS256", secret_box, 300, now_flag=False)
    clock.advance(299)
    assert jwt.get_unverified_header(_issue(tokens, clock))["kid"] == old_kid

    clock.advance(1)
    new_token = _issue(tokens, clock)
    await key_store.load(uow_factory, clock)

    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert tokens.verify(new_token, now=clock.now()).user_id == "USR-aaaaaaaaaaaaaaaa"
    assert tokens.verify(old_token, now=clock.now()).user_id == "USR-aaaaaaaaaaaaaaaa"


async def test_an_emergency_rotation_signs_at_once(
    tokens: JwtAccessTokens, key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock,
    secret_box: FakeSecretBox,
) -> None:
    clock.advance(1)

    new_kid = await key_store.rotate(uow_factory, clock, "RS256", secret_box, 300, now_flag=True)

    assert jwt.get_unverified_header(_issue(tokens, clock))["kid"] == new_kid


async def test_tokens_of_a_revoked_key_fail_at_once_even_when_cached(
    tokens: JwtAccessTokens, key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock,
    secret_box: FakeSecretBox,
) -> None:
    token = _issue(tokens, clock)
    tokens.verify(token, now=clock.now())
    tokens.verify(token, now=clock.now())  # the second sight caches it
    assert len(tokens._cache) == 1
    clock.advance(1)
    await key_store.rotate(uow_factory, clock, "RS256", secret_box, 300, now_flag=True)

    await key_store.revoke(uow_factory, clock, jwt.get_unverified_header(token)["kid"])

    with pytest.raises(InvalidTokenError):
        tokens.verify(token, now=clock.now())
    assert tokens.verify(_issue(tokens, clock), now=clock.now()).user_id == "USR-aaaaaaaaaaaaaaaa"


async def test_another_instance_rejects_a_revoked_key_after_its_reload(
    tokens: JwtAccessTokens, key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock,
    secret_box: FakeSecretBox,
) -> None:
    other_store = KeyStore(secret_box, 900)
    await other_store.load(uow_factory, clock)
    other = JwtAccessTokens(other_store, ISSUER, AUDIENCE)
    token = _issue(tokens, clock)
    other.verify(token, now=clock.now())

    await key_store.revoke(uow_factory, clock, jwt.get_unverified_header(token)["kid"])
    other.verify(token, now=clock.now())  # not reloaded yet: SPEC allows up to the reload interval
    await other_store.load(uow_factory, clock)

    with pytest.raises(InvalidTokenError):
        other.verify(token, now=clock.now())
