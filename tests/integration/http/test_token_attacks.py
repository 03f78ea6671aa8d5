"""The bearer check against forged, altered and misused tokens (SPEC §3 Token kinds, Bearer errors,
Access token claims), through `GET /auth/validate-token` and `GET /users/me`.

Forgeries start from a genuine token's header and claims and change one thing, so each rejection
proves the check of that one thing; the control test re-signs the unchanged token with the real
key and sees it accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from auth_service.bootstrap import Container
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import API, bearer, error_code, link_token, login, register

BEARER_ENDPOINTS = (f"{API}/auth/validate-token", f"{API}/users/me")
EMAIL = "ada@example.com"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _decode_segment(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def compact(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes] | None) -> str:
    """A compact JWS with exactly this header and these claims; no signature when `sign` is None."""
    signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
    signature = _b64url(sign(signing_input.encode("ascii"))) if sign is not None else ""
    return f"{signing_input}.{signature}"


def rs256_signer(private_key: rsa.RSAPrivateKey) -> Callable[[bytes], bytes]:
    return lambda data: private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def hs256_signer(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


@dataclass(frozen=True)
class Genuine:
    """A signed-in user's real tokens, and the tokens of the other kinds they were sent."""

    access_token: str
    refresh_token: str
    verification_token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    container: Container
    client: httpx.AsyncClient
    mailbox: Mailbox
    clock: FixedClock

    def resign(self, header: dict[str, Any] | None = None, **claims: Any) -> str:
        """The genuine token with header and claims changed as given, signed by the service's real key."""
        key = self.container.key_store.ring.signing_key
        assert key is not None and isinstance(key.private_key, rsa.RSAPrivateKey)
        return compact(header if header is not None else self.header, {**self.claims, **claims},
                       rs256_signer(key.private_key))


@pytest.fixture
async def genuine(client: httpx.AsyncClient, mailbox: Mailbox, container: Container, clock: FixedClock) -> Genuine:
    registered = await register(client, EMAIL)
    assert registered.status_code == 201, registered.text
    verification_token = link_token(await mailbox.wait_for(EMAIL, "Verify your email"))
    verified = await client.post(f"{API}/auth/verify-email", json={"token": verification_token})
    assert verified.status_code == 200, verified.text
    tokens = await login(client, EMAIL)
    header_segment, claims_segment, _ = tokens["access_token"].split(".")
    return Genuine(tokens["access_token"], tokens["refresh_token"], verification_token,
                   _decode_segment(header_segment), _decode_segment(claims_segment), container, client,
                   mailbox, clock)


async def _alg_none(g: Genuine) -> str:
    return compact({**g.header, "alg": "none"}, {**g.claims, "roles": ["admin"]}, None)


async def _alg_none_with_a_signature(g: Genuine) -> str:
    header_and_claims = compact({**g.header, "alg": "none"}, g.claims, None)
    return header_and_claims + g.access_token.rsplit(".", 1)[1]


async def _hs256_with_the_public_key(g: Genuine) -> str:
    # The classic key-confusion attack: the public key (as published) used as an HMAC secret.
    jwks = (await g.client.get("/.well-known/jwks.json")).json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == g.header["kid"])
    public_pem = rsa.RSAPublicNumbers(
        int.from_bytes(base64.urlsafe_b64decode(jwk["e"] + "=="), "big"),
        int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big"),
    ).public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return compact({**g.header, "alg": "HS256"}, {**g.claims, "roles": ["admin"]}, hs256_signer(public_pem))


async def _unknown_kid(g: Genuine) -> str:
    return g.resign({**g.header, "kid": "not-a-key-we-know"})


async def _not_yet_valid(g: Genuine) -> str:
    return g.resign(nbf=g.claims["iat"] + 600)


async def _wrong_issuer(g: Genuine) -> str:
    return g.resign(iss="https://evil.example.com")


async def _wrong_audience(g: Genuine) -> str:
    return g.resign(aud="another-service")


async def _missing_typ(g: Genuine) -> str:
    return g.resign({k: v for k, v in g.header.items() if k != "typ"})


async def _typ_jwt(g: Genuine) -> str:
    return g.resign({**g.header, "typ": "JWT"})


async def _tampered_payload(g: Genuine) -> str:
    header_segment, _, signature = g.access_token.split(".")
    return f"{header_segment}.{_b64url_json({**g.claims, 'roles': ['admin']})}.{signature}"


async def _signed_by_another_key_with_the_real_kid(g: Genuine) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return compact(g.header, g.claims, rs256_signer(other))


