"""Logging as the service configures it, for tests that read what it writes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Literal

import structlog

from auth_service.infrastructure.logging import configure_logging


@contextlib.contextmanager
def service_logging(level: str, fmt: Literal["json", "console"]) -> Iterator[None]:
    """configure_logging(level, fmt) for the block; the root logger and structlog as they were after it."""
    root = logging.getLogger()
    handlers, old_level = list(root.handlers), root.level
    configure_logging(level, fmt)
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(old_level)
        logging.captureWarnings(False)
        structlog.reset_defaults()
