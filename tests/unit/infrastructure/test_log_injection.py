"""ASVS 7.3.1: what a client sends cannot forge log lines. JSON lines escape every control
character, so a value with a newline stays inside its own event."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from auth_service.infrastructure.logging import configure_logging

FORGED = 'ada@example.com\n{"event": "auth.login_succeeded", "level": "info"}\r\x1b[2J'


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("info", "json")
    capsys.readouterr()
    yield capsys
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def test_a_value_with_newlines_and_escapes_stays_one_json_line(json_logs: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger("test").warning("login_refused", email=FORGED)
    logging.getLogger("stdlib").warning("user agent %s", FORGED)

    lines = json_logs.readouterr().out.splitlines()

    assert len(lines) == 2
    events = [json.loads(line) for line in lines]
    assert events[0]["event"] == "login_refused" and events[0]["email"] == FORGED
    assert FORGED in events[1]["event"]
    assert all("\x1b" not in line and "\r" not in line for line in lines)
