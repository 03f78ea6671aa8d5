from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from unittest import mock

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from auth_service.infrastructure.logging import (
    AccessLog,
    _may_hold_secrets,
    _utc_timestamp,
    configure_logging,
    redact_secrets,
)

FIELDS = {"trace_id": "trace-1", "user_id": "USR-1", "ip": "127.0.0.1", "method": "GET", "path": "/api/v1/users/me",
          "status": 200, "duration_ms": 1.5}


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    configure_logging("info", "json")
    structlog.contextvars.bind_contextvars(trace_id="trace-1", user_id="USR-1")
    yield capsys
    structlog.contextvars.clear_contextvars()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_the_access_line_is_the_line_structlog_would_write(json_logs: pytest.CaptureFixture[str]) -> None:
    structlog.stdlib.get_logger("auth_service.http").log(logging.INFO, "http_request", **FIELDS)
    (through_structlog,) = _lines(json_logs)

    AccessLog()(logging.INFO, **FIELDS)
    (direct,) = _lines(json_logs)

    assert list(direct)[:3] == ["timestamp", "level", "event"]
    assert set(direct) == set(through_structlog)
    assert {k: v for k, v in direct.items() if k != "timestamp"} == \
        {k: v for k, v in through_structlog.items() if k != "timestamp"}
    assert str(direct["timestamp"]).endswith("Z")


@given(st.floats(min_value=1e9, max_value=4e9))
def test_the_timestamp_is_the_utc_time_to_the_microsecond(now: float) -> None:
    with mock.patch("time.time", return_value=now):
        stamp = _utc_timestamp()

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    assert 0 <= now - datetime.fromisoformat(stamp).timestamp() < 2e-6  # truncated, never ahead


