"""RFC 7662 introspection (SPEC §3): for clients of INTROSPECTION_CLIENTS (the conftest configures
`resource-server:rs-secret`) and for admins; revocation is immediate here."""

from __future__ import annotations

from typing import Any

import httpx

from auth_service.application.commands.create_admin import CreateAdmin
from auth_service.bootstrap import Container
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import API, PASSWORD, bearer, error_code, login, signed_in

INTROSPECT = f"{API}/auth/introspect"
RESOURCE_SERVER = ("resource-server", "rs-secret")


async def _introspect(client: httpx.AsyncClient, token: str, **kwargs: Any) -> httpx.Response:
    return await client.post(INTROSPECT, data={"token": token}, **kwargs)


async def test_a_resource_server_sees_a_live_token_active_with_its_claims(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    claims = (await client.get(f"{API}/auth/validate-token", headers=bearer(tokens["access_token"]))).json()["claims"]

    response = await _introspect(client, tokens["access_token"], auth=RESOURCE_SERVER)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert {name: body[name] for name in claims} == claims


async def test_a_token_of_a_logged_out_session_is_inactive_at_once(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    assert (await client.post(f"{API}/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204

    response = await _introspect(client, tokens["access_token"], auth=RESOURCE_SERVER)

    assert response.status_code == 200
    assert response.json() == {"active": False}


async def test_an_expired_token_is_inactive(client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    clock.advance(tokens["expires_in"] + 1)

    response = await _introspect(client, tokens["access_token"], auth=RESOURCE_SERVER)

    assert response.json() == {"active": False}


async def test_garbage_and_refresh_tokens_are_inactive(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")

    responses = [await _introspect(client, token, auth=RESOURCE_SERVER)
                 for token in ("garbage", "a.b.c", tokens["refresh_token"])]

    assert [(r.status_code, r.json()) for r in responses] == [(200, {"active": False})] * 3


async def test_a_wrong_client_secret_is_refused_with_a_basic_challenge(client: httpx.AsyncClient) -> None:
    for auth in (("resource-server", "wrong"), ("unknown-client", "rs-secret"), None):
        response = await _introspect(client, "garbage", auth=auth)

        assert response.status_code == 401, auth
        assert error_code(response) == "unauthenticated"
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_user_who_is_not_an_admin_may_not_introspect(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")

    response = await _introspect(client, tokens["access_token"], headers=bearer(tokens["access_token"]))

    assert response.status_code == 403
    assert error_code(response) == "forbidden"


async def test_an_admin_may_introspect_with_a_bearer_token(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    user = await signed_in(client, mailbox, "ada@example.com")
    await container.create_admin(CreateAdmin(email="root@example.com", password=PASSWORD))
    admin = await login(client, "root@example.com")

    response = await _introspect(client, user["access_token"], headers=bearer(admin["access_token"]))

    assert response.status_code == 200
    assert response.json()["active"] is True
    assert response.json()["user_id"] == user["user"]["id"]
