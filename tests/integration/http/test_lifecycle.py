"""The happy path of SPEC §3 end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.doubles import Mailbox
from tests.integration.http.flows import API, PASSWORD, bearer, error_code, link_token, login, register


async def test_register_verify_by_link_login_refresh_logout(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    registered = await register(client, "  Ada@Example.com ")
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["email"] == "ada@example.com"
    assert body["status"] == "pending_verification"
    assert body["registration_id"].startswith("REG-") and body["user_id"].startswith("USR-")

    message = await mailbox.wait_for("ada@example.com", "Verify your email")
    verified = await client.post(f"{API}/auth/verify-email", json={"token": link_token(message)})
    assert verified.json() == {"user_id": body["user_id"], "status": "active"}

    tokens = await login(client, "ada@example.com")
    assert tokens["token_type"] == "Bearer"
    assert tokens["user"]["id"] == body["user_id"] and tokens["user"]["is_verified"] is True
    me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == "ada@example.com"

    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"] and new["session_id"] == tokens["session_id"]

    logout = await client.post(f"{API}/auth/logout", headers=bearer(new["access_token"]))
    assert logout.status_code == 204
    for token in (tokens["access_token"], new["access_token"]):
        after = await client.get(f"{API}/users/me", headers=bearer(token))
        assert after.status_code == 401 and error_code(after) == "token_revoked"
    again = await client.post(f"{API}/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert again.status_code == 401 and error_code(again) == "token_revoked"


async def test_verification_by_code(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register(client, "grace@example.com")
    message = await mailbox.wait_for("grace@example.com", "Verify your email")
    code = next(line.split(": ")[1] for line in message.body.splitlines() if line.startswith("Verification code: "))

    verified = await client.post(f"{API}/auth/verify-email", json={"email": "GRACE@example.com", "code": code})

    assert verified.status_code == 200 and verified.json()["status"] == "active"
    assert (await client.post(f"{API}/auth/login", json={"email": "grace@example.com",
                                                          "password": PASSWORD})).status_code == 200
