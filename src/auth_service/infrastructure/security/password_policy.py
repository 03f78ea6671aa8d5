"""The password policy of SPEC §7: breached list (offline, then HIBP), length, then zxcvbn."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any

import httpx
import structlog

from auth_service.domain.errors import BreachedPasswordError, WeakPasswordError
from auth_service.domain.passwords import ESTIMATOR_SKIP_LENGTH, length_reasons

MIN_SCORE = 3
# zxcvbn stores the user inputs of the current call in a module-global dictionary, so two
# concurrent calls in different threads would score against each other's inputs.
_ZXCVBN_LOCK = threading.Lock()
_WORD_SEPARATORS = re.compile(r"[^\w]+|_")


class BreachedList:
    """The common/breached passwords shipped with the service; read once, on first use."""

    def __init__(self, resource: str = "common_passwords.txt") -> None:
        self._resource = resource
        self._entries: frozenset[str] | None = None
        self._lock = threading.Lock()

    def contains(self, password: str) -> bool:
        """Case-insensitive exact match."""
        return password.lower() in self.load()

    def load(self) -> frozenset[str]:
        """Read the list now (idempotent); call it at start-up to keep the first check fast."""
        if self._entries is None:
            with self._lock:
                if self._entries is None:
                    text = (resources.files("auth_service") / "data" / self._resource).read_text("utf-8")
                    lines = (line.strip().lower() for line in text.splitlines())
                    self._entries = frozenset(line for line in lines if line)
        return self._entries


class HibpClient:
    """Have I Been Pwned range API (k-anonymity: only 5 hex chars of the SHA-1 leave the service).
    Fails open: when the API cannot answer, the password counts as not breached."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            # Padding hides the real number of suffixes for the prefix from an observer.
            headers={"Add-Padding": "true", "User-Agent": "auth-service"},
        )

    async def is_breached(self, password: str) -> bool:
        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:5], digest[5:]
        try:
            response = await self._client.get(f"/range/{prefix}")
            if response.status_code != 200:
                raise httpx.HTTPStatusError("unexpected status", request=response.request, response=response)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            structlog.get_logger(__name__).warning("hibp_unavailable", error=type(exc).__name__)
            return False
        return _count_for(response.text, suffix) > 0

    async def aclose(self) -> None:
        await self._client.aclose()


def _count_for(body: str, suffix: str) -> int:
    for line in body.splitlines():
        candidate, _, count = line.strip().partition(":")
        if candidate.upper() == suffix:
            try:
                return int(count)
            except ValueError:
                return 0
    return 0


class DefaultPasswordPolicy:
    """Raises BreachedPasswordError for a listed password (before any other rule), otherwise
    WeakPasswordError for a bad length or, below 64 code points, a zxcvbn score under 3."""

    def __init__(self, breached: BreachedList, hibp: HibpClient | None) -> None:
        self._breached, self._hibp = breached, hibp

    async def check(self, password: str, user_inputs: Sequence[str]) -> None:
        if await asyncio.to_thread(self._breached.contains, password):
            raise BreachedPasswordError()
        if self._hibp is not None and await self._hibp.is_breached(password):
            raise BreachedPasswordError()
        reasons = length_reasons(password)
        if reasons:
            raise WeakPasswordError(reasons)
        if len(password) < ESTIMATOR_SKIP_LENGTH:
            # zxcvbn is CPU-bound (milliseconds): keep it off the event loop.
            result = await asyncio.to_thread(_estimate, password, _expand(user_inputs))
            if result["score"] < MIN_SCORE:
                raise WeakPasswordError(_feedback_reasons(result["feedback"]))


def _expand(user_inputs: Sequence[str]) -> list[str]:
    """Each input plus its words, so "ada.lovelace@example.com" also penalises "lovelace"."""
    words: list[str] = []
    for value in user_inputs:
        if not value:
            continue
        words.append(value)
        words.extend(part for part in _WORD_SEPARATORS.split(value) if len(part) >= 3)
    return list(dict.fromkeys(words))


def _estimate(password: str, user_inputs: list[str]) -> dict[str, Any]:
    with _ZXCVBN_LOCK:
        from zxcvbn import zxcvbn  # imported on first use: its dictionaries take ~12 MB per worker

        result: dict[str, Any] = zxcvbn(password, user_inputs=user_inputs)
    return result


def _feedback_reasons(feedback: dict[str, Any]) -> list[str]:
    reasons = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    return [reason for reason in reasons if reason] or ["too_guessable"]
