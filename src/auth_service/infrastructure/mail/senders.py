"""Ways to hand a message over for delivery: SMTP in production, standard output in development."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import sys
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol, TextIO

from auth_service.application.ports import EmailMessage


class MailSender(Protocol):
    """Deliver one message or raise; the outbox worker retries on any exception."""

    async def send(self, message: EmailMessage) -> None: ...


class SmtpSender:
    """Sends through an SMTP relay with the standard library, in a worker thread.

    With `starttls` the connection is upgraded before anything else is sent, with certificate and
    host name checks, and a server that does not offer STARTTLS is an error, never a downgrade.
    """

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 starttls: bool, mail_from: str, timeout: float) -> None:
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._starttls, self._mail_from, self._timeout = starttls, mail_from, timeout
        # make_msgid() would otherwise look up the host's FQDN, which can block on DNS.
        self._msgid_domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send_blocking, self._mime(message))

    def _mime(self, message: EmailMessage) -> MimeMessage:
        mime = MimeMessage()  # the default policy refuses line breaks in headers
        mime["From"] = self._mail_from
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = formatdate(usegmt=True)
        mime["Message-ID"] = make_msgid(domain=self._msgid_domain)
        mime.set_content(message.body)
        return mime

    def _send_blocking(self, mime: MimeMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username:
                smtp.login(self._username, self._password or "")
            smtp.send_message(mime)


class ConsoleSender:
    """Prints each message to standard output, outside the structured log (development only).

    Without a `stream`, `sys.stdout` is looked up at each send, so a redirected stdout is honoured.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, message: EmailMessage) -> None:
        stream = sys.stdout if self._stream is None else self._stream
        stream.write(
            "----- email -----\n"
            f"To: {message.to}\n"
            f"Subject: {message.subject}\n"
            "\n"
            f"{message.body.rstrip()}\n"
            "-----------------\n"
        )
        stream.flush()
