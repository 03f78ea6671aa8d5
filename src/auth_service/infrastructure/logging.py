"""Structured logging: one JSON object a line (SPEC §8), for structlog and stdlib loggers alike."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import re
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Literal

import orjson
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"
_SENSITIVE_PARTS = ("password", "token", "secret", "code", "authorization", "cookie", "hash")
# Keys that contain a sensitive word but never hold a secret.
SAFE_KEYS = frozenset({"status", "status_code", "http_status_code", "error_code", "trace_id", "token_type"})
# JWTs and bearer credentials inside free text (exception messages, foreign log lines).
_SECRET_IN_TEXT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*|(?i:bearer|basic)\s+[\w.~+/=-]{16,}")
_FIRST_KEYS = ("timestamp", "level", "event")
# httpx logs every request URL at INFO: a HIBP range URL holds part of a password's hash, and
# other URLs may hold tokens.
_QUIET_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "sqlalchemy": logging.WARNING,
    # The database drivers log every statement with its parameters at DEBUG: password hashes, token hashes.
    "aiosqlite": logging.WARNING,
    "asyncpg": logging.WARNING,
}
_MAX_DEPTH = 5

# The fields of the request being served (trace_id, user_id, ip, method, path) for every line logged
# while it runs: one variable holding a dict the request owns, set and reset once per request (and
# the caller named by updating the dict), where structlog's bind_contextvars sets and resets one
# variable per key (~5 µs a request).
request_log_fields: ContextVar[dict[str, Any] | None] = ContextVar("request_log_fields", default=None)


def merge_request_fields(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Adds the request's fields to a line (a key the line sets itself wins, as with structlog's contextvars)."""
    fields = request_log_fields.get()
    if fields:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
    return event_dict


def configure_logging(level: str, fmt: Literal["json", "console"]) -> None:
    """Send structlog and stdlib logging to stdout through the same processors; safe to call again."""
    numeric_level = logging.getLevelNamesMapping().get(level.upper())
    if numeric_level is None:
        raise ValueError(f"LOG_LEVEL: unknown level {level!r}")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        merge_request_fields,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so that calling this again (or structlog.testing.capture_logs) takes effect.
        cache_logger_on_first_use=False,
    )
    renderer: list[Processor]
    if fmt == "json":
        renderer = [structlog.processors.format_exc_info, redact_secrets, _key_order,
                    structlog.processors.JSONRenderer(serializer=_json_line)]
    else:
        # plain_traceback: the default (rich) traceback prints every frame's local variables, passwords included.
        renderer = [redact_secrets, structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty(),
                                                                  exception_formatter=structlog.dev.plain_traceback)]
    handler = _StructlogHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StructlogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    global _json_handler
    _json_handler = handler if fmt == "json" else None
    root.setLevel(numeric_level)
    # uvicorn installs its own handlers unless run with log_config=None; ours must be the only ones.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # uvicorn's access lines hold query strings; the middleware writes the access line instead. With
    # no handler to reach, uvicorn does not even build them (it formats their arguments for every
    # response otherwise, before the level drops the line).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    for name, quiet_level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet_level, numeric_level))
    logging.captureWarnings(True)


_json_handler: _StructlogHandler | None = None  # set by configure_logging when the format is JSON


class AccessLog:
    """Writes the one line per request of SPEC §8. With JSON logs it renders the line itself, with
    the same keys and redaction as the structlog chain but for a fraction of its cost (the chain
    through stdlib logging costs more than a cached bearer check); otherwise, or before logging is
    configured, it goes through structlog like any other line. The caller passes the request's
    fields: the line does not read the context (structlog's context variables are a walk of the
    task's context, ~4 µs a request, for what the middleware already holds).

    Access lines are not written one by one: a write system call per request cost as much as the
    cached bearer check (more when stdout is a file). They wait in a buffer of their own, not in
    stdout's, which PYTHONUNBUFFERED=1 (usual in containers, set in our Dockerfile) turns into a
    write per line. The buffer is written and flushed `FLUSH_SECONDS` after the first line in it,
    when it holds `MAX_PENDING` lines, before any other log line (so lines stay in order), and at
    exit. A 5xx line is written at once. A killed process (SIGKILL) loses at most the last
    `FLUSH_SECONDS` of access lines, never another line.
    """

    FLUSH_SECONDS = 0.2
    MAX_PENDING = 256

    def __init__(self, logger_name: str = "auth_service.http", event: str = "http_request") -> None:
        self._name, self._event = logger_name, event
        self._logger = logging.getLogger(logger_name)
        self._flush_due: asyncio.TimerHandle | None = None
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, level: int, **fields: Any) -> None:
        handler = _json_handler
        if handler is None:
            structlog.stdlib.get_logger(self._name).log(level, self._event, **fields)
            return
        if not self._logger.isEnabledFor(level):
            return
        event_dict: EventDict = {"timestamp": _utc_timestamp(), "level": logging.getLevelName(level).lower(),
                                 "event": self._event, **fields, "logger": self._name}
        if _may_hold_secrets(event_dict):
            event_dict = redact_secrets(None, "", event_dict)
        line = _json_line(event_dict) + "\n"
        handler.acquire()
        try:
            _pending.append(line)
            full = len(_pending) >= self.MAX_PENDING
        finally:
            handler.release()
        if level >= logging.ERROR or full:
            self.flush()
        else:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a CLI, a test): nothing would flush later
            self.flush()
            return
        if self._flush_due is not None and self._flush_loop is loop:
            return  # already due on this loop (a loop closed with it pending never runs it)
        self._flush_due, self._flush_loop = loop.call_later(self.FLUSH_SECONDS, self.flush), loop

    def flush(self) -> None:
        if self._flush_due is not None:
            self._flush_due.cancel()
            self._flush_due = None
        write_pending_access_lines()


