"""SPEC §3 Logout, Logout-all and Revoke, and §4 /users/me/sessions: ending sessions takes effect
at once, for access and refresh tokens alike. On SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager

from auth_service.bootstrap import Container, Settings
from auth_service.interfaces.http.app import create_app
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import API, bearer, error_code, login, signed_in

ADA, GRACE = "ada@example.com", "grace@example.com"


async def _me(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get(f"{API}/users/me", headers=bearer(access_token))


async def _refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})


async def _assert_session_ended(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    me = await _me(client, tokens["access_token"])
    assert me.status_code == 401 and error_code(me) == "token_revoked", me.text
    refreshed = await _refresh(client, tokens["refresh_token"])
    assert refreshed.status_code == 401 and error_code(refreshed) == "token_revoked", refreshed.text


async def _assert_session_alive(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    assert (await _me(client, tokens["access_token"])).status_code == 200


async def test_logout_revokes_the_session_at_once_and_a_second_logout_is_token_revoked(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    logout = await client.post(f"{API}/auth/logout", headers=bearer(tokens["access_token"]))
    again = await client.post(f"{API}/auth/logout", headers=bearer(tokens["access_token"]))

    assert logout.status_code == 204
    assert again.status_code == 401 and error_code(again) == "token_revoked"
    await _assert_session_ended(client, tokens)


async def test_logout_also_answers_to_delete(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    logout = await client.delete(f"{API}/auth/logout", headers=bearer(tokens["access_token"]))

    assert logout.status_code == 204
    await _assert_session_ended(client, tokens)


async def test_logout_with_the_refresh_token_of_another_of_my_sessions_revokes_both(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    laptop = await signed_in(client, mailbox, ADA)
    phone = await login(client, ADA)
    tablet = await login(client, ADA)

    logout = await client.post(f"{API}/auth/logout", headers=bearer(laptop["access_token"]),
                               json={"refresh_token": phone["refresh_token"]})

    assert logout.status_code == 204
    await _assert_session_ended(client, laptop)
    await _assert_session_ended(client, phone)
    await _assert_session_alive(client, tablet)


async def test_logout_leaves_another_users_session_alone_even_given_its_refresh_token(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    ada = await signed_in(client, mailbox, ADA)
    grace = await signed_in(client, mailbox, GRACE)

    logout = await client.post(f"{API}/auth/logout", headers=bearer(ada["access_token"]),
                               json={"refresh_token": grace["refresh_token"]})

    assert logout.status_code == 204
    await _assert_session_alive(client, grace)
    assert (await _refresh(client, grace["refresh_token"])).status_code == 200


async def test_logout_all_revokes_every_session_of_the_user_but_not_other_users(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    laptop = await signed_in(client, mailbox, ADA)
    phone = await login(client, ADA)
    grace = await signed_in(client, mailbox, GRACE)

    logout = await client.post(f"{API}/auth/logout-all", headers=bearer(phone["access_token"]))

    assert logout.status_code == 204
    await _assert_session_ended(client, laptop)
    await _assert_session_ended(client, phone)
    await _assert_session_alive(client, grace)


async def test_revoking_a_refresh_token_ends_its_session_without_an_access_token(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)
    other = await login(client, ADA)

    revoked = await client.post(f"{API}/auth/revoke", data={"token": tokens["refresh_token"],
                                                             "token_type_hint": "refresh_token",
                                                             "client_id": "web-app"})

    assert revoked.status_code == 200
    await _assert_session_ended(client, tokens)
    await _assert_session_alive(client, other)


async def test_revoke_answers_200_for_a_garbage_or_unknown_token(client: httpx.AsyncClient) -> None:
    garbage = await client.post(f"{API}/auth/revoke", data={"token": "no-such-token"})
    jwt_like = await client.post(f"{API}/auth/revoke", data={"token": "aaa.bbb.ccc", "unknown": "x"})

    assert garbage.status_code == 200
    assert jwt_like.status_code == 200


async def test_my_sessions_lists_the_live_ones_and_marks_the_current_one(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    laptop = await signed_in(client, mailbox, ADA)
    phone = await login(client, ADA)
    ended = await login(client, ADA)
    await client.post(f"{API}/auth/logout", headers=bearer(ended["access_token"]))
    await signed_in(client, mailbox, GRACE)

    listed = await client.get(f"{API}/users/me/sessions", headers=bearer(phone["access_token"]))

    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {item["id"]: item["current"] for item in items} == {laptop["session_id"]: False,
                                                               phone["session_id"]: True}
    assert set(items[0]) == {"id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "current"}
    assert items[0]["ip"] == "203.0.113.7"


async def test_deleting_one_of_my_sessions_ends_its_tokens(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    laptop = await signed_in(client, mailbox, ADA)
    phone = await login(client, ADA)

    deleted = await client.delete(f"{API}/users/me/sessions/{phone['session_id']}",
                                  headers=bearer(laptop["access_token"]))

    assert deleted.status_code == 204
    await _assert_session_ended(client, phone)
    await _assert_session_alive(client, laptop)


async def test_deleting_another_users_session_is_not_found_and_leaves_it_alive(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    ada = await signed_in(client, mailbox, ADA)
    grace = await signed_in(client, mailbox, GRACE)

    deleted = await client.delete(f"{API}/users/me/sessions/{grace['session_id']}",
                                  headers=bearer(ada["access_token"]))
    unknown = await client.delete(f"{API}/users/me/sessions/SES-0000000000000000",
                                  headers=bearer(ada["access_token"]))

    assert deleted.status_code == 404 and error_code(deleted) == "not_found"
    assert unknown.status_code == 404 and error_code(unknown) == "not_found"
    await _assert_session_alive(client, grace)


async def test_a_new_instance_on_the_same_database_loads_the_revocations_at_start(
        client: httpx.AsyncClient, mailbox: Mailbox, settings: Settings, clock: FixedClock) -> None:
    tokens = await signed_in(client, mailbox, ADA)
    alive = await login(client, ADA)
    await client.post(f"{API}/auth/logout", headers=bearer(tokens["access_token"]))

    other = Container(settings, clock=clock, mail_sender=Mailbox())
    app = create_app(other)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as second:
        revoked = await _me(second, tokens["access_token"])
        live = await _me(second, alive["access_token"])

    assert revoked.status_code == 401 and error_code(revoked) == "token_revoked"
    assert live.status_code == 200
