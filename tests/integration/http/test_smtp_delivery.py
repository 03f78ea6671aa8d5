"""The lifecycle end to end with real SMTP delivery (MAIL_BACKEND=smtp): the verification message
goes through the outbox to an SMTP server, and its token or code verifies the account. On SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from asgi_lifespan import LifespanManager

from auth_service.application.ports import EmailMessage
from auth_service.bootstrap import Container, Settings
from auth_service.interfaces.http.app import create_app
from tests.doubles import FixedClock
from tests.integration.http.flows import API, bearer, error_code, link_token, login, register, verification_code


class _Inbox:
    """An aiosmtpd handler that keeps every message it accepts (in the server's thread)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        mime = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mime, MimeMessage)
        body = mime.get_content().replace("\r\n", "\n")  # SMTP carries CRLF line ends
        for recipient in envelope.rcpt_tos:
            self.messages.append(EmailMessage(to=recipient, subject=str(mime["Subject"]), body=body))
        return "250 Message accepted for delivery"

    async def wait_for(self, address: str, subject: str, timeout: float = 10.0) -> EmailMessage:
        async with asyncio.timeout(timeout):
            while True:
                found = [m for m in self.messages if m.to == address and m.subject == subject]
                if found:
                    return found[0]
                await asyncio.sleep(0.02)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def settings_overrides(smtp_inbox: tuple[_Inbox, int]) -> dict[str, Any]:
    return {"mail_backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": smtp_inbox[1],
            "mail_from": "auth@example.com"}


@pytest.fixture
async def smtp_client(settings: Settings, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose container sends through SmtpSender: no in-memory mailbox injected."""
    app = create_app(Container(settings, clock=clock))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


async def _sign_in_refresh_and_log_out(client: httpx.AsyncClient, email: str) -> None:
    tokens = await login(client, email)
    me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == email and me.json()["is_verified"] is True

    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    logout = await client.post(f"{API}/auth/logout", headers=bearer(new["access_token"]))
    assert logout.status_code == 204

    for access_token in (tokens["access_token"], new["access_token"]):
        after = await client.get(f"{API}/users/me", headers=bearer(access_token))
        assert after.status_code == 401 and error_code(after) == "token_revoked"


async def test_an_account_verified_by_the_link_of_a_real_smtp_message_signs_in_and_out(
        smtp_client: httpx.AsyncClient, smtp_inbox: tuple[_Inbox, int]) -> None:
    inbox, _ = smtp_inbox
    registered = await register(smtp_client, "ada@example.com")
    assert registered.status_code == 201, registered.text

    message = await inbox.wait_for("ada@example.com", "Verify your email")
    verified = await smtp_client.post(f"{API}/auth/verify-email", json={"token": link_token(message)})

    assert "https://app.example.com/verify-email#token=" in message.body
    assert verified.status_code == 200 and verified.json()["status"] == "active"
    await _sign_in_refresh_and_log_out(smtp_client, "ada@example.com")


async def test_an_account_verified_by_the_code_of_a_real_smtp_message_signs_in_and_out(
        smtp_client: httpx.AsyncClient, smtp_inbox: tuple[_Inbox, int]) -> None:
    inbox, _ = smtp_inbox
    registered = await register(smtp_client, "grace@example.com")
    assert registered.status_code == 201, registered.text

    message = await inbox.wait_for("grace@example.com", "Verify your email")
    verified = await smtp_client.post(f"{API}/auth/verify-email",
                                      json={"email": "grace@example.com", "code": verification_code(message)})

    assert verified.status_code == 200 and verified.json()["status"] == "active"
    await _sign_in_refresh_and_log_out(smtp_client, "grace@example.com")
