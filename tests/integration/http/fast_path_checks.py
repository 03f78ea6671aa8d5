"""What the fast-path tests compare: an answer of a fast path (interfaces/http/fast_paths.py) and
the route's answer to the same request."""

from __future__ import annotations

import re

import httpx

# A JSON content type the body fast paths (login, refresh) leave to the route.
ROUTED_JSON = {"Content-Type": "application/json; charset=utf-8"}
COMMON_HEADERS = ("content-type", "cache-control", "x-content-type-options")


def assert_same_headers(fast: httpx.Response, routed: httpx.Response) -> None:
    for name in COMMON_HEADERS:
        assert fast.headers[name] == routed.headers[name], name
    assert fast.headers["x-request-id"] != routed.headers["x-request-id"]


def assert_same_token_pair(fast: httpx.Response, routed: httpx.Response) -> None:
    """The same bytes but for the tokens and the session (the clock is fixed)."""
    mine, theirs = fast.json(), routed.json()
    assert {key for key in mine if mine[key] != theirs[key]} == {"access_token", "refresh_token", "session_id"}
    swapped = fast.content
    for key in ("access_token", "refresh_token", "session_id"):
        swapped = swapped.replace(mine[key].encode(), theirs[key].encode())
    assert swapped == routed.content


def requests_counted(metrics: str, method: str, route: str, status: str) -> float | None:
    """http_requests_total of that method, route template and status in Prometheus text."""
    pattern = rf'http_requests_total\{{(?=[^}}]*method="{method}")(?=[^}}]*route="{re.escape(route)}")' \
              rf'(?=[^}}]*status="{status}")[^}}]*\}} (\S+)'
    match = re.search(pattern, metrics)
    return float(match.group(1)) if match is not None else None
