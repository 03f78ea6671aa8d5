"""GET /users/me with a good token is answered outside FastAPI's routing (GetMeFastPath of
interfaces/http/fast_paths.py) and, on PostgreSQL, read through asyncpg directly
(infrastructure/db/fast_reads.py): the same bytes, headers, metrics and rate limit as the route.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from auth_service.application.errors import InvalidTokenError
from auth_service.bootstrap import Container
from auth_service.domain.principal import Principal
from auth_service.infrastructure.db.fast_reads import AsyncpgUserViews
from auth_service.infrastructure.db.views import SqlUserViews
from auth_service.interfaces.http.schemas import UserResponse
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.fast_path_checks import requests_counted
from tests.integration.http.flows import API, bearer, error_code, signed_in

ME = f"{API}/users/me"
FAST_PATHS = [f"{API}/auth/validate-token", ME]  # the metrics and rate-limit tests cover both
COMMON_HEADERS = ("content-type", "content-length", "cache-control", "x-content-type-options")


async def execute(container: Container, sql: str, **params: Any) -> None:
    if container.engine.dialect.name == "sqlite":  # naive UTC text there, as UtcDateTime stores it
        params = {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in params.items()}
    async with container.sessionmaker() as session:
        await session.execute(text(sql), params)
        await session.commit()


def routed_headers(token: str) -> list[tuple[str, str]]:
    """Two Authorization headers: the fast path leaves them to the route, which reads the first."""
    return [("Authorization", f"Bearer {token}"), ("Authorization", "x")]


async def assert_same_answer(client: httpx.AsyncClient, token: str) -> httpx.Response:
    fast = await client.get(ME, headers=bearer(token))
    routed = await client.get(ME, headers=routed_headers(token))

    assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
    assert fast.content == routed.content
    for name in COMMON_HEADERS:
        assert fast.headers[name] == routed.headers[name], name
    assert fast.headers["x-request-id"] and fast.headers["x-request-id"] != routed.headers["x-request-id"]
    assert not [name for name in fast.headers if name.lower().startswith("ratelimit")]
    assert not [name for name in routed.headers if name.lower().startswith("ratelimit")]
    return fast


async def test_the_fast_path_answers_byte_for_byte_as_the_route(client: httpx.AsyncClient, container: Container,
                                                                mailbox: Mailbox, clock: FixedClock) -> None:
    plain = await signed_in(client, mailbox, "ada@example.com")
    full = await signed_in(client, mailbox, "grace@example.com")
    pending = await signed_in(client, mailbox, "edsger@example.com")
    expired = await signed_in(client, mailbox, "barbara@example.com")
    profile = {"theme": "dark", "langs": ["en", "fr"], "nested": {"a": [1, 2.5, None, True, {"b": "é ☃ \n"}]},
               "big": 2 ** 62, "small": 1e-7, "empty": {}}
    patched = await client.patch(ME, headers=bearer(full["access_token"]), json={
        "username": "grace", "first_name": "Grace", "last_name": "Hopper", "phone": "+1 202 555 0100",
        "photo": "https://cdn.example.com/grace.png", "profile": profile})
    assert patched.status_code == 200, patched.text
    # Fractions of a second, which the fixed clock never produces.
    await execute(container, "UPDATE users SET last_login_at = :at WHERE id = :id",
                  at=datetime(2026, 1, 2, 3, 4, 5, 123400, tzinfo=UTC), id=full["user"]["id"])
    await execute(container, "UPDATE users SET status = 'pending_verification', is_verified = false, "
                             "pending_until = :until WHERE id = :id",
                  until=clock.now() + timedelta(days=1), id=pending["user"]["id"])
    await execute(container, "UPDATE users SET status = 'pending_verification', is_verified = false, "
                             "pending_until = :until WHERE id = :id",
                  until=clock.now() - timedelta(seconds=1), id=expired["user"]["id"])

    answers = {name: (await assert_same_answer(client, tokens["access_token"])).json()
               for name, tokens in [("plain", plain), ("full", full), ("pending", pending), ("expired", expired)]}

    assert answers["plain"]["first_name"] is None and answers["plain"]["profile"] == {}
    assert answers["full"]["profile"] == profile and answers["full"]["phone"] == "+1 202 555 0100"
    assert answers["full"]["last_login_at"] == "2026-01-02T03:04:05.123400Z"
    assert answers["plain"]["created_at"].endswith("Z")
    assert (answers["pending"]["status"], answers["pending"]["is_active"]) == ("pending_verification", False)
    assert (answers["expired"]["status"], answers["expired"]["is_active"]) == ("verification_expired", False)
    assert list(answers["full"]) == list(answers["plain"])  # the field order of UserResponse


async def test_a_profile_orjson_cannot_write_the_same_way_is_left_to_the_route(
        client: httpx.AsyncClient, container: Container, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    # Stored directly: PATCH cannot store it (its 16 KiB check measures with orjson, which raises).
    value = "CAST(:profile AS jsonb)" if container.engine.dialect.name == "postgresql" else ":profile"
    await execute(container, f"UPDATE users SET profile = {value} WHERE id = :id",
                  profile=f'{{"n": {2 ** 70}}}', id=tokens["user"]["id"])

    response = await assert_same_answer(client, tokens["access_token"])

    assert response.json()["profile"] == {"n": 2 ** 70}


async def test_the_route_does_not_run_for_a_good_token(client: httpx.AsyncClient, mailbox: Mailbox,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    built: list[str] = []
    of = UserResponse.of

    def counted(view: Any) -> UserResponse:
        built.append(view.id)
        return of(view)

    monkeypatch.setattr(UserResponse, "of", counted)

    fast = await client.get(ME, headers=bearer(tokens["access_token"]))
    routed = await client.get(ME, headers=routed_headers(tokens["access_token"]))

    assert fast.status_code == routed.status_code == 200
    assert built == [tokens["user"]["id"]]  # the routed request only


async def test_a_domain_error_of_get_me_falls_through_to_the_route(
        client: httpx.AsyncClient, container: Container, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    calls: list[str] = []

    async def gone(principal: Principal) -> Any:
        calls.append(principal.user_id)
        raise InvalidTokenError("The account no longer exists.")

    monkeypatch.setattr(container, "get_me", gone)

    response = await client.get(ME, headers=bearer(tokens["access_token"]))

    assert response.status_code == 401 and error_code(response) == "invalid_token"
    assert response.headers["www-authenticate"] == "Bearer"
    assert calls == [tokens["user"]["id"]] * 2  # the fast path's try, then the route's


async def test_requests_the_fast_path_leaves_alone_reach_the_route(client: httpx.AsyncClient,
                                                                   mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")

    missing = await client.get(ME)
    bad = await client.get(ME, headers=bearer("not-a-token"))
    head = await client.head(ME, headers=bearer(tokens["access_token"]))
    query = await client.get(f"{ME}?x=1", headers=bearer(tokens["access_token"]))

    assert missing.status_code == 401 and error_code(missing) == "unauthenticated"
    assert bad.status_code == 401 and error_code(bad) == "invalid_token"
    assert head.status_code == 405
    assert query.status_code == 200 and query.json()["id"] == tokens["user"]["id"]


@pytest.mark.parametrize("path", FAST_PATHS)
async def test_fast_path_requests_are_counted_under_the_route_template(client: httpx.AsyncClient,
                                                                       mailbox: Mailbox, path: str) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    for _ in range(3):
        await client.get(path, headers=bearer(tokens["access_token"]))

    metrics = (await client.get("/metrics")).text

    assert requests_counted(metrics, "GET", path, "200") == 3


@pytest.mark.parametrize("path", FAST_PATHS)
@pytest.mark.parametrize("settings_overrides", [{"rate_limit_enabled": True, "rate_limit_default": "5/minute"}])
async def test_the_fast_path_counts_against_the_default_rate_limit(client: httpx.AsyncClient,
                                                                    mailbox: Mailbox, path: str) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")  # register, verify, log in: 3 of 5

    responses = [await client.get(path, headers=bearer(tokens["access_token"])) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert error_code(responses[-1]) == "rate_limited" and "retry-after" in responses[-1].headers


async def test_postgresql_reads_me_through_asyncpg_as_sqlalchemy_does(
        client: httpx.AsyncClient, container: Container, mailbox: Mailbox, clock: FixedClock) -> None:
    if container.engine.dialect.name != "postgresql":
        assert container.fast_connections is None  # SQLite keeps SqlUserViews
        return
    assert container.fast_connections is not None
    tokens = await signed_in(client, mailbox, "ada@example.com")
    user_id = tokens["user"]["id"]
    await client.patch(ME, headers=bearer(tokens["access_token"]), json={"first_name": "Ada",
                                                                          "profile": {"a": {"b": [1, "x"]}}})
    await execute(container, "UPDATE users SET last_login_at = :at WHERE id = :id",
                  at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), id=user_id)
    sql_views = SqlUserViews(container.engine)
    fast_views = AsyncpgUserViews(container.fast_connections, sql_views)

    for profile in (None, "null", "[]"):  # as stored, then JSON values no API writes
        if profile is not None:
            await execute(container, "UPDATE users SET profile = CAST(:profile AS jsonb) WHERE id = :id",
                          profile=profile, id=user_id)
        fast = await fast_views.get(user_id, clock.now())
        expected = await sql_views.get(user_id, clock.now())
        assert fast == expected
        assert fast is not None and fast.last_login_at is not None and fast.last_login_at.tzinfo is UTC
        assert fast.created_at.tzinfo is UTC
    assert await fast_views.get("no-such-user", clock.now()) is None
