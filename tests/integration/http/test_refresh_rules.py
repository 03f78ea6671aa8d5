"""SPEC §3 Refresh: rotation, the reuse interval, replay detection, the session's hard cap, and
the user re-read on every refresh. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from auth_service.bootstrap import Container
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import API, bearer, error_code, link_token, signed_in

EMAIL = "ada@example.com"
REUSE_INTERVAL = 10  # REFRESH_REUSE_INTERVAL default


async def _refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})


async def _me(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get(f"{API}/users/me", headers=bearer(access_token))


async def _execute(container: Container, sql: str, **params: Any) -> None:
    async with container.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def _scalar(container: Container, sql: str, **params: Any) -> Any:
    async with container.engine.connect() as connection:
        return await connection.scalar(text(sql), params)


def _claims(access_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return claims


async def test_each_refresh_rotates_the_token_and_a_rotated_one_is_a_replay_after_the_interval(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    first = await signed_in(client, mailbox, EMAIL)

    second = await _refresh(client, first["refresh_token"])
    third = await _refresh(client, second.json()["refresh_token"])
    clock.advance(REUSE_INTERVAL + 1)
    replayed = await _refresh(client, second.json()["refresh_token"])  # its successor is still the newest

    assert second.status_code == 200 and third.status_code == 200
    tokens = {first["refresh_token"], second.json()["refresh_token"], third.json()["refresh_token"]}
    assert len(tokens) == 3
    assert third.json()["session_id"] == first["session_id"]
    assert replayed.status_code == 401 and error_code(replayed) == "refresh_token_reused"


async def test_twenty_concurrent_refreshes_of_one_token_all_get_the_same_single_successor(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)

    responses = await asyncio.gather(*(_refresh(client, tokens["refresh_token"]) for _ in range(20)))

    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    successors = {r.json()["refresh_token"] for r in responses}
    assert len(successors) == 1 and tokens["refresh_token"] not in successors
    assert {r.json()["session_id"] for r in responses} == {tokens["session_id"]}
    rows = await _scalar(container, "SELECT count(*) FROM refresh_tokens WHERE session_id = :sid",
                          sid=tokens["session_id"])
    assert rows == 2  # exactly one rotation
    for response in responses:
        assert (await _me(client, response.json()["access_token"])).status_code == 200
    assert (await _refresh(client, successors.pop())).status_code == 200


async def test_presenting_the_old_token_again_within_the_interval_returns_the_same_successor(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)
    rotated = await _refresh(client, tokens["refresh_token"])
    clock.advance(REUSE_INTERVAL - 1)

    retried = await _refresh(client, tokens["refresh_token"])

    assert retried.status_code == 200, retried.text
    assert retried.json()["refresh_token"] == rotated.json()["refresh_token"]
    assert retried.json()["session_id"] == tokens["session_id"]
    assert (await _me(client, retried.json()["access_token"])).status_code == 200
    assert (await _refresh(client, retried.json()["refresh_token"])).status_code == 200


async def test_a_replay_after_the_interval_revokes_the_whole_session(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)
    newest = (await _refresh(client, tokens["refresh_token"])).json()
    clock.advance(REUSE_INTERVAL + 1)

    replayed = await _refresh(client, tokens["refresh_token"])

    assert replayed.status_code == 401 and error_code(replayed) == "refresh_token_reused"
    after = await _refresh(client, newest["refresh_token"])
    assert after.status_code == 401 and error_code(after) == "token_revoked"
    for access_token in (tokens["access_token"], newest["access_token"]):
        me = await _me(client, access_token)
        assert me.status_code == 401 and error_code(me) == "token_revoked"


async def test_the_first_token_is_a_replay_once_its_successor_was_rotated_even_within_the_interval(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)
    second = (await _refresh(client, tokens["refresh_token"])).json()
    third = (await _refresh(client, second["refresh_token"])).json()

    replayed = await _refresh(client, tokens["refresh_token"])

    assert replayed.status_code == 401 and error_code(replayed) == "refresh_token_reused"
    after = await _refresh(client, third["refresh_token"])
    assert after.status_code == 401 and error_code(after) == "token_revoked"
    me = await _me(client, third["access_token"])
    assert me.status_code == 401 and error_code(me) == "token_revoked"


@pytest.mark.parametrize("settings_overrides", [
    {"session_max_lifetime": 3600, "access_token_ttl": 900, "refresh_token_ttl": 604800}])
async def test_a_session_never_outlives_its_maximum_lifetime_whatever_the_refreshes(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)
    session_end = clock.now().timestamp() + 3600

    clock.advance(3000)
    late = await _refresh(client, tokens["refresh_token"])
    clock.advance(601)
    expired = await _refresh(client, late.json()["refresh_token"])

    assert tokens["refresh_expires_in"] <= 3600
    assert late.status_code == 200, late.text
    assert late.json()["refresh_expires_in"] <= 600
    assert late.json()["expires_in"] <= 600
    assert _claims(late.json()["access_token"])["exp"] <= session_end
    assert expired.status_code == 401


async def test_a_refresh_reads_the_user_again_so_a_new_role_takes_effect(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)
    await _execute(container, "UPDATE users SET role = 'admin' WHERE id = :id", id=tokens["user"]["id"])

    refreshed = await _refresh(client, tokens["refresh_token"])

    assert _claims(tokens["access_token"])["roles"] == ["user"]
    assert refreshed.status_code == 200
    assert _claims(refreshed.json()["access_token"])["roles"] == ["admin"]
    assert refreshed.json()["user"]["role"] == "admin"


async def test_a_user_no_longer_active_cannot_refresh(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)
    await _execute(container, "UPDATE users SET status = 'disabled' WHERE id = :id", id=tokens["user"]["id"])

    refreshed = await _refresh(client, tokens["refresh_token"])

    assert refreshed.status_code == 401 and error_code(refreshed) == "invalid_token"


async def test_a_garbage_refresh_token_is_an_invalid_token(client: httpx.AsyncClient) -> None:
    refreshed = await _refresh(client, "not-a-refresh-token")

    assert refreshed.status_code == 401 and error_code(refreshed) == "invalid_token"


async def test_an_access_token_is_not_accepted_as_a_refresh_token(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)

    refreshed = await _refresh(client, tokens["access_token"])

    assert refreshed.status_code == 401 and error_code(refreshed) == "invalid_token"


async def test_a_reset_token_is_not_accepted_as_a_refresh_token(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await signed_in(client, mailbox, EMAIL)
    await client.post(f"{API}/auth/forgot-password", json={"email": EMAIL})
    reset_token = link_token(await mailbox.wait_for(EMAIL, "Reset your password"))

    refreshed = await _refresh(client, reset_token)

    assert refreshed.status_code == 401 and error_code(refreshed) == "invalid_token"


async def test_a_refresh_token_expires_after_its_idle_lifetime(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)
    clock.advance(tokens["refresh_expires_in"] + 1)

    refreshed = await _refresh(client, tokens["refresh_token"])

    assert refreshed.status_code == 401 and error_code(refreshed) == "token_expired"