async def _refresh_token(g: Genuine) -> str:
    return g.refresh_token


async def _verification_token(g: Genuine) -> str:
    return g.verification_token


async def _reset_token(g: Genuine) -> str:
    requested = await g.client.post(f"{API}/auth/forgot-password", json={"email": EMAIL})
    assert requested.status_code == 202
    return link_token(await g.mailbox.wait_for(EMAIL, "Reset your password"))


FORGERIES: dict[str, Callable[[Genuine], Awaitable[str]]] = {
    "alg none": _alg_none,
    "alg none with the genuine signature": _alg_none_with_a_signature,
    "HS256 signed with the RSA public key": _hs256_with_the_public_key,
    "unknown kid": _unknown_kid,
    "nbf in the future": _not_yet_valid,
    "wrong iss": _wrong_issuer,
    "wrong aud": _wrong_audience,
    "missing typ": _missing_typ,
    "typ JWT": _typ_jwt,
    "payload changed to admin, signature kept": _tampered_payload,
    "signed by another RSA key with the real kid": _signed_by_another_key_with_the_real_kid,
    "the refresh token": _refresh_token,
    "a verification token": _verification_token,
    "a reset token": _reset_token,
}


@pytest.mark.parametrize("endpoint", BEARER_ENDPOINTS)
@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
async def test_a_forged_or_misused_token_is_refused_as_invalid(
        genuine: Genuine, forgery: Callable[[Genuine], Awaitable[str]], endpoint: str) -> None:
    token = await forgery(genuine)

    response = await genuine.client.get(endpoint, headers=bearer(token))

    assert response.status_code == 401, response.text
    assert error_code(response) == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", BEARER_ENDPOINTS)
async def test_the_genuine_token_resigned_by_the_real_key_is_accepted(genuine: Genuine, endpoint: str) -> None:
    token = genuine.resign()

    response = await genuine.client.get(endpoint, headers=bearer(token))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("endpoint", BEARER_ENDPOINTS)
async def test_an_expired_token_is_refused_as_expired(genuine: Genuine, endpoint: str) -> None:
    assert (await genuine.client.get(endpoint, headers=bearer(genuine.access_token))).status_code == 200
    genuine.clock.advance(genuine.claims["exp"] - genuine.claims["iat"] + 1)

    response = await genuine.client.get(endpoint, headers=bearer(genuine.access_token))

    assert response.status_code == 401
    assert error_code(response) == "token_expired"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", BEARER_ENDPOINTS)
@pytest.mark.parametrize("authorization", [None, "Basic x", "Bearer", "Bearer ", "Token abc"],
                         ids=["no header", "Basic", "Bearer without a token", "Bearer and a space", "other scheme"])
async def test_a_request_without_a_bearer_token_is_unauthenticated(
        client: httpx.AsyncClient, endpoint: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await client.get(endpoint, headers=headers)

    assert response.status_code == 401
    assert error_code(response) == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_validate_token_answers_the_claims_of_a_good_token(genuine: Genuine) -> None:
    response = await genuine.client.get(f"{API}/auth/validate-token", headers=bearer(genuine.access_token))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"valid", "claims", "expires_at"}
    assert body["valid"] is True
    claims = body["claims"]
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "user_id", "email",
                           "email_verified", "roles", "company_id", "network_id", "station_id"}
    me = (await genuine.client.get(f"{API}/users/me", headers=bearer(genuine.access_token))).json()
    assert claims["iss"] == "http://testserver"
    assert claims["aud"] == "auth-service"
    assert claims["sub"] == claims["user_id"] == me["id"]
    assert claims["email"] == EMAIL and claims["email_verified"] is True
    assert claims["roles"] == ["user"]
    assert claims["company_id"] is None and claims["network_id"] == "" and claims["station_id"] == ""
    assert claims["sid"].startswith("SES-")
    assert claims["iat"] == claims["nbf"] == int(genuine.clock.now().timestamp())
    assert claims["exp"] == claims["iat"] + 900
    assert body["expires_at"].endswith("Z")
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == claims["exp"]


async def test_an_access_token_is_an_rfc_9068_jwt_signed_by_a_published_key(genuine: Genuine) -> None:
    jwks = (await genuine.client.get("/.well-known/jwks.json")).json()

    assert genuine.header["typ"] == "at+jwt"
    assert genuine.header["alg"] == "RS256"
    assert genuine.header["kid"] in {key["kid"] for key in jwks["keys"]}
