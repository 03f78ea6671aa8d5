"""SPEC §3 Login and Lockout, rule by rule, over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from auth_service.bootstrap import Container, Settings
from auth_service.interfaces.http.app import create_app
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import API, OTHER_PASSWORD, PASSWORD, bearer, error_code, register, register_verified
from tests.integration.http.stored import as_dict, one, rows

ADA, NOBODY = "ada@example.com", "nobody@example.com"
DAY_AND_A_SECOND = 24 * 3600 + 1
TWELVE_HOURS_AND_A_SECOND = 12 * 3600 + 1


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The per-IP and per-email request limits are another rule (SPEC §7); lockout never turns off.
    return {"rate_limit_enabled": False}


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password})


async def _grant(client: httpx.AsyncClient, email: str, password: str, **extra: str) -> httpx.Response:
    form = {"grant_type": "password", "username": email, "password": password, **extra}
    return await client.post(f"{API}/auth/token", data=form)


def _answer(response: httpx.Response) -> tuple[int, str, str, Any, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"], error["details"], response.headers.get("retry-after")


async def _fail(client: httpx.AsyncClient, email: str, times: int) -> list[int]:
    return [(await _login(client, email, OTHER_PASSWORD)).status_code for _ in range(times)]


async def _audit(container: Container, action: str) -> list[dict[str, Any]]:
    return await rows(container, "SELECT * FROM audit_logs WHERE action = :action ORDER BY occurred_at", action=action)


@asynccontextmanager
async def _client_of(settings: Settings, clock: FixedClock, mailbox: Mailbox) -> AsyncIterator[httpx.AsyncClient]:
    """Another instance of the service on the same database, e.g. after a configuration change."""
    app = create_app(Container(settings, clock=clock, mail_sender=mailbox))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


# -- Login ------------------------------------------------------------------------------------------
async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)

    wrong_password, unknown_email = await _login(client, ADA, OTHER_PASSWORD), await _login(client, NOBODY, PASSWORD)

    assert _answer(wrong_password) == _answer(unknown_email)
    assert (wrong_password.status_code, error_code(wrong_password)) == (401, "invalid_credentials")
    assert wrong_password.headers["www-authenticate"] == unknown_email.headers["www-authenticate"]


@pytest.mark.parametrize("expired", [False, True], ids=["pending", "expired"])
async def test_an_unverified_account_is_told_so_only_after_the_right_password(
        client: httpx.AsyncClient, clock: FixedClock, expired: bool) -> None:
    await register(client, ADA)
    if expired:
        clock.advance(DAY_AND_A_SECOND)

    right, wrong = await _login(client, ADA, PASSWORD), await _login(client, ADA, OTHER_PASSWORD)

    assert (right.status_code, error_code(right)) == (403, "email_not_verified")
    assert (wrong.status_code, error_code(wrong)) == (401, "invalid_credentials")


async def test_the_password_grant_issues_a_token_pair_and_ignores_unknown_parameters(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    user_id = await register_verified(client, mailbox, ADA)

    response = await _grant(client, " Ada@Example.com", PASSWORD, scope="openid", client_id="swagger",
                            audience="anything", nonsense="ignored")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["user"]["id"] == user_id
    assert (await client.get(f"{API}/users/me", headers=bearer(body["access_token"]))).status_code == 200


@pytest.mark.parametrize("grant_type", ["client_credentials", "refresh_token", "authorization_code"])
async def test_a_grant_type_other_than_password_is_a_bad_request(
        client: httpx.AsyncClient, mailbox: Mailbox, grant_type: str) -> None:
    await register_verified(client, mailbox, ADA)

    response = await _grant(client, ADA, PASSWORD, grant_type=grant_type)

    assert response.status_code == 400
    assert error_code(response) == "bad_request"


async def test_a_login_records_when_it_happened(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, container: Container) -> None:
    user_id = await register_verified(client, mailbox, ADA)
    clock.advance(3600)

    tokens = (await _login(client, ADA, PASSWORD)).json()

    me = (await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))).json()
    assert datetime.fromisoformat(me["last_login_at"]) == clock.now()
    stored = await one(container, "SELECT last_login_at FROM users WHERE id = :id", id=user_id)
    assert stored["last_login_at"] is not None


async def test_a_login_upgrades_the_stored_hash_when_the_hashing_parameters_changed(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, container: Container,
        settings: Settings) -> None:
    user_id = await register_verified(client, mailbox, ADA)
    assert (await _login(client, ADA, PASSWORD)).status_code == 200
    old_hash = (await one(container, "SELECT password_hash FROM users WHERE id = :id", id=user_id))["password_hash"]
    assert ",t=1," in old_hash  # a login with unchanged parameters keeps the hash
    stronger = settings.model_copy(update={"argon2_time_cost": 2})

    async with _client_of(stronger, clock, mailbox) as upgraded:
        response = await _login(upgraded, ADA, PASSWORD)

    assert response.status_code == 200
    new_hash = (await one(container, "SELECT password_hash FROM users WHERE id = :id", id=user_id))["password_hash"]
    assert ",t=2," in new_hash
    assert (await _login(client, ADA, PASSWORD)).status_code == 200


# -- Lockout ----------------------------------------------------------------------------------------
async def test_five_failures_are_answered_normally_then_even_the_right_password_is_locked_out(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)

    failures = await _fail(client, ADA, 5)
    locked = await _login(client, ADA, PASSWORD)

    assert failures == [401] * 5
    assert (locked.status_code, error_code(locked)) == (429, "account_locked")
    assert locked.headers["retry-after"] == "60"


async def test_attempts_during_a_lock_neither_count_nor_extend_it(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await register_verified(client, mailbox, ADA)
    await _fail(client, ADA, 5)
    clock.advance(30)
    during = [await _login(client, ADA, OTHER_PASSWORD) for _ in range(3)]
    clock.advance(30)

    response = await _login(client, ADA, PASSWORD)

    assert [r.headers["retry-after"] for r in during] == ["30"] * 3
    assert response.status_code == 200


async def test_concurrent_failures_lock_once_and_never_extend_the_lock(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    await register_verified(client, mailbox, ADA)
    await _fail(client, ADA, 4)

    burst = await asyncio.gather(*(_login(client, ADA, OTHER_PASSWORD) for _ in range(6)))
    locked = await _login(client, ADA, PASSWORD)

    assert {r.status_code for r in burst} <= {401, 429}
    assert (locked.status_code, locked.headers["retry-after"]) == (429, "60")
    assert len(await _audit(container, "auth.account_locked")) == 1


async def test_each_failure_after_a_lock_locks_twice_as_long_up_to_the_maximum(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await register_verified(client, mailbox, ADA)
    await _fail(client, ADA, 5)
    waits, failures, lock = [], [], 60

    for _ in range(6):
        clock.advance(lock)
        failures += await _fail(client, ADA, 1)
        lock = int((await _login(client, ADA, PASSWORD)).headers["retry-after"])
        waits.append(lock)

    assert failures == [401] * 6
    assert waits == [120, 240, 480, 900, 900, 900]


async def test_failures_older_than_the_reset_period_stop_counting(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await register_verified(client, mailbox, ADA)
    await _fail(client, ADA, 4)
    clock.advance(TWELVE_HOURS_AND_A_SECOND)

    failures = await _fail(client, ADA, 4)
    response = await _login(client, ADA, PASSWORD)

    assert failures == [401] * 4
    assert response.status_code == 200


async def test_a_lock_is_forgotten_with_the_failures_past_the_reset_period(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await register_verified(client, mailbox, ADA)
    await _fail(client, ADA, 5)
    clock.advance(TWELVE_HOURS_AND_A_SECOND)

    failures = await _fail(client, ADA, 5)
    locked = await _login(client, ADA, PASSWORD)

    assert failures == [401] * 5
    assert locked.headers["retry-after"] == "60"  # a first lock again, not a doubled one


async def test_a_successful_login_clears_the_count_and_the_doubling(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await register_verified(client, mailbox, ADA)
    await _fail(client, ADA, 5)
    clock.advance(60)
    assert (await _login(client, ADA, PASSWORD)).status_code == 200

    failures = await _fail(client, ADA, 5)
    locked = await _login(client, ADA, PASSWORD)

    assert failures == [401] * 5
    assert (locked.status_code, locked.headers["retry-after"]) == (429, "60")


async def test_an_unknown_email_is_locked_the_same_way_with_the_same_answers(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock) -> None:
    await register_verified(client, mailbox, ADA)
    answers = []

    for advance in (0, 0, 0, 0, 0, 0, 30, 30, 0):
        clock.advance(advance)
        known, unknown = await _login(client, ADA, OTHER_PASSWORD), await _login(client, NOBODY, OTHER_PASSWORD)
        answers.append((_answer(known), _answer(unknown)))

    assert all(known == unknown for known, unknown in answers), answers
    assert [known[0] for known, _ in answers] == [401] * 5 + [429, 429, 401, 429]
    assert [known[4] for known, _ in answers][-1] == "120"


async def test_password_grant_failures_count_toward_the_same_lock(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)
    failures = await _fail(client, ADA, 3)
    failures += [(await _grant(client, ADA, OTHER_PASSWORD)).status_code for _ in range(2)]

    by_login, by_grant = await _login(client, ADA, PASSWORD), await _grant(client, ADA, PASSWORD)

    assert failures == [401] * 5
    assert _answer(by_login) == _answer(by_grant)
    assert (by_login.status_code, error_code(by_login)) == (429, "account_locked")


async def test_each_lock_is_audited_exactly_once(
        client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, container: Container) -> None:
    user_id = await register_verified(client, mailbox, ADA)
    await _fail(client, ADA, 5)
    for _ in range(3):
        await _login(client, ADA, PASSWORD)
    first = await _audit(container, "auth.account_locked")
    clock.advance(60)

    await _fail(client, ADA, 1)
    for _ in range(3):
        await _login(client, ADA, OTHER_PASSWORD)

    locks = await _audit(container, "auth.account_locked")
    assert len(first) == 1 and len(locks) == 2
    assert [(lock["actor_id"], lock["outcome"]) for lock in locks] == [(user_id, "failure")] * 2
    assert [as_dict(lock["details"])["locked_seconds"] for lock in locks] == [60, 120]


async def test_failed_logins_for_an_unknown_email_keep_no_trace_of_what_was_typed(
        client: httpx.AsyncClient, container: Container) -> None:
    typed = "Hunter2Secret@Example.org"

    for _ in range(5):
        await _login(client, typed, OTHER_PASSWORD)

    failed, locked = await _audit(container, "auth.login_failed"), await _audit(container, "auth.account_locked")
    assert len(failed) == 5 and len(locked) == 1
    for record in failed + locked:
        assert typed.lower() not in str(record).lower()
        assert "hunter2" not in str(record).lower()
        assert record["actor_id"] is None
    identifiers = {as_dict(record["details"])["identifier"] for record in failed + locked}
    assert len(identifiers) == 1  # a keyed hash: the same for the same address, so attempts correlate
