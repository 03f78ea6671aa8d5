"""POST /auth/login with a JSON body is answered outside FastAPI's routing (LoginFastPath of
interfaces/http/fast_paths.py): the same bytes, errors, headers, metrics and rate limits as the
route, which still answers whatever the fast path leaves alone (other content types, bodies the
model refuses). Every other login test goes through it too. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.bootstrap import Container
from auth_service.interfaces.http import fast_paths
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.fast_path_checks import (
    ROUTED_JSON,
    assert_same_headers,
    assert_same_token_pair,
    requests_counted,
)
from tests.integration.http.flows import API, PASSWORD, error_code, register_verified

LOGIN = f"{API}/auth/login"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_enabled": False}  # the lockout tests fail more often than RATE_LIMIT_LOGIN allows


async def _both(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[httpx.Response, httpx.Response]:
    fast = await client.post(LOGIN, json=body)
    routed = await client.post(LOGIN, json=body, headers=ROUTED_JSON)
    return fast, routed


async def test_a_login_is_answered_byte_for_byte_as_the_route_answers_it(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, fast_answers: list[bytes]) -> None:
    await register_verified(client, mailbox, "ada@example.com")

    fast, routed = await _both(client, {"email": "ada@example.com", "password": PASSWORD})

    assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
    assert fast_answers == [fast.content]  # the fast path answered the first, the route the second
    assert_same_headers(fast, routed)
    assert_same_token_pair(fast, routed)
    assert fast.json()["user"]["last_login_at"] == clock.now().isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"email": "ada@example.com", "password": "wrong password here"}, 401, "invalid_credentials"),
    ({"email": "nobody@example.com", "password": PASSWORD}, 401, "invalid_credentials"),
    ({"email": "pending@example.com", "password": PASSWORD}, 403, "email_not_verified"),
])
async def test_a_refused_login_is_answered_as_the_route_answers_it(
        client: httpx.AsyncClient, mailbox: Mailbox, body: dict[str, Any], status: int, code: str,
        fast_answers: list[bytes]) -> None:
    await register_verified(client, mailbox, "ada@example.com")
    assert (await client.post(f"{API}/auth/register", json={"email": "pending@example.com",
                                                            "password": PASSWORD})).status_code == 201

    fast, routed = await _both(client, body)

    assert (fast.status_code, error_code(fast)) == (routed.status_code, error_code(routed)) == (status, code)
    assert fast.json()["error"]["message"] == routed.json()["error"]["message"]
    assert_same_headers(fast, routed)
    assert fast_answers == []


async def test_a_locked_account_is_answered_as_the_route_answers_it(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    await register_verified(client, mailbox, "ada@example.com")
    for _ in range(container.config.lockout.threshold):
        await client.post(LOGIN, json={"email": "ada@example.com", "password": "wrong password here"})

    fast, routed = await _both(client, {"email": "ada@example.com", "password": PASSWORD})

    assert fast.status_code == routed.status_code == 429
    assert error_code(fast) == error_code(routed) == "account_locked"
    assert fast.headers["retry-after"] == routed.headers["retry-after"]


@pytest.mark.parametrize("content", [b'{"email": "not an email", "password": "x"}', b"{", b"[]",
                                     b'{"email": "ada@example.com", "password": "x", "email": 5}'])
async def test_a_body_the_model_refuses_goes_on_to_the_route(
        client: httpx.AsyncClient, content: bytes, fast_answers: list[bytes]) -> None:
    fast = await client.post(LOGIN, content=content, headers={"Content-Type": "application/json"})
    routed = await client.post(LOGIN, content=content, headers=ROUTED_JSON)

    assert fast.status_code == routed.status_code == 422
    assert {**fast.json()["error"], "trace_id": None} == {**routed.json()["error"], "trace_id": None}
    assert fast_answers == []


async def test_a_client_that_leaves_mid_body_gets_no_answer(container: Container) -> None:
    async def route(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the route must not run")

    messages = iter([{"type": "http.request", "body": b'{"email": "ada@', "more_body": True},
                     {"type": "http.disconnect"}])
    sent: list[Any] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": LOGIN, "headers": [(b"content-type", b"application/json")],
             "state": {}}
    await fast_paths.LoginFastPath(route, container)(scope, receive, send)

    assert sent == []


async def test_fast_logins_are_counted_under_the_route_template(client: httpx.AsyncClient,
                                                                mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, "ada@example.com")
    for _ in range(2):
        await client.post(LOGIN, json={"email": "ada@example.com", "password": PASSWORD})
    await client.post(LOGIN, json={"email": "ada@example.com", "password": "wrong password here"})

    metrics = (await client.get("/metrics")).text

    for status, count in (("200", 2), ("401", 1)):
        assert requests_counted(metrics, "POST", LOGIN, status) == count, status


@pytest.mark.parametrize("settings_overrides", [
    {"rate_limit_enabled": True, "rate_limit_default": "4/minute", "rate_limit_login": "100/minute"},
    {"rate_limit_enabled": True, "rate_limit_default": "100/minute", "rate_limit_login": "2/minute"},
], ids=["default", "login"])
async def test_fast_logins_count_against_the_default_and_the_login_rate_limits(
        client: httpx.AsyncClient, mailbox: Mailbox, settings_overrides: dict[str, Any]) -> None:
    await register_verified(client, mailbox, "ada@example.com")  # register and verify: 2 of the default
    body = {"email": "ada@example.com", "password": PASSWORD}

    answers = [await client.post(LOGIN, json=body) for _ in range(3)]

    assert [r.status_code for r in answers] == [200, 200, 429]
    assert error_code(answers[-1]) == "rate_limited" and "retry-after" in answers[-1].headers
