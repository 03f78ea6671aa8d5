"""Every log line of a request names it and its caller (SPEC §8: timestamp, level, event, trace_id,
user_id, ip, method, path, status, duration_ms): the access line of a request made with a good
bearer token carries the token's user, on the fast paths and through the routes alike."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from auth_service.infrastructure.logging import write_pending_access_lines
from tests.doubles import Mailbox
from tests.integration.http.flows import API, bearer, signed_in
from tests.integration.http.logs import service_logging

SPEC_KEYS = ["timestamp", "level", "event", "trace_id", "user_id", "ip", "method", "path", "status", "duration_ms"]


@pytest.fixture
def access_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    def read() -> list[dict[str, Any]]:
        write_pending_access_lines()
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        return [line for line in lines if line["event"] == "http_request"]

    with service_logging("info", "json"):
        yield read


async def test_the_access_line_names_the_caller_of_a_bearer_request(
    client: httpx.AsyncClient, mailbox: Mailbox, access_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    user_id = tokens["user"]["id"]
    access_lines()
    good = bearer(tokens["access_token"])

    await client.get(f"{API}/auth/validate-token", headers=good)  # a fast path
    await client.get(f"{API}/users/me/sessions", headers=good)  # a route
    await client.get(f"{API}/auth/validate-token", headers=bearer("not-a-token"))
    await client.get("/health")

    lines = access_lines()
    assert [(line["path"], line["status"], line["user_id"]) for line in lines] == [
        (f"{API}/auth/validate-token", 200, user_id),
        (f"{API}/users/me/sessions", 200, user_id),
        (f"{API}/auth/validate-token", 401, None),
        ("/health", 200, None),
    ]
    assert all(list(line)[:len(SPEC_KEYS)] == SPEC_KEYS for line in lines)
    assert all(tokens["access_token"] not in json.dumps(line) for line in lines)
