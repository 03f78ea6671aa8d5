"""SPEC §3 Verify and Resend, rule by rule, over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.bootstrap import Container
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import API, error_code, link_token, register, verification_code
from tests.integration.http.stored import count, one, rows

DAY_AND_A_SECOND = 24 * 3600 + 1
ADA, NOBODY = "ada@example.com", "nobody@example.com"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The per-IP request limits are another rule; resend and wrong-code limits never turn off.
    return {"rate_limit_enabled": False}


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def _by_token(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/verify-email", json={"token": token})


async def _by_code(client: httpx.AsyncClient, email: str, code: str) -> httpx.Response:
    return await client.post(f"{API}/auth/verify-email", json={"email": email, "code": code})


async def _resend(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(f"{API}/auth/verify-email/resend", json={"email": email})


async def _registered(client: httpx.AsyncClient, mailbox: Mailbox, email: str = ADA) -> tuple[str, str, str]:
    """Register `email`; return its user id, link token and code."""
    response = await register(client, email)
    assert response.status_code == 201, response.text
    message = await mailbox.wait_for(email, "Verify your email")
    return response.json()["user_id"], link_token(message), verification_code(message)


def _answer(response: httpx.Response) -> tuple[int, str, str, Any, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"], error["details"], response.headers.get("retry-after")


# -- Verify -----------------------------------------------------------------------------------------
async def test_the_link_token_activates_the_account(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    user_id, token, _ = await _registered(client, mailbox)

    response = await _by_token(client, token)

    assert response.status_code == 200
    assert response.json() == {"user_id": user_id, "status": "active"}
    user = await one(container, "SELECT status, is_verified FROM users WHERE id = :id", id=user_id)
    assert user["status"] == "active" and user["is_verified"]


async def test_the_code_activates_the_account(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    user_id, _, code = await _registered(client, mailbox)

    response = await _by_code(client, " Ada@Example.com ", code)

    assert response.status_code == 200
    assert response.json() == {"user_id": user_id, "status": "active"}


@pytest.mark.parametrize("way", ["token", "code"])
async def test_a_verification_past_its_window_is_gone_and_the_account_expires(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, container: Container, way: str) -> None:
    user_id, token, code = await _registered(client, mailbox)
    clock.advance(DAY_AND_A_SECOND)

    response = await (_by_token(client, token) if way == "token" else _by_code(client, ADA, code))

    assert response.status_code == 410
    assert error_code(response) == "verification_expired"
    user = await one(container, "SELECT status, is_verified FROM users WHERE id = :id", id=user_id)
    assert user["status"] == "verification_expired" and not user["is_verified"]
    registration = await one(container, "SELECT status FROM registrations WHERE user_id = :id", id=user_id)
    assert registration["status"] == "expired"


async def test_a_wrong_code_is_refused(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    _, _, code = await _registered(client, mailbox)

    response = await _by_code(client, ADA, _wrong(code))

    assert response.status_code == 400
    assert error_code(response) == "invalid_verification_code"


async def test_the_fifth_wrong_code_is_refused_and_then_even_the_right_code_is_too_many(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    _, _, code = await _registered(client, mailbox)
    answers = [(await _by_code(client, ADA, _wrong(code))).status_code for _ in range(5)]
    clock.advance(20)

    response = await _by_code(client, ADA, code)

    assert answers == [400] * 5
    assert response.status_code == 429
    assert error_code(response) == "too_many_attempts"
    assert response.headers["retry-after"] == "40"  # until the cooldown registering started allows a resend


async def test_a_dead_code_says_a_resend_is_allowed_now_once_the_cooldown_is_over(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    _, _, code = await _registered(client, mailbox)
    for _ in range(5):
        await _by_code(client, ADA, _wrong(code))
    clock.advance(61)

    response = await _by_code(client, ADA, code)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "0"


async def test_wrong_codes_for_an_unknown_email_are_counted_with_the_same_answers(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    _, _, code = await _registered(client, mailbox)
    clock.advance(61)

    pairs = [(_answer(await _by_code(client, ADA, _wrong(code))),
              _answer(await _by_code(client, NOBODY, _wrong(code)))) for _ in range(6)]

    assert all(known == unknown for known, unknown in pairs), pairs
    assert [known[0] for known, _ in pairs] == [400] * 5 + [429]


async def test_the_link_token_still_works_after_the_code_is_dead(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    user_id, token, code = await _registered(client, mailbox)
    for _ in range(6):
        await _by_code(client, ADA, _wrong(code))

    response = await _by_token(client, token)

    assert response.json() == {"user_id": user_id, "status": "active"}


async def test_a_resend_brings_a_new_code_that_works_and_a_fresh_count(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    user_id, _, old_code = await _registered(client, mailbox)
    for _ in range(5):
        await _by_code(client, ADA, _wrong(old_code))
    clock.advance(61)
    assert (await _resend(client, ADA)).status_code == 200
    new_code = verification_code(await mailbox.wait_for(ADA, "Verify your email", count=2))

    wrong = [(await _by_code(client, ADA, _wrong(new_code))).status_code for _ in range(4)]
    right = await _by_code(client, ADA, new_code)

    assert wrong == [400] * 4
    assert right.json() == {"user_id": user_id, "status": "active"}


async def test_a_resend_revives_the_code_of_an_unknown_email_just_as_of_a_known_one(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    _, _, code = await _registered(client, mailbox)
    clock.advance(61)
    for email in (ADA, NOBODY):
        for _ in range(5):
            await _by_code(client, email, _wrong(code))
        await _resend(client, email)

    known, unknown = await _by_code(client, ADA, _wrong(code)), await _by_code(client, NOBODY, _wrong(code))

    assert _answer(known) == _answer(unknown)
    assert known.status_code == 400


async def test_after_a_resend_the_old_token_and_code_no_longer_work(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    user_id, old_token, old_code = await _registered(client, mailbox)
    clock.advance(61)
    await _resend(client, ADA)
    new_token = link_token(await mailbox.wait_for(ADA, "Verify your email", count=2))

    by_old_token, by_old_code = await _by_token(client, old_token), await _by_code(client, ADA, old_code)

    assert (by_old_token.status_code, error_code(by_old_token)) == (400, "invalid_token")
    assert (by_old_code.status_code, error_code(by_old_code)) == (400, "invalid_verification_code")
    assert (await _by_token(client, new_token)).json() == {"user_id": user_id, "status": "active"}


@pytest.mark.parametrize("way", ["token", "code"])
async def test_a_used_token_or_code_is_idempotent_even_after_the_window(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, container: Container, way: str) -> None:
    user_id, token, code = await _registered(client, mailbox)
    assert (await _by_token(client, token) if way == "token" else await _by_code(client, ADA, code)).status_code == 200
    user_sql = "SELECT status, updated_at FROM users WHERE id = :id"
    before = await one(container, user_sql, id=user_id)
    clock.advance(DAY_AND_A_SECOND)

    again = await (_by_token(client, token) if way == "token" else _by_code(client, ADA, code))

    assert again.status_code == 200
    assert again.json() == {"user_id": user_id, "status": "active"}
    assert await one(container, user_sql, id=user_id) == before  # nothing changes
    verified = await rows(container, "SELECT id FROM audit_logs WHERE action = 'user.email_verified'")
    assert len(verified) == 1


# -- Resend -----------------------------------------------------------------------------------------
async def test_a_resend_answers_the_same_for_known_and_unknown_emails(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await _registered(client, mailbox)
    clock.advance(61)

    known, unknown = await _resend(client, ADA), await _resend(client, NOBODY)

    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 200 and set(known.json()) == {"message"}
    await mailbox.wait_for(ADA, "Verify your email", count=2)


@pytest.mark.parametrize("email", [ADA, NOBODY])
async def test_a_second_resend_within_the_cooldown_is_rate_limited(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, email: str) -> None:
    await _registered(client, mailbox)
    clock.advance(61)
    assert (await _resend(client, email)).status_code == 200
    clock.advance(45)

    response = await _resend(client, email)

    assert response.status_code == 429
    assert error_code(response) == "rate_limited"
    assert response.headers["retry-after"] == "15"


async def test_registering_starts_the_resend_cooldown(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await _registered(client, mailbox)
    clock.advance(10)

    response = await _resend(client, ADA)

    assert response.status_code == 429
    assert error_code(response) == "rate_limited"
    assert response.headers["retry-after"] == "50"


@pytest.mark.parametrize("email", [ADA, NOBODY])
async def test_five_resends_per_registration_window_then_rate_limited_until_it_ends(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, email: str) -> None:
    await _registered(client, mailbox)
    answers = []
    for _ in range(5):
        clock.advance(61)
        answers.append((await _resend(client, email)).status_code)
    clock.advance(61)

    response = await _resend(client, email)

    assert answers == [200] * 5
    assert response.status_code == 429
    assert error_code(response) == "rate_limited"
    # Known: the registration's window; unknown: a window opened by its first resend.
    window_left = 24 * 3600 - (6 * 61 if email == ADA else 5 * 61)
    assert response.headers["retry-after"] == str(window_left)


async def test_a_resend_for_an_expired_registration_answers_the_same_and_sends_nothing(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, container: Container) -> None:
    await _registered(client, mailbox)
    clock.advance(DAY_AND_A_SECOND)
    queued = await count(container, "email_outbox")

    expired, unknown = await _resend(client, ADA), await _resend(client, NOBODY)

    assert (expired.status_code, expired.json()) == (unknown.status_code, unknown.json())
    assert expired.status_code == 200
    assert await count(container, "email_outbox") == queued
