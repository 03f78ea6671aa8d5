"""A database outage while the service runs (SPEC §2 Errors, §3 Validate-token, §8 readiness): the
bearer check keeps working, everything that needs the database answers 503 `service_unavailable`,
never 500, and the service recovers by itself when the database is back.

PostgreSQL is reached through a TCP proxy that the test can cut, which refuses new connections and
drops the open ones, as a server that went down does. The SQLite file is swapped for a directory of
the same name, which no connection can open."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from sqlalchemy.engine import make_url

from auth_service.bootstrap import Container
from tests.doubles import Mailbox
from tests.integration.http.flows import API, PASSWORD, bearer, error_code, login, signed_in

EMAIL = "ada@example.com"


class TcpProxy:
    """Forwards 127.0.0.1:port to the target until cut; then connecting is refused."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._open |= {client_writer, upstream_writer}
        await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._open.discard(writer)


class Outage(Protocol):
    async def begin(self) -> None: ...
    async def end(self) -> None: ...


class PostgresOutage:
    def __init__(self, proxy: TcpProxy) -> None:
        self._proxy = proxy

    async def begin(self) -> None:
        await self._proxy.cut()

    async def end(self) -> None:
        await self._proxy.start()


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths in one step (Linux renameat2 with RENAME_EXCHANGE), so that no connect ever
    finds the database's path missing, or the database without its WAL; elsewhere in three renames."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        middle = a.with_name(a.name + ".swap")
        os.rename(a, middle)
        os.rename(b, a)
        os.rename(middle, b)
        return
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(a))


class SqliteOutage:
    """The database file swapped for a directory (which no connect can open) in one step, its WAL
    and shared memory moved aside behind it; on the way back the WAL first, then the file in one
    step. Moved one by one, a connect between two renames (a background worker's, in an aiosqlite
    thread) could open the database without its WAL, or a new empty file with it, and discard or
    hide the last commits (the flake CI hit: a verified user read back as unverified)."""

    _JOURNALS = ("-wal", "-shm")

    def __init__(self, container: Container) -> None:
        database = make_url(container.settings.database_url).database
        assert database is not None
        self._container, self._path = container, Path(database)
        self._aside = self._path.with_name("auth.db.aside")

    def _journals(self) -> list[tuple[Path, Path]]:
        return [(Path(f"{self._path}{suffix}"), Path(f"{self._aside}{suffix}")) for suffix in self._JOURNALS]

    async def begin(self) -> None:
        await self._container.engine.dispose()  # close pooled connections: they would keep the file open
        self._aside.mkdir()
        _exchange(self._path, self._aside)  # the path is a directory now, the database at the aside name
        for path, aside in self._journals():
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, aside)

    async def end(self) -> None:
        for path, aside in self._journals():
            if aside.exists():
                os.rename(aside, path)
            else:  # none of ours: no journal may pair with the database
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        _exchange(self._aside, self._path)
        self._aside.rmdir()


@pytest.fixture
async def postgres_proxy(database_url: str) -> AsyncIterator[TcpProxy | None]:
    if database_url.startswith("sqlite"):
        yield None
        return
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    with contextlib.suppress(AssertionError):
        await proxy.cut()


@pytest.fixture
def settings_overrides(database_url: str, postgres_proxy: TcpProxy | None) -> dict[str, Any]:
    if postgres_proxy is None:
        return {}
    return {"database_url": make_url(database_url).set(host="127.0.0.1", port=postgres_proxy.port)
            .render_as_string(hide_password=False)}


@pytest.fixture
def outage(container: Container, postgres_proxy: TcpProxy | None) -> Outage:
    return PostgresOutage(postgres_proxy) if postgres_proxy is not None else SqliteOutage(container)


@pytest.fixture
async def tokens(client: httpx.AsyncClient, mailbox: Mailbox) -> dict[str, Any]:
    return await signed_in(client, mailbox, EMAIL)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert error_code(response) == "service_unavailable"
    assert response.json()["error"]["trace_id"] == response.headers["x-request-id"]


