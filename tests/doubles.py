"""Test doubles shared by unit and integration tests: state you can inspect, no mocks."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

from auth_service.application.ports import EmailMessage


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class FakeSecretBox:
    """Reversible and purpose-bound, but not encryption: for tests that do not test the crypto."""

    def encrypt(self, plaintext: bytes, *, purpose: str) -> str:
        return base64.urlsafe_b64encode(purpose.encode() + b"\x00" + plaintext).decode()

    def decrypt(self, ciphertext: str, *, purpose: str) -> bytes:
        bound, _, plaintext = base64.urlsafe_b64decode(ciphertext.encode()).partition(b"\x00")
        if bound != purpose.encode():
            raise ValueError("cannot decrypt")
        return plaintext

    def is_current(self, ciphertext: str) -> bool:
        return True


class Mailbox:
    """A MailSender that keeps what it was given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = asyncio.Event()

    async def send(self, message: EmailMessage) -> None:
        self.messages.append(message)
        self._arrived.set()

    def to(self, address: str, subject: str | None = None) -> list[EmailMessage]:
        return [m for m in self.messages if m.to == address and (subject is None or m.subject == subject)]

    async def wait_for(self, address: str, subject: str, count: int = 1, timeout: float = 5.0) -> EmailMessage:
        """The `count`-th message of that subject to that address, once the outbox worker sent it."""
        async with asyncio.timeout(timeout):
            while len(self.to(address, subject)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.to(address, subject)[count - 1]
