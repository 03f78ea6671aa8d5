"""SPEC §3 Register, rule by rule, over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from auth_service.bootstrap import Container
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import API, OTHER_PASSWORD, PASSWORD, error_code, link_token, register
from tests.integration.http.stored import count, one

DAY_AND_A_SECOND = 24 * 3600 + 1


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The per-IP request limits are another rule; these tests send many requests from one address.
    return {"rate_limit_enabled": False}


async def _user(container: Container, user_id: str) -> dict[str, Any]:
    return await one(container, "SELECT * FROM users WHERE id = :id", id=user_id)


async def test_the_username_defaults_to_the_email(client: httpx.AsyncClient, container: Container) -> None:
    response = await register(client, "  Ada@Example.com ")

    assert response.status_code == 201, response.text
    assert (await _user(container, response.json()["user_id"]))["username"] == "ada@example.com"


async def test_a_username_with_an_at_sign_other_than_the_own_email_is_refused(
        client: httpx.AsyncClient, container: Container) -> None:
    response = await register(client, "ada@example.com", username="grace@example.com")

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert response.json()["error"]["details"]["fields"][0]["loc"] == ["body", "username"]
    assert await count(container, "users") == 0


async def test_a_username_spelled_like_the_own_email_in_another_case_is_the_email(
        client: httpx.AsyncClient, container: Container) -> None:
    response = await register(client, "ada@example.com", username=" Ada@Example.COM ")

    assert response.status_code == 201, response.text
    assert (await _user(container, response.json()["user_id"]))["username"] == "ada@example.com"


async def test_a_taken_username_is_refused(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com", username="countess")

    response = await register(client, "grace@example.com", username="countess")

    assert response.status_code == 409
    assert error_code(response) == "username_taken"


@pytest.mark.parametrize("spelling", ["ada@example.com", "ADA@Example.COM", "  ada@example.com\t"])
async def test_a_taken_email_is_refused_whatever_its_case_and_surrounding_spaces(
        client: httpx.AsyncClient, spelling: str) -> None:
    await register(client, "Ada@example.com")

    response = await register(client, spelling, OTHER_PASSWORD)

    assert response.status_code == 409
    assert error_code(response) == "email_taken"


async def test_an_expired_registration_reuses_the_user_with_a_new_registration_and_password(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, container: Container) -> None:
    first = (await register(client, "ada@example.com")).json()
    old_token = link_token(await mailbox.wait_for("ada@example.com", "Verify your email"))
    clock.advance(DAY_AND_A_SECOND)
    expired = await client.post(f"{API}/auth/verify-email", json={"token": old_token})
    assert expired.status_code == 410
    assert (await _user(container, first["user_id"]))["status"] == "verification_expired"

    again = await register(client, "ada@example.com", OTHER_PASSWORD)

    assert again.status_code == 201, again.text
    second = again.json()
    assert second["user_id"] == first["user_id"]
    assert second["registration_id"] != first["registration_id"]
    assert second["status"] == "pending_verification"
    new_token = link_token(await mailbox.wait_for("ada@example.com", "Verify your email", count=2))
    verified = await client.post(f"{API}/auth/verify-email", json={"token": new_token})
    assert verified.json() == {"user_id": first["user_id"], "status": "active"}
    new_login = await client.post(f"{API}/auth/login", json={"email": "ada@example.com", "password": OTHER_PASSWORD})
    assert new_login.status_code == 200
    old_login = await client.post(f"{API}/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert old_login.status_code == 401


async def test_a_pending_user_past_its_window_may_register_again_though_no_expiry_was_stored(
        client: httpx.AsyncClient, clock: FixedClock, container: Container) -> None:
    first = (await register(client, "ada@example.com")).json()
    clock.advance(DAY_AND_A_SECOND)
    assert (await _user(container, first["user_id"]))["status"] == "pending_verification"

    again = await register(client, "ada@example.com", OTHER_PASSWORD)

    assert again.status_code == 201, again.text
    assert again.json()["user_id"] == first["user_id"]
    old = await one(container, "SELECT status FROM registrations WHERE id = :id", id=first["registration_id"])
    assert old["status"] == "expired"


async def test_a_pending_user_inside_its_window_keeps_its_email(
        client: httpx.AsyncClient, clock: FixedClock) -> None:
    await register(client, "ada@example.com")
    clock.advance(DAY_AND_A_SECOND - 2)

    response = await register(client, "ada@example.com", OTHER_PASSWORD)

    assert response.status_code == 409
    assert error_code(response) == "email_taken"


async def test_a_too_short_password_is_weak(client: httpx.AsyncClient, container: Container) -> None:
    response = await register(client, "ada@example.com", "Zq8#vLp2!")

    assert response.status_code == 422
    assert error_code(response) == "weak_password"
    assert "too_short" in response.json()["error"]["details"]["reasons"]
    assert await count(container, "users") == 0


@pytest.mark.parametrize("password", ["password", "PASSWORD123456", "password123456"])
async def test_a_common_password_is_breached_which_wins_over_weak(
        client: httpx.AsyncClient, container: Container, password: str) -> None:
    response = await register(client, "ada@example.com", password)

    assert response.status_code == 422
    assert error_code(response) == "breached_password"
    assert await count(container, "users") == 0


@pytest.mark.parametrize("field", [{"role": "admin"}, {"status": "active"}, {"is_verified": True},
                                   {"company_id": "CMP-0123456789abcdef"}, {"source": "internal"}])
async def test_a_field_the_endpoint_does_not_list_is_refused_and_nothing_is_created(
        client: httpx.AsyncClient, container: Container, field: dict[str, Any]) -> None:
    response = await register(client, "ada@example.com", **field)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert [f["loc"] for f in response.json()["error"]["details"]["fields"]] == [["body", *field]]
    for table in ("users", "registrations", "email_outbox"):
        assert await count(container, table) == 0, table


async def test_a_new_user_is_a_pending_web_user_with_no_company_network_or_station(
        client: httpx.AsyncClient, clock: FixedClock, container: Container) -> None:
    response = await register(client, "ada@example.com", first_name="Ada", last_name="Lovelace")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending_verification"
    user = await _user(container, body["user_id"])
    assert user["role"] == "user"
    assert user["source"] == "web"
    assert user["company_id"] is None
    assert (user["network_id"], user["station_id"]) == ("", "")
    assert user["status"] == "pending_verification"
    assert not user["is_verified"]
    assert (user["first_name"], user["last_name"]) == ("Ada", "Lovelace")
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + timedelta(hours=24)