async def test_the_bearer_check_needs_no_database(
        client: httpx.AsyncClient, tokens: dict[str, Any], outage: Outage) -> None:
    await outage.begin()

    response = await client.get(f"{API}/auth/validate-token", headers=bearer(tokens["access_token"]))

    assert response.status_code == 200, response.text
    assert response.json()["claims"]["email"] == EMAIL


async def test_reading_the_account_and_logging_in_answer_503(
        client: httpx.AsyncClient, tokens: dict[str, Any], outage: Outage) -> None:
    await outage.begin()

    me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
    logged_in = await client.post(f"{API}/auth/login", json={"email": EMAIL, "password": PASSWORD})

    assert_unavailable(me)
    assert_unavailable(logged_in)


async def test_readiness_reports_the_database_down_while_liveness_stays_up(
        client: httpx.AsyncClient, tokens: dict[str, Any], outage: Outage) -> None:
    await outage.begin()

    ready = await client.get("/health/ready")
    alive = await client.get("/health")

    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"] == "unavailable"
    assert alive.status_code == 200 and alive.json()["status"] == "ok"


async def test_no_endpoint_answers_500_while_the_database_is_down(
        client: httpx.AsyncClient, tokens: dict[str, Any], outage: Outage) -> None:
    auth = bearer(tokens["access_token"])
    needs_the_database: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/auth/register", {"json": {"email": "bob@example.com", "password": PASSWORD}}),
        ("POST", "/auth/verify-email", {"json": {"email": EMAIL, "code": "123456"}}),
        ("POST", "/auth/verify-email/resend", {"json": {"email": EMAIL}}),
        ("POST", "/auth/token", {"data": {"grant_type": "password", "username": EMAIL, "password": PASSWORD}}),
        ("POST", "/auth/refresh", {"json": {"refresh_token": tokens["refresh_token"]}}),
        ("POST", "/auth/revoke", {"data": {"token": tokens["refresh_token"]}}),
        ("POST", "/auth/forgot-password", {"json": {"email": EMAIL}}),
        ("POST", "/auth/reset-password", {"json": {"token": "x" * 43, "new_password": PASSWORD}}),
        ("POST", "/auth/change-password", {"headers": auth, "json": {"current_password": PASSWORD,
                                                                     "new_password": PASSWORD + "!"}}),
        ("PATCH", "/users/me", {"headers": auth, "json": {"first_name": "Ada"}}),
        ("GET", "/users/me/sessions", {"headers": auth}),
        ("DELETE", f"/users/me/sessions/{tokens['session_id']}", {"headers": auth}),
        ("POST", "/auth/logout-all", {"headers": auth}),
        ("POST", "/auth/logout", {"headers": auth}),
    ]
    await outage.begin()

    answers = {f"{method} {path}": await client.request(method, f"{API}{path}", **kwargs)
               for method, path, kwargs in needs_the_database}
    without_database = [await client.get(path) for path in ("/.well-known/jwks.json",
                                                            "/.well-known/openid-configuration", "/metrics")]

    assert {name: r.status_code for name, r in answers.items()} == {name: 503 for name in answers}
    for response in answers.values():
        assert_unavailable(response)
    assert [r.status_code for r in without_database] == [200, 200, 200]


async def test_the_service_recovers_by_itself_when_the_database_is_back(
        client: httpx.AsyncClient, tokens: dict[str, Any], outage: Outage) -> None:
    await outage.begin()
    assert_unavailable(await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"])))
    assert (await client.get("/health/ready")).status_code == 503

    await outage.end()
    # "By itself": a pooled connection that saw the outage may fail once more; allow a bounded moment.
    ready = None
    for _ in range(50):
        ready = await client.get("/health/ready")
        me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
        if ready.status_code == 200 and me.status_code == 200:
            break
        await asyncio.sleep(0.1)

    assert ready is not None and ready.status_code == 200
    assert me.status_code == 200
    assert (await login(client, EMAIL))["user"]["email"] == EMAIL
