"""SPEC §4 GET and PATCH /users/me: a user edits only their own profile fields. On SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.doubles import Mailbox
from tests.integration.http.flows import API, bearer, error_code, signed_in

ADA = "ada@example.com"


async def _patch(client: httpx.AsyncClient, access_token: str, body: dict[str, Any]) -> httpx.Response:
    return await client.patch(f"{API}/users/me", headers=bearer(access_token), json=body)


async def _me(client: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
    response = await client.get(f"{API}/users/me", headers=bearer(access_token))
    assert response.status_code == 200, response.text
    me: dict[str, Any] = response.json()
    return me


async def test_get_me_returns_the_user_object_without_secrets(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    me = await _me(client, tokens["access_token"])

    assert me["id"] == tokens["user"]["id"] and me["email"] == ADA and me["username"] == ADA
    assert me["status"] == "active" and me["is_active"] is True and me["is_verified"] is True
    assert not {"password", "password_hash"} & set(me)


async def test_patch_me_updates_the_profile_fields(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)
    body = {"username": "ada", "first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0958",
            "photo": "https://cdn.example.com/ada.png", "profile": {"theme": "dark", "langs": ["en", "fr"]}}

    patched = await _patch(client, tokens["access_token"], body)

    assert patched.status_code == 200, patched.text
    assert {name: patched.json()[name] for name in body} == body
    assert patched.json()["updated_by"] == tokens["user"]["id"]
    me = await _me(client, tokens["access_token"])
    assert {name: me[name] for name in body} == body


async def test_fields_left_out_keep_their_value_and_an_explicit_null_clears_one(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)
    await _patch(client, tokens["access_token"], {"first_name": "Ada", "last_name": "Lovelace",
                                                  "photo": "https://cdn.example.com/ada.png",
                                                  "profile": {"theme": "dark"}})

    patched = await _patch(client, tokens["access_token"], {"last_name": None, "photo": None, "profile": None})

    assert patched.status_code == 200, patched.text
    me = await _me(client, tokens["access_token"])
    assert me["first_name"] == "Ada"
    assert me["last_name"] is None and me["photo"] is None and me["profile"] == {}


@pytest.mark.parametrize("field, value", [
    ("role", "admin"), ("company_id", "CMP-0000000000000000"), ("is_verified", False),
    ("status", "disabled"), ("email", "eve@example.com"), ("source", "internal"),
])
async def test_fields_a_user_may_not_set_are_refused_and_nothing_changes(
        client: httpx.AsyncClient, mailbox: Mailbox, field: str, value: object) -> None:
    tokens = await signed_in(client, mailbox, ADA)
    before = await _me(client, tokens["access_token"])

    patched = await _patch(client, tokens["access_token"], {"first_name": "Mallory", field: value})

    assert patched.status_code == 422 and error_code(patched) == "validation_error"
    assert await _me(client, tokens["access_token"]) == before


async def test_a_photo_must_be_an_https_url(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    patched = await _patch(client, tokens["access_token"], {"photo": "http://cdn.example.com/ada.png"})

    assert patched.status_code == 422 and error_code(patched) == "validation_error"
    assert (await _me(client, tokens["access_token"]))["photo"] is None


async def test_a_profile_over_16_kib_is_refused(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    patched = await _patch(client, tokens["access_token"], {"profile": {"notes": "x" * (16 * 1024)}})

    assert patched.status_code == 422 and error_code(patched) == "validation_error"
    assert (await _me(client, tokens["access_token"]))["profile"] == {}


async def test_a_profile_integer_past_64_bits_is_refused_not_a_500(client: httpx.AsyncClient,
                                                                    mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)
    body = '{"profile": {"n": 123456789012345678901234567890}}'

    patched = await client.patch("/api/v1/users/me", content=body, headers={
        "Authorization": f"Bearer {tokens['access_token']}", "Content-Type": "application/json"})

    assert patched.status_code == 422 and error_code(patched) == "validation_error"
    assert (await _me(client, tokens["access_token"]))["profile"] == {}


async def test_a_username_taken_by_someone_else_is_a_conflict(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    grace = await signed_in(client, mailbox, "grace@example.com")
    await _patch(client, grace["access_token"], {"username": "grace"})
    tokens = await signed_in(client, mailbox, ADA)
    await _patch(client, tokens["access_token"], {"username": "ada"})

    taken = await _patch(client, tokens["access_token"], {"username": "grace"})
    own = await _patch(client, tokens["access_token"], {"username": "ada"})

    assert taken.status_code == 409 and error_code(taken) == "username_taken"
    assert own.status_code == 200


async def test_a_username_with_an_at_sign_must_be_my_own_email(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)
    await _patch(client, tokens["access_token"], {"username": "ada"})

    foreign = await _patch(client, tokens["access_token"], {"username": "ada@elsewhere.example"})
    own = await _patch(client, tokens["access_token"], {"username": ADA})

    assert foreign.status_code == 422 and error_code(foreign) == "validation_error"
    assert own.status_code == 200 and own.json()["username"] == ADA


async def test_a_username_cannot_be_cleared(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    cleared = await _patch(client, tokens["access_token"], {"username": None})

    assert cleared.status_code == 422 and error_code(cleared) == "validation_error"
    assert (await _me(client, tokens["access_token"]))["username"] == ADA
