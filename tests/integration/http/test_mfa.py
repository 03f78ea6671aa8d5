"""Acceptance 1 of issue 5, over HTTP (SPEC §3 MFA challenge, §7): enrolment, confirmation, the
login challenge with a TOTP code and with a backup code, single use of both, regeneration,
disabling, the wrong-code answers and limits, Security alert messages and audit records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pyotp

from auth_service.bootstrap import Container
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import API, PASSWORD, bearer, error_code, login, signed_in
from tests.integration.http.stored import rows

EMAIL = "mfa.user@example.com"
STEP = 30


def totp(secret: str, clock: FixedClock) -> str:
    """The code an authenticator app shows at the service's current time."""
    return pyotp.TOTP(secret).at(clock.now())


def wrong_code(secret: str, clock: FixedClock) -> str:
    """A six-digit code that is none of the codes accepted now (±1 step)."""
    accepted = {pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=STEP * offset)) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)


async def enrolled(client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock,
                   email: str = EMAIL) -> tuple[dict[str, Any], str, list[str]]:
    """A signed-in user with MFA on: its tokens, TOTP secret and backup codes. The clock is moved
    to the next step, so the code used to confirm is not a replay for the caller."""
    tokens = await signed_in(client, mailbox, email)
    enabled = await client.post(f"{API}/auth/mfa/enable", headers=bearer(tokens["access_token"]),
                                json={"password": PASSWORD})
    assert enabled.status_code == 200, enabled.text
    secret: str = enabled.json()["secret"]
    confirmed = await client.post(f"{API}/security/mfa/verify", headers=bearer(tokens["access_token"]),
                                  json={"code": totp(secret, clock)})
    assert confirmed.status_code == 200, confirmed.text
    # Delivered before the clock jumps: a jump of half the outbox lease while the worker holds the
    # message makes it wait out the lease (60 s of this fixed clock), which no later step reaches.
    await mailbox.wait_for(email, "Security alert")
    clock.advance(STEP)
    return tokens, secret, list(confirmed.json()["backup_codes"])


async def challenge(client: httpx.AsyncClient, email: str = EMAIL) -> str:
    response = await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfa_required"] is True and "access_token" not in body, body
    mfa_token: str = body["mfa_token"]
    return mfa_token


async def verify(client: httpx.AsyncClient, mfa_token: str, code: str) -> httpx.Response:
    return await client.post(f"{API}/auth/mfa/verify", json={"mfa_token": mfa_token, "code": code})


