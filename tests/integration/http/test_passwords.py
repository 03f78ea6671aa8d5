"""SPEC §3 Forgot password, Reset and Change password, with the e-mails of §8. On SQLite and
PostgreSQL."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from auth_service.bootstrap import Container
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import (
    API,
    OTHER_PASSWORD,
    PASSWORD,
    bearer,
    error_code,
    link_token,
    login,
    register,
    register_verified,
    signed_in,
)

ADA = "ada@example.com"
RESET_SUBJECT = "Reset your password"
RESET_LINK = "https://app.example.com/reset-password#token="  # FRONTEND_URL of the test settings


async def _forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(f"{API}/auth/forgot-password", json={"email": email})


async def _reset(client: httpx.AsyncClient, token: str, new_password: str = OTHER_PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/reset-password", json={"token": token, "new_password": new_password})


async def _reset_token(client: httpx.AsyncClient, mailbox: Mailbox, email: str, count: int = 1) -> str:
    assert (await _forgot(client, email)).status_code == 202
    return link_token(await mailbox.wait_for(email, RESET_SUBJECT, count=count))


async def _log_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password})


async def _assert_no_reset_mail_for(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> None:
    """The outbox delivers in order: once a later message arrived, an earlier one would have too."""
    await register_verified(client, mailbox, "sentinel@example.com")
    await _reset_token(client, mailbox, "sentinel@example.com")
    assert mailbox.to(email, RESET_SUBJECT) == []


async def test_forgot_password_answers_the_same_for_known_and_unknown_emails(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)

    known = await _forgot(client, ADA)
    unknown = await _forgot(client, "nobody@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    message = await mailbox.wait_for(ADA, RESET_SUBJECT)
    assert RESET_LINK in message.body
    await _assert_no_reset_mail_for(client, mailbox, "nobody@example.com")


async def test_a_pending_account_inside_its_window_gets_a_reset_mail(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register(client, ADA)

    forgot = await _forgot(client, ADA)

    assert forgot.status_code == 202
    assert RESET_LINK in (await mailbox.wait_for(ADA, RESET_SUBJECT)).body


async def test_a_pending_account_past_its_window_gets_no_reset_mail(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await register(client, ADA)
    clock.advance(24 * 3600 + 1)

    forgot = await _forgot(client, ADA)

    assert forgot.status_code == 202
    await _assert_no_reset_mail_for(client, mailbox, ADA)


async def test_a_disabled_account_gets_no_reset_mail(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    await register_verified(client, mailbox, ADA)
    async with container.engine.begin() as connection:
        await connection.execute(text("UPDATE users SET status = 'disabled' WHERE email = :email"), {"email": ADA})

    forgot = await _forgot(client, ADA)

    assert forgot.status_code == 202
    await _assert_no_reset_mail_for(client, mailbox, ADA)


async def test_resetting_sets_the_new_password_and_uses_the_token_up(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)
    token = await _reset_token(client, mailbox, ADA)

    reset = await _reset(client, token)
    again = await _reset(client, token, "another fine passphrase here")

    assert reset.status_code == 200
    assert again.status_code == 400 and error_code(again) == "invalid_token"
    assert (await _log_in(client, ADA, OTHER_PASSWORD)).status_code == 200
    assert (await _log_in(client, ADA, PASSWORD)).status_code == 401


async def test_a_reset_token_expires_after_an_hour(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await register_verified(client, mailbox, ADA)
    token = await _reset_token(client, mailbox, ADA)
    clock.advance(3600 + 1)

    reset = await _reset(client, token)

    assert reset.status_code == 400 and error_code(reset) == "invalid_token"
    assert (await _log_in(client, ADA, PASSWORD)).status_code == 200


async def test_a_newer_reset_request_voids_the_older_token(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)
    older = await _reset_token(client, mailbox, ADA)
    newer = await _reset_token(client, mailbox, ADA, count=2)

    with_older = await _reset(client, older)
    with_newer = await _reset(client, newer)

    assert with_older.status_code == 400 and error_code(with_older) == "invalid_token"
    assert with_newer.status_code == 200


async def test_a_garbage_reset_token_is_invalid(client: httpx.AsyncClient) -> None:
    reset = await _reset(client, "not-a-reset-token")

    assert reset.status_code == 400 and error_code(reset) == "invalid_token"


async def test_a_reset_revokes_every_session_and_sends_a_security_alert(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    laptop = await signed_in(client, mailbox, ADA)
    phone = await login(client, ADA)
    token = await _reset_token(client, mailbox, ADA)

    reset = await _reset(client, token)

    assert reset.status_code == 200
    for tokens in (laptop, phone):
        me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 401 and error_code(me) == "token_revoked"
        refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 401 and error_code(refreshed) == "token_revoked"
    assert "reset" in (await mailbox.wait_for(ADA, "Security alert")).body


async def test_a_reset_clears_the_lockout_so_the_new_password_works_at_once(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)
    for _ in range(5):
        await _log_in(client, ADA, "wrong password entirely")
    locked = await _log_in(client, ADA, PASSWORD)
    token = await _reset_token(client, mailbox, ADA)

    reset = await _reset(client, token)

    assert locked.status_code == 429 and error_code(locked) == "account_locked"
    assert reset.status_code == 200
    assert (await _log_in(client, ADA, OTHER_PASSWORD)).status_code == 200


async def test_a_reset_verifies_a_pending_account(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register(client, ADA)
    token = await _reset_token(client, mailbox, ADA)

    reset = await _reset(client, token)

    assert reset.status_code == 200
    logged_in = await _log_in(client, ADA, OTHER_PASSWORD)
    assert logged_in.status_code == 200, logged_in.text
    assert logged_in.json()["user"]["status"] == "active" and logged_in.json()["user"]["is_verified"] is True


async def test_a_weak_new_password_is_refused_without_using_the_token_up(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)
    token = await _reset_token(client, mailbox, ADA)

    weak = await _reset(client, token, "short")

    assert weak.status_code == 422 and error_code(weak) == "weak_password"
    assert (await _reset(client, token)).status_code == 200


async def test_changing_the_password_needs_the_current_one(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    changed = await client.post(f"{API}/auth/change-password", headers=bearer(tokens["access_token"]),
                                json={"current_password": "not my password at all", "new_password": OTHER_PASSWORD})

    assert changed.status_code == 400 and error_code(changed) == "invalid_credentials"
    assert (await _log_in(client, ADA, PASSWORD)).status_code == 200


async def test_changing_the_password_keeps_this_session_and_ends_the_others(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    laptop = await signed_in(client, mailbox, ADA)
    phone = await login(client, ADA)

    changed = await client.post(f"{API}/auth/change-password", headers=bearer(laptop["access_token"]),
                                json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD})

    assert changed.status_code == 200
    assert (await client.get(f"{API}/users/me", headers=bearer(laptop["access_token"]))).status_code == 200
    kept = await client.post(f"{API}/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert kept.status_code == 200
    ended = await client.get(f"{API}/users/me", headers=bearer(phone["access_token"]))
    assert ended.status_code == 401 and error_code(ended) == "token_revoked"
    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert refreshed.status_code == 401 and error_code(refreshed) == "token_revoked"


async def test_after_a_change_the_new_password_works_the_old_one_not_and_an_alert_is_sent(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    await client.post(f"{API}/auth/change-password", headers=bearer(tokens["access_token"]),
                      json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD})

    assert (await _log_in(client, ADA, OTHER_PASSWORD)).status_code == 200
    old = await _log_in(client, ADA, PASSWORD)
    assert old.status_code == 401 and error_code(old) == "invalid_credentials"
    assert "changed" in (await mailbox.wait_for(ADA, "Security alert")).body


async def test_patch_security_password_is_the_same_change_of_password(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, ADA)

    wrong = await client.patch(f"{API}/security/password", headers=bearer(tokens["access_token"]),
                               json={"current_password": OTHER_PASSWORD, "new_password": OTHER_PASSWORD})
    changed = await client.patch(f"{API}/security/password", headers=bearer(tokens["access_token"]),
                                 json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD})

    assert wrong.status_code == 400 and error_code(wrong) == "invalid_credentials"
    assert changed.status_code == 200
    assert (await _log_in(client, ADA, OTHER_PASSWORD)).status_code == 200