_second: tuple[int, str] = (0, "")  # the last second an access line was written in, formatted


def _utc_timestamp() -> str:
    """The time as structlog's ISO stamp in UTC ("2026-11-23T22:46:56.230309Z", always with the
    microseconds): the date and time of day formatted once a second, not once a line (a datetime
    made and formatted per line was a quarter of the line's cost)."""
    global _second
    now = time.time()
    second = int(now)
    cached = _second  # read once: another thread may replace it meanwhile
    if second != cached[0]:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{int((now - second) * 1_000_000):06d}Z"


def write_pending_access_lines() -> None:
    """Write the access lines waiting in AccessLog's buffer now (AccessLog's timer does it within
    `FLUSH_SECONDS`; at exit, and in tests about to read stdout, this does)."""
    handler = _json_handler
    if handler is not None:
        handler.write_pending()
    elif _pending:
        sys.stdout.write(_take_pending())
        sys.stdout.flush()


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Replace the value of every sensitive-looking key, at any depth, with "[redacted]".

    Defence in depth: no password, token, secret or code is ever meant to be logged.
    """
    return {key: _redact(key, value, 0) for key, value in event_dict.items()}


def _may_hold_secrets(event_dict: EventDict) -> bool:
    """False when redact_secrets would change nothing: no sensitive key, every value a number or a
    string without a secret in it. An access line is that (a cheaper check than redacting it)."""
    if _any_sensitive_key(tuple(event_dict)):
        return True
    texts = []
    for value in event_dict.values():
        if type(value) is str:
            texts.append(value)
        elif type(value) not in (int, float):
            return True
    # One text for one search (no part of the pattern matches NUL, so no match spans two values),
    # which only runs when the text holds what any match starts with. The regex costs ~40 ns a
    # character on every access line; substring tests cost a few. Non-ASCII text always runs it
    # (case-insensitive matching there knows equivalences str.lower() does not).
    text = "\0".join(texts)
    if text.isascii() and "eyJ" not in text:
        lowered = text.lower()
        if "bearer" not in lowered and "basic" not in lowered:
            return False
    return _SECRET_IN_TEXT.search(text) is not None


@functools.lru_cache(maxsize=1024)  # access lines come with the same few sets of keys
def _any_sensitive_key(keys: tuple[str, ...]) -> bool:
    return any(is_sensitive_key(key) for key in keys)


@functools.lru_cache(maxsize=4096)  # a log line checks every key; the same few keys come back
def is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return lowered not in SAFE_KEYS and any(part in lowered for part in _SENSITIVE_PARTS)


def _redact(key: object, value: Any, depth: int) -> Any:
    if isinstance(key, str) and is_sensitive_key(key):
        return REDACTED
    if key == "exc_info" or depth >= _MAX_DEPTH:  # exc_info is rendered later, into "exception"
        return value
    if isinstance(value, str):
        return _SECRET_IN_TEXT.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {k: _redact(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(None, item, depth + 1) for item in value]
    if type(value) is tuple:
        return tuple(_redact(None, item, depth + 1) for item in value)
    return value


def _json_line(event_dict: Any, **_: Any) -> str:
    # orjson: a few microseconds per line instead of json's tens, on every request's access line.
    return orjson.dumps(event_dict, default=repr).decode()


def _key_order(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    ordered = {key: event_dict.pop(key) for key in _FIRST_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


class _StructlogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stdout as it is when a line is logged; a second configure replaces it."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:  # called holding the handler's lock
        # pytest's capture and contextlib.redirect_stdout swap sys.stdout after start-up.
        self.stream = sys.stdout
        if _pending:  # access lines logged before this line go before it
            self.stream.write(_take_pending())
        super().emit(record)

    def write_pending(self) -> None:
        """Write and flush the access lines waiting in the buffer."""
        self.acquire()
        try:
            if _pending:
                sys.stdout.write(_take_pending())
            sys.stdout.flush()
        finally:
            self.release()


# Access lines rendered by AccessLog and not yet written; guarded by the JSON handler's lock.
_pending: list[str] = []


def _take_pending() -> str:
    text = "".join(_pending)
    _pending.clear()
    return text


@atexit.register
def _write_pending_at_exit() -> None:
    with contextlib.suppress(OSError, ValueError):  # stdout already closed: nowhere to write
        write_pending_access_lines()
