"""POST /auth/refresh with a JSON body is answered outside FastAPI's routing (RefreshFastPath of
interfaces/http/fast_paths.py): the same bytes, errors, headers, metrics and rate limits as the
route, which still answers whatever the fast path leaves alone (other content types, bodies the
model refuses). Every other refresh test goes through it too. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.doubles import FixedClock, Mailbox
from tests.integration.http.fast_path_checks import (
    ROUTED_JSON,
    assert_same_headers,
    assert_same_token_pair,
    requests_counted,
)
from tests.integration.http.flows import API, error_code, login, signed_in

REFRESH = f"{API}/auth/refresh"
EMAIL = "ada@example.com"
REUSE_INTERVAL = 10  # REFRESH_REUSE_INTERVAL default


async def _two_sessions(client: httpx.AsyncClient, mailbox: Mailbox) -> tuple[str, str]:
    first = await signed_in(client, mailbox, EMAIL)
    second = await login(client, EMAIL)
    return first["refresh_token"], second["refresh_token"]


async def test_a_refresh_is_answered_byte_for_byte_as_the_route_answers_it(
        client: httpx.AsyncClient, mailbox: Mailbox, fast_answers: list[bytes]) -> None:
    one, other = await _two_sessions(client, mailbox)
    fast_answers.clear()  # the logins' (the login's fast path writes the same kind of body)

    fast = await client.post(REFRESH, json={"refresh_token": one})
    routed = await client.post(REFRESH, json={"refresh_token": other}, headers=ROUTED_JSON)

    assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
    assert fast_answers == [fast.content]  # the fast path answered the first, the route the second
    assert_same_headers(fast, routed)
    assert_same_token_pair(fast, routed)


async def test_refused_refreshes_are_answered_as_the_route_answers_them(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, fast_answers: list[bytes]) -> None:
    one, other = await _two_sessions(client, mailbox)
    for token in (one, other):
        assert (await client.post(REFRESH, json={"refresh_token": token})).status_code == 200
    fast_answers.clear()
    clock.advance(REUSE_INTERVAL + 1)

    unknown = [await client.post(REFRESH, json={"refresh_token": "x" * 43}, headers=headers)
               for headers in (None, ROUTED_JSON)]
    replayed = [await client.post(REFRESH, json={"refresh_token": token}, headers=headers)
                for token, headers in ((one, None), (other, ROUTED_JSON))]

    for (fast, routed), code in ((unknown, "invalid_token"), (replayed, "refresh_token_reused")):
        assert (fast.status_code, error_code(fast)) == (routed.status_code, error_code(routed)) == (401, code)
        assert fast.json()["error"]["message"] == routed.json()["error"]["message"]
        assert fast.headers.get("www-authenticate") == routed.headers.get("www-authenticate")
        assert_same_headers(fast, routed)
    assert fast_answers == []


@pytest.mark.parametrize("content", [b'{"refresh_token": ""}', b"{", b"[]", b'{"token": "abc"}'])
async def test_a_body_the_model_refuses_goes_on_to_the_route(
        client: httpx.AsyncClient, content: bytes, fast_answers: list[bytes]) -> None:
    fast = await client.post(REFRESH, content=content, headers={"Content-Type": "application/json"})
    routed = await client.post(REFRESH, content=content, headers=ROUTED_JSON)

    assert fast.status_code == routed.status_code == 422
    assert {**fast.json()["error"], "trace_id": None} == {**routed.json()["error"], "trace_id": None}
    assert fast_answers == []


async def test_fast_refreshes_are_counted_under_the_route_template(client: httpx.AsyncClient,
                                                                   mailbox: Mailbox) -> None:
    one, _ = await _two_sessions(client, mailbox)
    refreshed = await client.post(REFRESH, json={"refresh_token": one})
    await client.post(REFRESH, json={"refresh_token": refreshed.json()["refresh_token"]})
    await client.post(REFRESH, json={"refresh_token": "x" * 43})

    metrics = (await client.get("/metrics")).text

    for status, count in (("200", 2), ("401", 1)):
        assert requests_counted(metrics, "POST", REFRESH, status) == count, status


@pytest.mark.parametrize("settings_overrides", [
    # register, verify and log in are 3 of the default limit
    {"rate_limit_enabled": True, "rate_limit_default": "5/minute", "rate_limit_refresh": "100/minute"},
    {"rate_limit_enabled": True, "rate_limit_default": "100/minute", "rate_limit_refresh": "2/minute"},
], ids=["default", "refresh"])
async def test_fast_refreshes_count_against_the_default_and_the_refresh_rate_limits(
        client: httpx.AsyncClient, mailbox: Mailbox, settings_overrides: dict[str, Any]) -> None:
    token = (await signed_in(client, mailbox, EMAIL))["refresh_token"]

    answers = []
    for _ in range(3):
        answers.append(await client.post(REFRESH, json={"refresh_token": token}))
        if answers[-1].status_code == 200:
            token = answers[-1].json()["refresh_token"]

    assert [r.status_code for r in answers] == [200, 200, 429]
    assert error_code(answers[-1]) == "rate_limited" and "retry-after" in answers[-1].headers
