from __future__ import annotations

import pytest

from auth_service.interfaces.http.fast_paths import _bearer_token


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
