# ruff: noqa: S603 - the commands run are ours (the venv's auth-service, wrk), never input
"""What `make bench` and `make load` share: an isolated environment, a database of their own,
seeding through the service's own container, serving from the working tree, and wrk.

Everything runs on 127.0.0.1. PostgreSQL + Redis when BENCH_DATABASE_URL / BENCH_REDIS_URL are
set (a database named auth_bench_<random> is created on that server and dropped at the end),
else a SQLite file in a temporary directory and in-process rate limits and revocations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
LUA_DIR = BENCH_DIR / "wrk"
VENV_BIN = Path(sys.executable).parent
PASSWORD = "bench-Password-7c1f!horse"  # long enough for the policy; never a real secret
INTROSPECTION_CLIENT = ("bench", "bench-introspection-secret")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- environment ------------------------------------------------------------------------------------
@dataclass
class Backend:
    """The database (and Redis) the run uses; `close()` drops what `open_backend` created."""

    database_url: str
    redis_url: str | None
    description: str
    workdir: Path
    _admin_url: str | None = None
    _database: str | None = None

    def close(self) -> None:
        if self._admin_url and self._database:
            asyncio.run(_postgres(self._admin_url, f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)'))
        shutil.rmtree(self.workdir, ignore_errors=True)


def asyncpg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgres(admin_url: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def open_backend(prefix: str) -> Backend:
    from sqlalchemy.engine import make_url

    workdir = Path(tempfile.mkdtemp(prefix=f"auth-{prefix}-"))
    redis_url = os.environ.get("BENCH_REDIS_URL") or None
    admin_url = os.environ.get("BENCH_DATABASE_URL") or None
    if admin_url:
        name = f"auth_{prefix}_{secrets.token_hex(6)}"
        asyncio.run(_postgres(admin_url, f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name)
        return Backend(url.render_as_string(hide_password=False), redis_url,
                       f"PostgreSQL {url.host}:{url.port or 5432}/{name}" + (" + Redis" if redis_url else ""),
                       workdir, admin_url, name)
    return Backend(f"sqlite+aiosqlite:///{workdir / 'auth.db'}", redis_url,
                   "SQLite (file)" + (" + Redis" if redis_url else ", in-process rate limits and revocations"),
                   workdir)


def service_env(backend: Backend, *, rate_limits: bool = False, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The service's environment: the caller's, minus any auth-service configuration, plus ours."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("BENCH_", "TEST_")) and k.upper() not in _SETTING_NAMES}
    env = {
        **keep,
        "APP_ENV": "development",
        "CONFIG_DIR": str(backend.workdir / "no-config"),  # ignore any ./config of the developer
        "DATABASE_URL": backend.database_url,
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(32),
        "PUBLIC_BASE_URL": "http://127.0.0.1:3000",
        "MAIL_BACKEND": "console",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "RATE_LIMIT_ENABLED": "true" if rate_limits else "false",
        "INTROSPECTION_CLIENTS": ":".join(INTROSPECTION_CLIENT),
        "DOCS_ENABLED": "false",
    }
    if backend.redis_url:
        env["REDIS_URL"] = backend.redis_url
    env.update(extra or {})
    return env


_SETTING_NAMES = {
    "APP_ENV", "CONFIG_DIR", "DATABASE_URL", "DATABASE_URL_FILE", "REDIS_URL", "REDIS_URL_FILE", "SECRET_KEY",
    "SECRET_KEY_FILE", "SECRET_KEY_FALLBACKS", "SERVER_HOST", "SERVER_PORT", "LOG_LEVEL", "LOG_FORMAT",
    "IDENTITY_PROVIDER", "RATE_LIMIT_ENABLED", "INTROSPECTION_CLIENTS", "BOOTSTRAP_ADMIN_EMAIL",
    "BOOTSTRAP_ADMIN_PASSWORD", "ARGON2_MEMORY_KIB", "ARGON2_TIME_COST", "ARGON2_PARALLELISM",
    "ARGON2_MAX_CONCURRENT", "JWT_ALGORITHM", "TRUSTED_PROXIES", "MAIL_BACKEND", "PUBLIC_BASE_URL",
}


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_login_db_floor(database_url: str) -> None:
    """The `floor_*` tables of bare_app's /login-db-floor: copies of the service's, with the same
    columns, defaults and indexes (LIKE ... INCLUDING ALL) and the same foreign keys."""
    asyncio.run(_postgres(database_url, """
        CREATE TABLE floor_failure_counters (LIKE failure_counters INCLUDING ALL);
        CREATE TABLE floor_sessions (LIKE sessions INCLUDING ALL,
                                     FOREIGN KEY (user_id) REFERENCES users (id));
        CREATE TABLE floor_refresh_tokens (LIKE refresh_tokens INCLUDING ALL,
                                           FOREIGN KEY (session_id) REFERENCES floor_sessions (id));
        CREATE TABLE floor_audit_logs (LIKE audit_logs INCLUDING ALL);
    """))


def migrate(env: dict[str, str]) -> None:
    subprocess.run([str(VENV_BIN / "auth-service"), "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


# -- seeding through the service's own container ----------------------------------------------------
@dataclass
class Seeded:
    emails: list[str]
    user_ids: list[str]
    access_tokens: list[str]  # one per user, each with a session of its own
    refresh_tokens: list[str] = field(default_factory=list)
    distinct_tokens: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)


async def _seed(users: int, sessions_per_user: int, distinct: int) -> Seeded:
    from auth_service.application.ports import RequestContext
    from auth_service.application.token_pairs import TokenMinter
    from auth_service.bootstrap import Container, load_settings
    from auth_service.domain.ids import new_user_id
    from auth_service.domain.users import Role, Source, User, UserStatus

    settings = load_settings()
    container = Container(settings)
    try:
        await container.ensure_signing_key()
        password_hash = await container.hasher.hash(PASSWORD)  # the same parameters the service verifies with
        now = container.clock.now()
        seeded = Seeded([], [], [])
        all_users = []
        async with container.uow() as uow:
            for index in range(users):
                email = f"bench{index:04d}@example.com"
                user = User(id=new_user_id(), email=email, username=email, password_hash=password_hash,
                            role=Role.USER, status=UserStatus.ACTIVE, source=Source.INTERNAL, created_at=now,
                            updated_at=now, is_verified=True, first_name="Bench", last_name=f"User {index}")
                await uow.users.add(user)
                all_users.append(user)
                seeded.emails.append(email)
                seeded.user_ids.append(user.id)
            await uow.commit()
        minter = TokenMinter(container.access_tokens, container.secrets, container.config, container.metrics)
        ctx = RequestContext(ip="127.0.0.1", user_agent="bench")
        # Sessions as a login makes them (session, refresh token, access token), without the hash.
        for round_ in range(sessions_per_user):
            async with container.uow() as uow:
                for user in all_users:
                    tokens = await minter.start_session(uow, user, ctx, now)
                    if round_ == 0:
                        seeded.access_tokens.append(tokens.access_token)
                    else:
                        seeded.refresh_tokens.append(tokens.refresh_token)
                    seeded.session_ids.append(tokens.session_id)
                await uow.commit()
        # Distinct access tokens: one session, many tokens (the bearer check never reads the database).
        if distinct:
            async with container.uow() as uow:
                session = await uow.sessions.get(seeded.session_ids[0])
            assert session is not None
            expires = now + timedelta(seconds=settings.access_token_ttl)
            issue = container.access_tokens.issue
            seeded.distinct_tokens = [issue(all_users[0], session, now=now, expires_at=expires)
                                      for _ in range(distinct)]
        return seeded
    finally:
        await container.stop()


def seed(env: dict[str, str], users: int, sessions_per_user: int = 1, distinct: int = 0) -> Seeded:
    with environ(env):
        return asyncio.run(_seed(users, sessions_per_user, distinct))


# -- serving --------------------------------------------------------------------------------------------
class Server:
    """A process group we started; stopped with SIGTERM (then SIGKILL) to that group only."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True, cwd=ROOT)

    def wait_ready(self, path: str = "/health", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server on port {self.port} not ready after {timeout:.0f} s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (children started by multiprocessing), or the server itself."""
        children = [pid for pid in _children(self.process.pid)
                    if b"spawn_main" in _cmdline(pid) or b"uvicorn" in _cmdline(pid)]
        return children or [self.process.pid]

    def wait_idle(self, timeout: float = 6.0, busy_share: float = 0.05) -> float:
        """Wait until the server's processes use (almost) no CPU: work queued by a run that wrk has
        ended (logins waiting for argon2, the audit chain catching up) must not bill the next run.
        Returns the seconds waited."""
        started = time.monotonic()
        interval, quiet = 0.25, 0
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        previous = self.cpu_ticks()
        while time.monotonic() - started < timeout:
            time.sleep(interval)
            current = self.cpu_ticks()
            busy = (current - previous) / ticks_per_second / interval
            previous = current
            quiet = quiet + 1 if busy < busy_share else 0
            if quiet >= 2:
                break
        return time.monotonic() - started

    def cpu_ticks(self) -> int:
        """CPU time (clock ticks) the server's processes, all their threads, have used so far."""
        return _ticks({self.process.pid, *self.worker_pids()})

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def _ticks(pids: set[int] | list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


@dataclass(frozen=True)
class CpuSample:
    """Clock ticks used so far: by a server's processes, by the local PostgreSQL server's processes
    (none for a remote one) and by the whole machine (every core's non-idle time)."""

    server: int
    postgres: int
    machine: int

    @classmethod
    def take(cls, server: Server) -> CpuSample:
        postgres = [int(comm.parent.name) for comm in Path("/proc").glob("[0-9]*/comm")
                    if _read(comm).startswith(("postgres", "postmaster"))]
        times = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = sum(times) - times[3] - times[4]  # minus idle and iowait
        return cls(server.cpu_ticks(), _ticks(postgres), busy)

    def per_request_ms(self, later: CpuSample, requests: int) -> dict[str, float]:
        """Core-milliseconds per request between this sample and `later`."""
        scale = 1000 / os.sysconf("SC_CLK_TCK") / max(requests, 1)
        return {"server": round((later.server - self.server) * scale, 2),
                "postgres": round((later.postgres - self.postgres) * scale, 2),
                "machine": round((later.machine - self.machine) * scale, 2)}


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def serve_service(env: dict[str, str], port: int, workers: int, log_path: Path) -> Server:
    argv = [str(VENV_BIN / "auth-service"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers)]
    return Server(argv, env, port, log_path)


# -- wrk ------------------------------------------------------------------------------------------------
WRK_MISSING = ("wrk is not installed. On Debian/Ubuntu: sudo apt-get install -y wrk "
               "(or build it from https://github.com/wg/wrk).")


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        print(WRK_MISSING, file=sys.stderr)
        sys.exit(3)
    return path


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int]
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per request, see CpuSample

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_RESULT = re.compile(r"^BENCH_RESULT (\{.*\})$", re.MULTILINE)


def wrk(port: int, path: str, script: str, args: list[str], *, seconds: float, connections: int,
        threads: int) -> WrkResult:
    argv = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", str(LUA_DIR / script), f"http://127.0.0.1:{port}{path}", "--", *args]
    completed = subprocess.run(argv, capture_output=True, text=True, check=False,
                               timeout=seconds + 60, cwd=LUA_DIR)
    match = _RESULT.search(completed.stdout)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stdout[-1500:]} "
                           f"{completed.stderr[-1500:]}")
    data: dict[str, Any] = json.loads(match.group(1))
    statuses = data.get("statuses") or {}
    return WrkResult(requests=int(data["requests"]), seconds=data["duration_us"] / 1e6,
                     p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000,
                     non_2xx=int(data["status_errors"]),
                     socket_errors=int(data["connect"] + data["read"] + data["write"] + data["timeout"]),
                     statuses=statuses if isinstance(statuses, dict) else {})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


# -- machine ----------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "sqlalchemy",
                    "asyncpg", "pyjwt", "cryptography", "argon2-cffi", "orjson"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    wrk_version = ""
    with contextlib.suppress(Exception):
        first_line = subprocess.run([require_wrk(), "-v"], capture_output=True, text=True, check=False
                                    ).stdout.splitlines()[0]
        wrk_version = " ".join(first_line.split()[:2])
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "load_average": os.getloadavg(),
            "packages": versions, "wrk": wrk_version}
