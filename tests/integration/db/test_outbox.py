"""The e-mail outbox against real databases (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)
and a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import ipaddress
import os
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from auth_service.application.ports import EmailMessage
from auth_service.infrastructure.db.engine import make_engine, make_sessionmaker
from auth_service.infrastructure.db.migrate import upgrade_to_head
from auth_service.infrastructure.db.tables import OutboxRow
from auth_service.infrastructure.mail.outbox import OutboxWorker, SqlOutbox
from auth_service.infrastructure.mail.senders import ConsoleSender, SmtpSender

NOON = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
SECRET_LINK = "https://app.example.com/verify-email#token=s3cr3t-t0ken"
WELCOME = EmailMessage("ada@example.com", "Verify your email", f"Hello Ada,\n\n{SECRET_LINK}\n")

Sessions = async_sessionmaker[AsyncSession]


# -- doubles ----------------------------------------------------------------------------------------
@dataclass
class FixedClock:
    current: dt.datetime = NOON

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += dt.timedelta(seconds=seconds)


class FakeSecretBox:
    """Not encryption: just enough to see that the purpose round-trips and the text is not stored as is."""

    def encrypt(self, plaintext: bytes, *, purpose: str) -> str:
        return base64.b64encode(purpose.encode() + b":" + plaintext).decode()

    def decrypt(self, ciphertext: str, *, purpose: str) -> bytes:
        stored_purpose, _, plaintext = base64.b64decode(ciphertext).partition(b":")
        assert stored_purpose == purpose.encode()
        return plaintext

    def is_current(self, ciphertext: str) -> bool:
        return True


BOX = FakeSecretBox()


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    messages: list[MimeMessage] = field(default_factory=list)
    logins: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"hunter2"
        if ok:
            self.logins.append(data.login)
        return AuthResult(success=ok)


class SmtpServer:
    def __init__(self, **smtp_options: Any) -> None:
        self.inbox, self.port, self._options = Inbox(), _free_port(), smtp_options
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                      authenticator=self.inbox.authenticate, **self._options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def sender(self, **options: Any) -> SmtpSender:
        settings: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "username": None,
                                    "password": None, "starttls": False,
                                    "mail_from": "Auth <no-reply@example.com>", "timeout": 5.0}
        return SmtpSender(**(settings | options))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    # Alembic's env.py and the asyncpg helpers call asyncio.run(): keep them off the test's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_DATABASE_URL is not set; CI needs PostgreSQL")
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    url = make_url(base)
    name = f"test_outbox_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    _in_thread(asyncio.run, admin(f'CREATE DATABASE "{name}"'))
    try:
        test_url = url.set(database=name).render_as_string(hide_password=False)
        _in_thread(upgrade_to_head, test_url)
        yield test_url
    finally:
        _in_thread(asyncio.run, admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
    _in_thread(upgrade_to_head, url)
    return url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    async with factory() as session, session.begin():
        await session.execute(delete(OutboxRow))
    yield factory
    await engine.dispose()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


# -- helpers ----------------------------------------------------------------------------------------
async def queue(sessions: Sessions, clock: FixedClock, *messages: EmailMessage) -> None:
    async with sessions() as session, session.begin():
        outbox = SqlOutbox(session, BOX, clock)
        for message in messages:
            await outbox.add(message)


async def outbox_rows(sessions: Sessions) -> list[OutboxRow]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def worker(sessions: Sessions, clock: FixedClock, sender: Any, **options: Any) -> OutboxWorker:
    settings: dict[str, Any] = {"poll_interval": 3600.0, "max_attempts": 5}
    return OutboxWorker(sessions, BOX, clock, sender, **(settings | options))


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


class BrokenSender:
    async def send(self, message: EmailMessage) -> None:
        raise ConnectionError("relay unreachable")


class StuckSender:
    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def send(self, message: EmailMessage) -> None:
        self.entered.set()
        await asyncio.Event().wait()


# -- delivery ---------------------------------------------------------------------------------------
async def test_a_queued_message_is_delivered_and_then_erased(
        sessions: Sessions, clock: FixedClock, smtp: SmtpServer) -> None:
    await queue(sessions, clock, WELCOME)
    [queued] = await outbox_rows(sessions)
    assert queued.payload_enc is not None and "s3cr3t" not in queued.payload_enc

    sent = await worker(sessions, clock, smtp.sender()).deliver_due()

    assert sent == 1
    [received] = smtp.inbox.messages
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Verify your email"
    assert received["From"] == "Auth <no-reply@example.com>"
    assert received["Message-ID"].endswith("@example.com>") and received["Date"]
    assert SECRET_LINK in received.get_content().splitlines()
    [row] = await outbox_rows(sessions)
    assert row.payload_enc is None
    assert row.sent_at == NOON
    assert row.attempts == 0


async def test_a_rolled_back_transaction_queues_nothing(
        sessions: Sessions, clock: FixedClock, smtp: SmtpServer) -> None:
    async with sessions() as session:
        await SqlOutbox(session, BOX, clock).add(WELCOME)
        await session.flush()
        await session.rollback()

    sent = await worker(sessions, clock, smtp.sender()).deliver_due()

    assert sent == 0
    assert await outbox_rows(sessions) == []
    assert smtp.inbox.messages == []


async def test_an_smtp_outage_delays_a_message_but_loses_nothing(
        sessions: Sessions, clock: FixedClock, smtp: SmtpServer) -> None:
    outbox = worker(sessions, clock, smtp.sender())
    smtp.stop()
    await queue(sessions, clock, WELCOME)

    with capture_logs() as logs:
        assert await outbox.deliver_due() == 0
    [row] = await outbox_rows(sessions)
    assert row.attempts == 1
    assert row.next_attempt_at == NOON + dt.timedelta(seconds=2)
    assert row.last_error is not None and row.last_error.startswith("ConnectionRefusedError")
    assert row.payload_enc is not None and row.sent_at is None and row.failed_at is None
    assert [entry["event"] for entry in logs] == ["outbox.send_failed"]
    assert "s3cr3t" not in repr(logs) and "ada@" not in repr(logs)

    smtp.start()
    assert await outbox.deliver_due() == 0  # not due again yet
    clock.advance(2)
    assert await outbox.deliver_due() == 1

    [received] = smtp.inbox.messages
    assert SECRET_LINK in received.get_content()
    [row] = await outbox_rows(sessions)
    assert row.payload_enc is None and row.sent_at == NOON + dt.timedelta(seconds=2)


async def test_retries_back_off_exponentially_up_to_an_hour(sessions: Sessions, clock: FixedClock) -> None:
    outbox = worker(sessions, clock, BrokenSender(), max_attempts=100)
    await queue(sessions, clock, WELCOME)

    delays = []
    for _ in range(14):
        await outbox.deliver_due()
        [row] = await outbox_rows(sessions)
        delays.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.current = row.next_attempt_at

    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600]


async def test_a_message_is_given_up_after_max_attempts(sessions: Sessions, clock: FixedClock) -> None:
    outbox = worker(sessions, clock, BrokenSender(), max_attempts=2)
    await queue(sessions, clock, WELCOME)
    await outbox.deliver_due()
    clock.advance(2)

    with capture_logs() as logs:
        await outbox.deliver_due()

    [row] = await outbox_rows(sessions)
    assert row.attempts == 2 and row.failed_at == clock.now()
    assert row.last_error == "ConnectionError: relay unreachable"
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [("outbox.gave_up", "error")]
    clock.advance(86400)
    assert await outbox.deliver_due() == 0
    [row] = await outbox_rows(sessions)
    assert row.attempts == 2


async def test_a_message_claimed_by_a_crashed_worker_is_sent_after_the_lease(
        sessions: Sessions, clock: FixedClock, smtp: SmtpServer) -> None:
    await queue(sessions, clock, WELCOME)
    stuck = StuckSender()
    crashed = asyncio.create_task(worker(sessions, clock, stuck).deliver_due())
    await stuck.entered.wait()
    crashed.cancel()
    rescuer = worker(sessions, clock, smtp.sender())

    assert await rescuer.deliver_due() == 0
    clock.advance(60)
    assert await rescuer.deliver_due() == 1
    assert len(smtp.inbox.messages) == 1


async def test_concurrent_workers_send_each_message_exactly_once(
        sessions: Sessions, clock: FixedClock, smtp: SmtpServer) -> None:
    messages = [EmailMessage("ada@example.com", f"message {n}", "hello\n") for n in range(30)]
    await queue(sessions, clock, *messages)
    workers = [worker(sessions, clock, smtp.sender(), batch_size=4) for _ in range(3)]

    sent = await asyncio.gather(*(each.drain(timeout=30) for each in workers))

    assert sum(sent) == 30
    assert sorted(m["Subject"] for m in smtp.inbox.messages) == sorted(m.subject for m in messages)


async def test_drain_delivers_every_batch_that_is_due(
        sessions: Sessions, clock: FixedClock, smtp: SmtpServer) -> None:
    await queue(sessions, clock, *[WELCOME] * 5)

    sent = await worker(sessions, clock, smtp.sender(), batch_size=2).drain(timeout=30)

    assert sent == 5
    assert len(smtp.inbox.messages) == 5


# -- the background loop ----------------------------------------------------------------------------
async def test_a_wake_up_delivers_without_waiting_for_the_next_poll(
        sessions: Sessions, clock: FixedClock, smtp: SmtpServer) -> None:
    outbox = worker(sessions, clock, smtp.sender(), poll_interval=3600)
    running = asyncio.create_task(outbox.run())
    await asyncio.sleep(0.1)  # the first, empty round is done; the loop now sleeps for an hour
    await queue(sessions, clock, WELCOME)

    outbox.wake()

    await eventually(lambda: len(smtp.inbox.messages) == 1)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


class FlakySessions:
    """The database is down for the first `failures` transactions."""

    def __init__(self, sessions: Sessions, failures: int) -> None:
        self._sessions, self.failures = sessions, failures

    def __call__(self) -> AsyncSession:
        if self.failures:
            self.failures -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))
        return self._sessions()


async def test_the_loop_survives_errors_and_logs_them_without_content(
        sessions: Sessions, clock: FixedClock, smtp: SmtpServer) -> None:
    await queue(sessions, clock, WELCOME)
    flaky = FlakySessions(sessions, failures=3)
    outbox = OutboxWorker(flaky, BOX, clock, smtp.sender(), poll_interval=0.01, max_attempts=5)  # type: ignore[arg-type]

    with capture_logs() as logs:
        running = asyncio.create_task(outbox.run())
        await eventually(lambda: len(smtp.inbox.messages) == 1)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    assert [entry["event"] for entry in logs] == ["outbox.worker_error"] * 3
    assert logs[0]["error"].startswith("OperationalError")
    assert "s3cr3t" not in repr(logs)


# -- senders ----------------------------------------------------------------------------------------
async def test_the_smtp_sender_logs_in_when_a_username_is_set(smtp: SmtpServer) -> None:
    smtp.stop()
    server = SmtpServer(auth_require_tls=False)
    server.start()
    try:
        await server.sender(username="mailer", password="hunter2").send(WELCOME)
    finally:
        server.stop()

    assert server.inbox.logins == [b"mailer"]
    assert len(server.inbox.messages) == 1


async def test_the_smtp_sender_upgrades_to_tls_and_checks_the_certificate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_context = _tls_server_context(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # trust our test certificate
    server = SmtpServer(tls_context=server_context, require_starttls=True)
    server.start()
    try:
        await server.sender(starttls=True, username="mailer", password="hunter2").send(WELCOME)
    finally:
        server.stop()

    assert server.inbox.logins == [b"mailer"]
    assert len(server.inbox.messages) == 1


async def test_the_smtp_sender_refuses_a_server_without_starttls(smtp: SmtpServer) -> None:
    with pytest.raises(Exception, match="STARTTLS"):
        await smtp.sender(starttls=True, username="mailer", password="hunter2").send(WELCOME)

    assert smtp.inbox.logins == [] and smtp.inbox.messages == []


async def test_the_console_sender_prints_a_readable_block() -> None:
    stream = io.StringIO()

    await ConsoleSender(stream).send(WELCOME)

    assert stream.getvalue() == (
        "----- email -----\n"
        "To: ada@example.com\n"
        "Subject: Verify your email\n"
        "\n"
        "Hello Ada,\n"
        "\n"
        f"{SECRET_LINK}\n"
        "-----------------\n"
    )


async def test_the_console_sender_writes_to_the_current_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    await ConsoleSender().send(WELCOME)

    assert SECRET_LINK in capsys.readouterr().out


def _tls_server_context(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context

