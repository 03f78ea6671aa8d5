"""GET /auth/validate-token with a good token is answered outside FastAPI's routing (the fast
path of interfaces/http/fast_paths.py): the same body, headers, metrics and rate limit as the
route. On SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.doubles import Mailbox
from tests.integration.http.flows import API, bearer, error_code, signed_in

VALIDATE = f"{API}/auth/validate-token"


async def test_the_fast_path_answers_as_the_route_does(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    token = tokens["access_token"]

    fast = await client.get(VALIDATE, headers=bearer(token))
    # Two Authorization headers are left to the route, which reads the first.
    routed = await client.get(VALIDATE, headers=[("Authorization", f"Bearer {token}"), ("Authorization", "x")])

    assert fast.status_code == routed.status_code == 200
    assert fast.json() == routed.json()
    assert fast.json()["valid"] is True and fast.json()["claims"]["user_id"] == tokens["user"]["id"]
    for name in ("content-type", "cache-control", "x-content-type-options"):
        assert fast.headers[name] == routed.headers[name]
    assert fast.headers["x-request-id"]


async def test_a_revoked_session_is_refused_by_the_fast_path(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    await client.post(f"{API}/auth/logout", headers=bearer(tokens["access_token"]))

    response = await client.get(VALIDATE, headers=bearer(tokens["access_token"]))

    assert response.status_code == 401 and error_code(response) == "token_revoked"
    assert response.headers["www-authenticate"] == "Bearer"
