from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from auth_service.infrastructure.logging import AccessLog, configure_logging

FIELDS = {"method": "GET", "path": "/api/v1/users/me", "status": 200, "duration_ms": 1.5, "ip": "127.0.0.1",
          "trace_id": "trace-1"}


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


def test_the_access_line_is_redacted_and_filtered_by_level(json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", "json")
    access = AccessLog()

    access(logging.INFO, **FIELDS)
    access(logging.ERROR, **{**FIELDS, "status": 500, "path": "/x/eyJhbGciOi.eyJzdWIiOi.c2ln"})

    (line,) = _lines(json_logs)
    assert line["level"] == "error" and line["status"] == 500 and line["path"] == "/x/[redacted]"


def test_console_logs_go_through_structlog(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "console")

    AccessLog()(logging.INFO, **FIELDS)

    out = capsys.readouterr().out
    assert "http_request" in out and not out.lstrip().startswith("{")
