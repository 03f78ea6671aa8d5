from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auth_service.application.views import UserView
from auth_service.interfaces.http.fast_paths import _bearer_token, user_body
from auth_service.interfaces.http.schemas import UserResponse


@pytest.mark.parametrize(("headers", "expected"), [
    ([(b"authorization", b"Bearer abc.def.ghi")], "abc.def.ghi"),
    ([(b"authorization", b"bearer   abc.def.ghi  ")], "abc.def.ghi"),
    ([(b"host", b"x"), (b"authorization", b"BEARER t")], "t"),
    ([], None),
    ([(b"authorization", b"Bearer")], None),
    ([(b"authorization", b"Bearer ")], None),
    ([(b"authorization", b"Basic dXNlcjpwYXNz")], None),
    ([(b"authorization", b"Bearer \xff\xfe")], None),
    ([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")], None),
])
def test_only_one_plain_bearer_header_takes_the_fast_path(headers: list[tuple[bytes, bytes]],
                                                          expected: str | None) -> None:
    assert _bearer_token(headers) == expected


def _view(**changes: Any) -> UserView:
    values: dict[str, Any] = dict(
        id="u1", email="ada@example.com", username="ada@example.com", first_name=None, last_name=None, phone=None,
        photo=None, role="user", company_id=None, network_id="", station_id="", source="web", status="active",
        is_verified=True, is_active=True, mfa_enabled=False, created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, 0, 0, 0, 500, tzinfo=UTC), created_by=None, updated_by=None,
        last_login_at=None, profile={})
    values.update(changes)
    return UserView(**values)


@pytest.mark.parametrize("view", [
    _view(),
    _view(first_name="Ada", last_name="Lovelace", phone="+44 20 7946 0958", photo="https://cdn.example.com/a.png",
          role="admin", company_id="c1", network_id="n", station_id="s", source="internal",
          status="pending_verification", is_verified=False, is_active=False, mfa_enabled=True, created_by="u0",
          updated_by="u1", last_login_at=datetime(2026, 2, 3, 4, 5, 6, 123456, tzinfo=UTC),
          profile={"theme": "dark", "n": {"a": [1, 2.5, 1e16, 1e-7, None, True, -2 ** 63, 2 ** 64 - 1],
                                          "s": "é ☃ \u2028 \x1f \"q\" \\ </script>"}}),
    _view(status="verification_expired", is_active=False, created_at=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
])
def test_the_user_body_is_the_routes_bytes(view: UserView) -> None:
    assert user_body(view) == UserResponse.of(view).model_dump_json().encode()


def test_a_profile_integer_past_64_bits_is_left_to_the_route() -> None:
    view = _view(profile={"n": 2 ** 64})
    assert user_body(view) is None