def assert_token_pair(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"], body
    assert body["user"]["mfa_enabled"] is True
    return body


async def successful_audit_actions(container: Container, action: str) -> int:
    found = await rows(container, "SELECT id FROM audit_logs WHERE action = :action AND outcome = 'success'",
                       action=action)
    return len(found)


async def test_enrolment_and_login_with_totp_and_backup_codes(client: httpx.AsyncClient, clock: FixedClock,
                                                              mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, EMAIL)
    auth = bearer(tokens["access_token"])
    assert tokens["user"]["mfa_enabled"] is False

    wrong_password = await client.post(f"{API}/auth/mfa/enable", headers=auth, json={"password": "not the password!"})
    assert wrong_password.status_code == 400 and error_code(wrong_password) == "invalid_credentials"

    enabled = await client.post(f"{API}/auth/mfa/enable", headers=auth, json={"password": PASSWORD})
    assert enabled.status_code == 200, enabled.text
    secret, uri = enabled.json()["secret"], enabled.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert enabled.headers["Cache-Control"] == "no-store"
    # Pending until confirmed: a login still gives tokens directly.
    assert "access_token" in await login(client, EMAIL)

    wrong = await client.post(f"{API}/security/mfa/verify", headers=auth, json={"code": wrong_code(secret, clock)})
    assert wrong.status_code == 400 and error_code(wrong) == "invalid_mfa_code"

    confirmed = await client.post(f"{API}/security/mfa/verify", headers=auth, json={"code": totp(secret, clock)})
    assert confirmed.status_code == 200, confirmed.text
    backup_codes = confirmed.json()["backup_codes"]
    assert len(backup_codes) == 10 and len(set(backup_codes)) == 10
    me = await client.get(f"{API}/users/me", headers=auth)
    assert me.json()["mfa_enabled"] is True
    alert = await mailbox.wait_for(EMAIL, "Security alert")
    assert secret not in alert.body

    again = await client.post(f"{API}/auth/mfa/enable", headers=auth, json={"password": PASSWORD})
    assert again.status_code == 409 and error_code(again) == "conflict"

    # The login challenge: no tokens yet.
    clock.advance(STEP)
    response = await client.post(f"{API}/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"mfa_required", "mfa_token", "methods", "expires_in"}, body
    assert body["mfa_required"] is True and body["expires_in"] == 300
    assert body["methods"] == ["totp", "backup_code"]
    code = totp(secret, clock)
    pair = assert_token_pair(await verify(client, body["mfa_token"], code))
    me = await client.get(f"{API}/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    # The challenge is consumed by its success.
    used = await verify(client, body["mfa_token"], code)
    assert used.status_code == 401 and error_code(used) == "invalid_token"

    # The same TOTP code in the same step is a replay.
    mfa_token = await challenge(client)
    replay = await verify(client, mfa_token, code)
    assert replay.status_code == 401 and error_code(replay) == "invalid_mfa_code"

    # A backup code works once (on the same challenge, still valid after one wrong code).
    assert_token_pair(await verify(client, mfa_token, backup_codes[0]))
    mfa_token = await challenge(client)
    reused = await verify(client, mfa_token, backup_codes[0])
    assert reused.status_code == 401 and error_code(reused) == "invalid_mfa_code"
    # The next step's code is new: accepted.
    clock.advance(STEP)
    assert_token_pair(await verify(client, mfa_token, totp(secret, clock)))

    # The OAuth password grant has no second step.
    grant = await client.post(f"{API}/auth/token", data={"grant_type": "password", "username": EMAIL,
                                                         "password": PASSWORD})
    assert grant.status_code == 403 and error_code(grant) == "mfa_required"


async def test_five_wrong_codes_void_the_challenge(client: httpx.AsyncClient, clock: FixedClock,
                                                   mailbox: Mailbox) -> None:
    _, secret, backup_codes = await enrolled(client, mailbox, clock)
    mfa_token = await challenge(client)
    for _ in range(5):
        wrong = await verify(client, mfa_token, wrong_code(secret, clock))
        assert wrong.status_code == 401 and error_code(wrong) == "invalid_mfa_code"
    for code in (totp(secret, clock), backup_codes[0]):
        void = await verify(client, mfa_token, code)
        assert void.status_code == 401 and error_code(void) == "invalid_token"


async def test_a_login_completed_with_a_code_forgets_the_password_failures(
        client: httpx.AsyncClient, container: Container, clock: FixedClock, mailbox: Mailbox) -> None:
    _, secret, _ = await enrolled(client, mailbox, clock)
    for _ in range(3):
        wrong = await client.post(f"{API}/auth/login", json={"email": EMAIL, "password": "not the password!"})
        assert wrong.status_code == 401
    lockout_rows = "SELECT failures FROM failure_counters WHERE key LIKE 'lockout:%'"
    assert [row["failures"] for row in await rows(container, lockout_rows)] == [3]
    mfa_token = await challenge(client)
    assert len(await rows(container, lockout_rows)) == 1  # the password alone does not log in
    assert_token_pair(await verify(client, mfa_token, totp(secret, clock)))
    assert await rows(container, lockout_rows) == []


async def test_regenerate_and_disable(client: httpx.AsyncClient, container: Container, clock: FixedClock,
                                      mailbox: Mailbox) -> None:
    tokens, secret, old_codes = await enrolled(client, mailbox, clock)
    auth = bearer(tokens["access_token"])

    for body, expected in (({"password": "not the password!", "code": totp(secret, clock)}, "invalid_credentials"),
                           ({"password": PASSWORD, "code": wrong_code(secret, clock)}, "invalid_mfa_code")):
        failed = await client.post(f"{API}/security/mfa/backup", headers=auth, json=body)
        assert failed.status_code == 400 and error_code(failed) == expected, failed.text
    regenerated = await client.post(f"{API}/security/mfa/backup", headers=auth,
                                    json={"password": PASSWORD, "code": totp(secret, clock)})
    assert regenerated.status_code == 200, regenerated.text
    new_codes = regenerated.json()["backup_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert regenerated.headers["Cache-Control"] == "no-store"

    # The old backup codes stop working; the new ones work.
    mfa_token = await challenge(client)
    old = await verify(client, mfa_token, old_codes[1])
    assert old.status_code == 401 and error_code(old) == "invalid_mfa_code"
    assert_token_pair(await verify(client, mfa_token, new_codes[0]))

    for body, expected in (({"password": "not the password!", "code": new_codes[1]}, "invalid_credentials"),
                           ({"password": PASSWORD, "code": wrong_code(secret, clock)}, "invalid_mfa_code"),
                           ({"password": PASSWORD, "code": old_codes[2]}, "invalid_mfa_code")):
        failed = await client.post(f"{API}/security/mfa/disable", headers=auth, json=body)
        assert failed.status_code == 400 and error_code(failed) == expected, failed.text
    disabled = await client.post(f"{API}/security/mfa/disable", headers=auth,
                                 json={"password": PASSWORD, "code": new_codes[1]})
    assert disabled.status_code == 204, disabled.text

    direct = await login(client, EMAIL)
    assert direct["access_token"] and direct["user"]["mfa_enabled"] is False
    off = await client.post(f"{API}/security/mfa/disable", headers=auth,
                            json={"password": PASSWORD, "code": new_codes[2]})
    assert off.status_code == 409 and error_code(off) == "conflict"

    # A Security alert for each change: enabled, backup codes regenerated, disabled.
    await mailbox.wait_for(EMAIL, "Security alert", count=3)
    assert len(mailbox.to(EMAIL, "Security alert")) == 3
    for action in ("mfa.enabled", "mfa.disabled", "mfa.backup_codes_regenerated"):
        assert await successful_audit_actions(container, action) == 1, action
    failed_challenges = await rows(container, "SELECT outcome FROM audit_logs WHERE action = :action",
                                   action="auth.mfa_challenge_failed")
    assert [row["outcome"] for row in failed_challenges] == ["failure"]
