"""Acceptance 2 of issue 5 (SPEC §7): every request limit answers 429 `rate_limited` with a
correct Retry-After and RateLimit-* headers once exceeded, per IP and per email where §7 says so;
X-Forwarded-For counts only from a trusted proxy; RATE_LIMIT_ENABLED=false turns the limits off
but never the lockout. Small limits keep the tests fast."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from auth_service.bootstrap import Container
from tests.doubles import Mailbox
from tests.integration.http.flows import API, PASSWORD, bearer, error_code, register, signed_in

PEER = "203.0.113.7"  # the socket peer of the `client` fixture
LIMITED: dict[str, Any] = {
    "rate_limit_enabled": True,
    "rate_limit_login": "3/minute",
    "rate_limit_register": "3/minute",
    "rate_limit_forgot": "3/hour",
    "rate_limit_refresh": "3/minute",
    "rate_limit_default": "600/minute",
}

Peer = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(LIMITED)


@pytest.fixture
def peer(container: Container) -> Peer:
    """A client connecting from another socket address."""

    @asynccontextmanager
    async def connect(ip: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=container.app, client=(ip, 40001))  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            yield other

    return connect


def assert_limited(response: httpx.Response, limit: int, window: int) -> None:
    assert response.status_code == 429, response.text
    assert error_code(response) == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    # A moving window: the oldest counted request leaves it one window after it came (seconds ago).
    assert window - 10 <= retry_after <= window, retry_after
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == str(retry_after)


async def log_in(client: httpx.AsyncClient, email: str, password: str = "wrong password, surely",
                 forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password}, headers=headers)


async def test_login_is_limited_per_ip(client: httpx.AsyncClient, peer: Peer) -> None:
    for i in range(3):
        response = await log_in(client, f"nobody{i}@example.com")
        assert response.status_code == 401 and error_code(response) == "invalid_credentials"
    assert_limited(await log_in(client, "nobody9@example.com"), 3, 60)
    # The same answer through /auth/token: the same use case, the same counters.
    token = await client.post(f"{API}/auth/token", data={"grant_type": "password", "username": "x@example.com",
                                                         "password": "whatever it is"})
    assert_limited(token, 3, 60)
    async with peer("198.51.100.20") as other:
        response = await log_in(other, "nobody9@example.com")
        assert response.status_code == 401, response.text


@pytest.mark.parametrize("settings_overrides", [{**LIMITED, "trusted_proxies": [PEER]}])
async def test_login_is_limited_per_email_whatever_the_ip(client: httpx.AsyncClient,
                                                          mailbox: Mailbox) -> None:
    await signed_in(client, mailbox, "victim@example.com")  # the first login of that email, from the peer
    for i in range(2):
        response = await log_in(client, "victim@example.com", forwarded_for=f"198.51.100.{i}")
        assert response.status_code == 401 and error_code(response) == "invalid_credentials", response.text
    # The fourth login of that email in the minute, from a third address: limited, even with the password.
    assert_limited(await log_in(client, "victim@example.com", PASSWORD, forwarded_for="198.51.100.7"), 3, 60)
    # Another email from those addresses is not.
    response = await log_in(client, "someone.else@example.com", forwarded_for="198.51.100.0")
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("settings_overrides", [{**LIMITED, "trusted_proxies": [PEER]}])
async def test_forwarded_for_from_a_trusted_proxy_is_the_client_ip(client: httpx.AsyncClient) -> None:
    for i in range(3):
        response = await log_in(client, f"nobody{i}@example.com", forwarded_for="198.51.100.1")
        assert response.status_code == 401, response.text
    assert_limited(await log_in(client, "nobody8@example.com", forwarded_for="198.51.100.1"), 3, 60)
    # The right-most entry that is not a trusted proxy is the client; another client is not limited.
    response = await log_in(client, "nobody9@example.com", forwarded_for=f"198.51.100.1, 198.51.100.2, {PEER}")
    assert response.status_code == 401, response.text


async def test_forwarded_for_is_ignored_unless_the_peer_is_trusted(client: httpx.AsyncClient) -> None:
    for i in range(3):
        response = await log_in(client, f"nobody{i}@example.com", forwarded_for=f"198.51.100.{i}")
        assert response.status_code == 401, response.text
    assert_limited(await log_in(client, "nobody8@example.com", forwarded_for="198.51.100.50"), 3, 60)


async def test_register_is_limited_per_ip(client: httpx.AsyncClient, peer: Peer) -> None:
    for i in range(3):
        response = await register(client, f"new{i}@example.com")
        assert response.status_code == 201, response.text
    assert_limited(await register(client, "new3@example.com"), 3, 60)
    async with peer("198.51.100.20") as other:
        response = await register(other, "new3@example.com")
        assert response.status_code == 201, response.text


async def test_forgot_password_is_limited_per_email(client: httpx.AsyncClient, peer: Peer,
                                                    mailbox: Mailbox) -> None:
    await signed_in(client, mailbox, "forgetful@example.com")
    for i in range(3):
        async with peer(f"198.51.100.{i}") as other:
            response = await other.post(f"{API}/auth/forgot-password", json={"email": "forgetful@example.com"})
            assert response.status_code == 202, response.text
    response = await client.post(f"{API}/auth/forgot-password", json={"email": "Forgetful@Example.com"})
    assert_limited(response, 3, 3600)
    # Per email, known or not: another address is answered as usual.
    response = await client.post(f"{API}/auth/forgot-password", json={"email": "other@example.com"})
    assert response.status_code == 202, response.text


async def test_refresh_is_limited_per_session(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "refresher@example.com")
    refresh_token = tokens["refresh_token"]
    for _ in range(3):
        response = await client.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})
        assert response.status_code == 200, response.text
        refresh_token = response.json()["refresh_token"]
    limited = await client.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})
    assert_limited(limited, 3, 60)
    # Another session of the same user, from the same IP, has its own counter.
    other = await client.post(f"{API}/auth/login", json={"email": "refresher@example.com", "password": PASSWORD})
    assert other.status_code == 200, other.text
    response = await client.post(f"{API}/auth/refresh", json={"refresh_token": other.json()["refresh_token"]})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("settings_overrides", [{**LIMITED, "rate_limit_default": "5/minute"}])
async def test_every_other_request_is_limited_per_ip(client: httpx.AsyncClient, peer: Peer) -> None:
    for _ in range(5):
        response = await client.get(f"{API}/users/me", headers=bearer("not-a-token"))
        assert response.status_code == 401, response.text
    assert_limited(await client.get(f"{API}/users/me", headers=bearer("not-a-token")), 5, 60)
    assert_limited(await client.post(f"{API}/auth/forgot-password", json={"email": "a@example.com"}), 5, 60)
    # Health checks are not API requests; another IP is not limited.
    assert (await client.get("/health")).status_code == 200
    async with peer("198.51.100.20") as other:
        response = await other.get(f"{API}/users/me", headers=bearer("not-a-token"))
        assert response.status_code == 401, response.text


@pytest.mark.parametrize("settings_overrides", [{**LIMITED, "rate_limit_enabled": False,
                                                 "rate_limit_login": "1/minute", "rate_limit_default": "1/minute"}])
async def test_disabled_limits_leave_the_lockout_on(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await signed_in(client, mailbox, "locked@example.com")
    for _ in range(5):
        response = await log_in(client, "locked@example.com")
        assert response.status_code == 401 and error_code(response) == "invalid_credentials", response.text
    locked = await log_in(client, "locked@example.com", PASSWORD)
    assert locked.status_code == 429 and error_code(locked) == "account_locked", locked.text
    assert int(locked.headers["Retry-After"]) > 0
