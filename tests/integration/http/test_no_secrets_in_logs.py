"""No password, token, secret or code ever reaches a log (SPEC §8), in either log format, through
a whole account lifecycle and an unexpected failure whose traceback passes through a password.

The tests send mail to the in-memory Mailbox, so standard output holds nothing but the log."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from auth_service.bootstrap import Container
from auth_service.infrastructure.logging import write_pending_access_lines
from tests.doubles import Mailbox
from tests.integration.conftest import TEST_SECRET_KEY
from tests.integration.http.flows import (
    API,
    OTHER_PASSWORD,
    PASSWORD,
    bearer,
    link_token,
    login,
    register,
    verification_code,
)
from tests.integration.http.logs import service_logging

EMAIL = "ada@example.com"
RESET_PASSWORD = "violet submarine humming softly"
WRONG_PASSWORD = "tangerine glacier whispering loudly"
WEAK_PASSWORD = "short"
CLIENT_SECRET = "rs-secret"


@pytest.fixture(params=["json", "console"])
def captured_log(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """Logging as the service configures it, at its most verbose; returns everything written so far."""
    output: list[str] = []

    def read() -> str:
        write_pending_access_lines()  # what the service's timer would write within 0.2 s
        captured = capsys.readouterr()
        output.append(captured.out + captured.err)
        return "".join(output)

    with service_logging("debug", request.param):
        yield read


async def _whole_lifecycle(client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> list[str]:
    """Every step of SPEC §3 that handles a secret; returns the secrets it handled."""
    secrets: list[str] = [PASSWORD, OTHER_PASSWORD, RESET_PASSWORD, WRONG_PASSWORD, CLIENT_SECRET, TEST_SECRET_KEY]
    assert (await register(client, EMAIL, WEAK_PASSWORD)).status_code == 422
    assert (await register(client, EMAIL)).status_code == 201
    message = await mailbox.wait_for(EMAIL, "Verify your email")
    code, verification_token = verification_code(message), link_token(message)
    secrets += [code, verification_token]
    wrong_code = "000000" if code != "000000" else "111111"
    assert (await client.post(f"{API}/auth/verify-email", json={"email": EMAIL, "code": wrong_code})).status_code == 400
    assert (await client.post(f"{API}/auth/verify-email", json={"email": EMAIL, "code": code})).status_code == 200
    wrong = await client.post(f"{API}/auth/login", json={"email": EMAIL, "password": WRONG_PASSWORD})
    assert wrong.status_code == 401

    first = await login(client, EMAIL)
    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200
    second = refreshed.json()
    changed = await client.post(f"{API}/auth/change-password", headers=bearer(second["access_token"]),
                                json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD})
    assert changed.status_code == 200

    assert (await client.post(f"{API}/auth/forgot-password", json={"email": EMAIL})).status_code == 202
    reset_token = link_token(await mailbox.wait_for(EMAIL, "Reset your password"))
    reset = await client.post(f"{API}/auth/reset-password", json={"token": reset_token,
                                                                   "new_password": RESET_PASSWORD})
    assert reset.status_code == 200
    third = await login(client, EMAIL, RESET_PASSWORD)
    assert (await client.get(f"{API}/auth/validate-token", headers=bearer(third["access_token"]))).status_code == 200
    introspected = await client.post(f"{API}/auth/introspect", data={"token": third["access_token"]},
                                     auth=("resource-server", CLIENT_SECRET))
    assert introspected.status_code == 200
    assert (await client.post(f"{API}/auth/logout", headers=bearer(third["access_token"]),
                              json={"refresh_token": third["refresh_token"]})).status_code == 204
    secrets += [reset_token, *_token_parts(first), *_token_parts(second), *_token_parts(third)]
    return secrets


def _token_parts(pair: dict[str, Any]) -> list[str]:
    """The refresh token, and the access token whole and by its claims and signature segments."""
    _, claims, signature = pair["access_token"].split(".")
    return [pair["refresh_token"], pair["access_token"], claims, signature]


def _leaks(log: str, secrets: list[str]) -> list[str]:
    # A code is six digits: look for it as a whole word, not inside a timestamp's microseconds.
    return [s for s in secrets if re.search(rf"(?<![\w.]){re.escape(s)}(?!\w)", log)]


async def test_a_whole_account_lifecycle_logs_no_secret(
        captured_log: Callable[[], str], client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    secrets = await _whole_lifecycle(client, mailbox, container)

    log = captured_log()

    assert log.count("http_request") >= 10, "the log was not captured"
    assert _leaks(log, secrets) == []
    assert "$argon2" not in log


async def test_an_unexpected_failure_logs_its_traceback_but_no_password(
        captured_log: Callable[[], str], client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    await register(client, EMAIL)
    message = await mailbox.wait_for(EMAIL, "Verify your email")
    assert (await client.post(f"{API}/auth/verify-email", json={"token": link_token(message)})).status_code == 200
    signing_key = container.key_store.ring.signing_key
    assert signing_key is not None
    await container.revoke_key(signing_key.kid)  # nothing can sign now: issuing tokens fails unexpectedly

    response = await client.post(f"{API}/auth/login", json={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 500
    log = captured_log()
    assert "Traceback" in log or "RuntimeError" in log, "the failure was not logged"
    assert _leaks(log, [PASSWORD, TEST_SECRET_KEY]) == []
    assert "$argon2" not in log