def test_the_access_line_is_redacted_and_filtered_by_level(json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", "json")
    access = AccessLog()

    access(logging.INFO, **FIELDS)
    access(logging.ERROR, **{**FIELDS, "status": 500, "path": "/x/eyJhbGciOi.eyJzdWIiOi.c2ln"})

    (line,) = _lines(json_logs)
    assert line["level"] == "error" and line["status"] == 500 and line["path"] == "/x/[redacted]"


def test_uvicorns_own_access_lines_are_never_built(json_logs: pytest.CaptureFixture[str]) -> None:
    # uvicorn formats its access line's arguments (the path with its query string) only when the
    # logger reaches a handler; the middleware writes the access line instead.
    configure_logging("info", "json")  # again: pytest hangs its capture on non-propagating loggers
    uvicorn_access = logging.getLogger("uvicorn.access")

    uvicorn_access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.7", "GET", "/x?token=s3cr3t", "1.1", 200)

    assert not uvicorn_access.hasHandlers()
    assert "s3cr3t" not in json_logs.readouterr().out


def test_console_logs_go_through_structlog(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "console")

    AccessLog()(logging.INFO, **FIELDS)

    out = capsys.readouterr().out
    assert "http_request" in out and not out.lstrip().startswith("{")


class _Stdout(io.TextIOWrapper):
    """stdout as in a container: block-buffered; `written` is what has reached the file or pipe."""

    def __init__(self) -> None:
        self.raw_bytes = io.BytesIO()
        super().__init__(self.raw_bytes, encoding="utf-8", line_buffering=False)

    @property
    def written(self) -> str:
        return self.raw_bytes.getvalue().decode()


def _json_access_log_to(stdout: io.TextIOWrapper, monkeypatch: pytest.MonkeyPatch) -> AccessLog:
    configure_logging("info", "json")
    monkeypatch.setattr(sys, "stdout", stdout)
    return AccessLog()


async def test_a_5xx_line_and_any_other_log_line_are_flushed_at_once_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = _Stdout()
    access = _json_access_log_to(stdout, monkeypatch)

    access(logging.INFO, **FIELDS)
    structlog.stdlib.get_logger("auth_service.test").warning("something_else")
    assert [json.loads(line)["event"] for line in stdout.written.splitlines()] == ["http_request", "something_else"]

    access(logging.ERROR, **{**FIELDS, "status": 500})
    assert json.loads(stdout.written.splitlines()[-1])["status"] == 500


class _UnbufferedStdout(io.TextIOWrapper):
    """stdout under PYTHONUNBUFFERED=1 (our Dockerfile sets it): every write reaches the OS at once."""

    def __init__(self) -> None:
        self.raw_writes: list[bytes] = []
        outer = self

        class Raw(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, data: Any) -> int:
                outer.raw_writes.append(bytes(data))
                return len(data)

        super().__init__(Raw(), encoding="utf-8", write_through=True)


async def test_access_lines_are_written_together_within_the_flush_interval_even_to_an_unbuffered_stdout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = _UnbufferedStdout()
    access = _json_access_log_to(stdout, monkeypatch)

    for status in (200, 201, 204):
        access(logging.INFO, **{**FIELDS, "status": status})
    assert stdout.raw_writes == []
    await asyncio.sleep(AccessLog.FLUSH_SECONDS + 0.2)

    assert len(stdout.raw_writes) == 1
    assert [json.loads(line)["status"] for line in stdout.raw_writes[0].decode().splitlines()] == [200, 201, 204]


async def test_a_full_buffer_is_written_without_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = _UnbufferedStdout()
    access = _json_access_log_to(stdout, monkeypatch)

    for _ in range(AccessLog.MAX_PENDING):
        access(logging.INFO, **FIELDS)

    assert len(stdout.raw_writes) == 1
    assert len(stdout.raw_writes[0].decode().splitlines()) == AccessLog.MAX_PENDING


def test_without_an_event_loop_every_line_is_flushed(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = _Stdout()
    _json_access_log_to(stdout, monkeypatch)(logging.INFO, **FIELDS)

    assert json.loads(stdout.written)["status"] == 200


def test_secrets_in_fields_are_redacted(json_logs: pytest.CaptureFixture[str]) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

    AccessLog()(logging.INFO, **{**FIELDS, "trace_id": token, "password": "hunter2"})

    (line,) = _lines(json_logs)
    assert line["password"] == "[redacted]" and line["trace_id"] == "[redacted]"
    assert "hunter2" not in json.dumps(line) and token not in json.dumps(line)


@pytest.mark.parametrize("value", [
    "eyJhbGciOi.eyJzdWIiOi.c2ln", "Bearer abcdefghijklmnopqrstu", "BASIC abcdefghijklmnopqrstu",
    "ba\u017fic abcdefghijklmnopqrstu",  # long s: the regex's case-insensitive match knows it, str.lower() does not
    "bas\u0131c abcdefghijklmnopqrstu",  # dotless i, likewise
])
def test_the_quick_secret_check_sends_every_possible_secret_to_redaction(value: str) -> None:
    line = {"timestamp": "2026-11-23T20:00:00Z", "level": "info", "event": "http_request", **FIELDS}

    assert not _may_hold_secrets(line)
    assert _may_hold_secrets({**line, "path": f"/x/{value}"})
    assert redact_secrets(None, "", {**line, "path": f"/x/{value}"})["path"] == "/x/[redacted]"


_FRAGMENTS = ["eyJ", "a.", "b-", "Bearer ", "basic", "BaSiC\t", "\u017f", "\u0131", "0123456789abcdef", "\0", ".",
              " ", "é"]
_TEXT = st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join) | st.text(max_size=40)


@given(st.dictionaries(st.sampled_from(["path", "ip", "trace_id", "method", "user_agent"]), _TEXT, max_size=5))
def test_a_line_judged_free_of_secrets_is_one_redaction_leaves_unchanged(fields: dict[str, str]) -> None:
    if not _may_hold_secrets(fields):
        assert redact_secrets(None, "", fields) == fields
