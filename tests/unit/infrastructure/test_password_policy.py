from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from structlog.testing import capture_logs

from auth_service.domain.errors import BreachedPasswordError, WeakPasswordError
from auth_service.infrastructure.security.password_policy import (
    BreachedList,
    DefaultPasswordPolicy,
    HibpClient,
)

STRONG = "vivid-otter-quartz-lamp"  # random words, 23 code points
PWNED = "only-the-fake-hibp-knows-this-one"
PADDED = "listed-by-the-fake-hibp-only-as-padding"


def _sha1(password: str) -> str:
    return hashlib.sha1(password.encode()).hexdigest().upper()


class _RangeHandler(BaseHTTPRequestHandler):
    """A stand-in for api.pwnedpasswords.com: knows PWNED, pads with zero counts."""

    requests: list[tuple[str, str | None]] = []
    status = 200

    def do_GET(self) -> None:
        type(self).requests.append((self.path, self.headers.get("Add-Padding")))
        pwned, padded = _sha1(PWNED), _sha1(PADDED)
        ranges = {
            pwned[:5]: ["0018A45C4D1DEF81644B54AB7F969B88D65:3", f"{pwned[5:]}:42", f"{'F' * 35}:0"],
            padded[:5]: [f"{'0' * 35}:7", f"{padded[5:]}:0"],
        }
        body = "\r\n".join(ranges.get(self.path.removeprefix("/range/"), [f"{'E' * 35}:0"])).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hibp_server() -> Iterator[tuple[str, type[_RangeHandler]]]:
    handler = type("Handler", (_RangeHandler,), {"requests": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def policy() -> DefaultPasswordPolicy:
    return DefaultPasswordPolicy(BreachedList(), hibp=None)


@pytest.fixture
async def hibp_client(hibp_server: tuple[str, type[_RangeHandler]]) -> AsyncIterator[HibpClient]:
    client = HibpClient(hibp_server[0], timeout=2.0)
    yield client
    await client.aclose()


async def _reasons(
    policy: DefaultPasswordPolicy, password: str, user_inputs: list[str] | None = None,
) -> list[str]:
    with pytest.raises(WeakPasswordError) as caught:
        await policy.check(password, user_inputs or [])
    reasons = caught.value.details["reasons"]
    assert isinstance(reasons, list)
    return reasons


# -- offline list, length, estimator ---------------------------------------------------------------
async def test_a_common_password_is_breached(policy: DefaultPasswordPolicy) -> None:
    with pytest.raises(BreachedPasswordError):
        await policy.check("password", [])


async def test_the_offline_list_ignores_case(policy: DefaultPasswordPolicy) -> None:
    with pytest.raises(BreachedPasswordError):
        await policy.check("CorrectHorseBatteryStaple", [])


async def test_a_long_well_known_password_is_breached_not_weak(policy: DefaultPasswordPolicy) -> None:
    with pytest.raises(BreachedPasswordError):
        await policy.check("passwordpassword", [])


async def test_a_short_password_is_too_short(policy: DefaultPasswordPolicy) -> None:
    assert await _reasons(policy, "Tr0ub4dor&3") == ["too_short"]


async def test_a_password_over_128_code_points_is_too_long(policy: DefaultPasswordPolicy) -> None:
    assert await _reasons(policy, "vivid-otter-" * 10 + "quartz-lamp") == ["too_long"]


async def test_length_counts_code_points_not_bytes(policy: DefaultPasswordPolicy) -> None:
    assert await _reasons(policy, "ééééééééééé") == ["too_short"]  # 11 code points, 22 bytes


async def test_a_long_but_guessable_password_is_weak_with_zxcvbn_feedback(
    policy: DefaultPasswordPolicy,
) -> None:
    reasons = await _reasons(policy, "aaaaaaaaaaaaaaaa")

    assert reasons
    assert all(isinstance(reason, str) and reason for reason in reasons)
    assert reasons != ["too_short"]


async def test_the_users_own_email_is_weak(policy: DefaultPasswordPolicy) -> None:
    email = "ada.lovelace@example.com"

    await policy.check(email, [])  # strong enough for a stranger...
    assert await _reasons(policy, email, [email, "ada"])  # ...but not for Ada


async def test_a_part_of_the_users_email_counts_against_the_password(policy: DefaultPasswordPolicy) -> None:
    await policy.check("lovelace.2024", ["grace@example.com"])

    assert await _reasons(policy, "lovelace.2024", ["ada.lovelace@example.com"])


async def test_a_strong_random_passphrase_passes(policy: DefaultPasswordPolicy) -> None:
    await policy.check(STRONG, ["ada@example.com", "ada", "Ada", "Lovelace"])


async def test_a_passphrase_of_64_code_points_or_more_skips_the_estimator(
    policy: DefaultPasswordPolicy,
) -> None:
    # zxcvbn scores this 0 (a repeat) and would raise past 72 characters; neither applies here.
    await policy.check("ab" * 32, [])
    await policy.check("ab" * 50, [])
    assert await _reasons(policy, "ab" * 31 + "a") != []


# -- Have I Been Pwned ------------------------------------------------------------------------------
async def test_hibp_reports_a_suffix_in_the_range_with_padding_requested(
    hibp_client: HibpClient, hibp_server: tuple[str, type[_RangeHandler]],
) -> None:
    assert await hibp_client.is_breached(PWNED) is True

    path, padding = hibp_server[1].requests[-1]
    assert path == f"/range/{_sha1(PWNED)[:5]}"  # only the 5-character prefix leaves the service
    assert padding == "true"


async def test_hibp_does_not_report_an_unknown_password(hibp_client: HibpClient) -> None:
    assert await hibp_client.is_breached(STRONG) is False


async def test_hibp_does_not_count_a_padding_entry(hibp_client: HibpClient) -> None:
    assert await hibp_client.is_breached(PADDED) is False


async def test_the_policy_refuses_what_hibp_knows(hibp_client: HibpClient) -> None:
    policy = DefaultPasswordPolicy(BreachedList(), hibp=hibp_client)

    with pytest.raises(BreachedPasswordError):
        await policy.check(PWNED, [])
    await policy.check(STRONG, [])


async def test_breached_wins_over_too_short(hibp_client: HibpClient) -> None:
    policy = DefaultPasswordPolicy(BreachedList(), hibp=hibp_client)

    with pytest.raises(BreachedPasswordError):
        await policy.check("123456", [])


async def test_hibp_down_fails_open_with_a_warning(closed_port_url: str) -> None:
    client = HibpClient(closed_port_url, timeout=1.0)
    try:
        with capture_logs() as logs:
            breached = await client.is_breached(PWNED)
    finally:
        await client.aclose()

    assert breached is False
    assert logs == [{"event": "hibp_unavailable", "error": "ConnectError", "log_level": "warning"}]
    assert PWNED not in repr(logs) and _sha1(PWNED)[5:] not in repr(logs)


async def test_hibp_error_status_fails_open(
    hibp_client: HibpClient, hibp_server: tuple[str, type[_RangeHandler]],
) -> None:
    hibp_server[1].status = 503

    with capture_logs() as logs:
        breached = await hibp_client.is_breached(PWNED)

    assert breached is False
    assert [entry["event"] for entry in logs] == ["hibp_unavailable"]


async def test_a_policy_with_hibp_down_still_accepts_a_strong_password(closed_port_url: str) -> None:
    client = HibpClient(closed_port_url, timeout=1.0)
    policy = DefaultPasswordPolicy(BreachedList(), hibp=client)
    try:
        await policy.check(STRONG, [])
    finally:
        await client.aclose()


async def test_concurrent_checks_each_use_their_own_user_inputs(policy: DefaultPasswordPolicy) -> None:
    ada, grace = ["ada.lovelace@example.com"], ["grace@example.com"]

    results = await asyncio.gather(
        *(policy.check("lovelace.2024", ada if i % 2 == 0 else grace) for i in range(20)),
        return_exceptions=True,
    )

    assert all(isinstance(r, WeakPasswordError) for r in results[0::2])
    assert all(r is None for r in results[1::2])
