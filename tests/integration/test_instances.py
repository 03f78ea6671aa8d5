"""Acceptance 3 to 5 of issue 5, with real processes: two `auth-service serve` instances on two ports
share one PostgreSQL database and one Redis. A token of A is accepted by B; a logout on A is
enforced by B within 1 s; a login limit counts A and B together; a key rotation reaches both.
With Redis stopped (a redis-server this test starts itself): readiness 503, no 500s, a logout on
A enforced by B within 3 s (database poll), limits per instance; recovery once Redis is back.
SIGTERM during a slow request lets it finish. Every wait is bounded; processes are always killed."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from auth_service.infrastructure.clock import SystemClock
from auth_service.infrastructure.metrics import PrometheusMetrics
from auth_service.infrastructure.redis_bus import CHANNEL, RedisRevocationBus
from auth_service.infrastructure.revocations import InMemoryRevocationList
from tests.integration.conftest import TEST_SECRET_KEY, _empty_postgres, _require
from tests.integration.http.flows import API, PASSWORD, bearer

pytestmark = pytest.mark.postgres

CLI = str(Path(sys.executable).with_name("auth-service"))
START_TIMEOUT = 30.0


def random_ip() -> str:
    """A client address of this run only: a shared Redis may keep counters of earlier runs."""
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05,
               context: Callable[[], str] = str) -> float:
    """Seconds it took `check` to hold; fails after `timeout`, with `context()` (e.g. server logs)."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s: {check.__doc__ or check}\n{context()}")
        time.sleep(interval)


def service_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATE_LIMIT", "REDIS", "DATABASE"))}
    env.update({
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "ARGON2_MEMORY_KIB": "1024",
        "ARGON2_TIME_COST": "1",
        "MAIL_BACKEND": "console",
        "KEY_RELOAD_INTERVAL": "1",
        "LOG_FORMAT": "console",
        "TRUSTED_PROXIES": "127.0.0.1",  # so each request can name its own client IP
        "PUBLIC_BASE_URL": "http://127.0.0.1",
    })
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class Instance:
    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]
    statuses: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, *, ip: str = "192.0.2.1", **kwargs: Any) -> httpx.Response:
        headers = {"X-Forwarded-For": ip, **kwargs.pop("headers", {})}
        response = httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)
        self.statuses.append(response.status_code)
        return response

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Cluster:
    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env, self.tmp_path, self.instances = env, tmp_path, list[Instance]()

    def start(self, name: str, **extra: str) -> Instance:
        port = free_port()
        log = self.tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                       env={**self.env, **extra}, stdout=out, stderr=subprocess.STDOUT)
        instance = Instance(name, port, log, process)
        self.instances.append(instance)

        def healthy() -> bool:
            assert process.poll() is None, instance.output()
            try:
                return httpx.get(f"{instance.url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False
        wait_until(healthy, START_TIMEOUT, 0.2)
        return instance

    def stop_all(self) -> None:
        for instance in self.instances:
            if instance.process.poll() is None:
                instance.process.terminate()
        for instance in self.instances:
            try:
                instance.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait(timeout=10)


class RedisServer:
    """A redis-server of the test's own, on a free port, that the test may stop and restart."""

    def __init__(self, tmp_path: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed: CI must run the Redis fault tests")
            pytest.skip("the Redis fault tests need redis-server")
        self.binary, self.port, self.tmp_path = binary, free_port(), tmp_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def accepting() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False
        wait_until(accepting, 10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def database(postgres_url: str) -> str:
    asyncio.run(_empty_postgres(postgres_url))
    return postgres_url


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Cluster]]:
    clusters: list[Cluster] = []

    def make(env: dict[str, str]) -> Cluster:
        clusters.append(Cluster(env, tmp_path))
        return clusters[-1]

    yield make
    for cluster in clusters:
        cluster.stop_all()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def create_admin(env: dict[str, str], tmp_path: Path) -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    cli(env, "create-admin", "--email", email, "--password-file", str(password_file))
    return email


def log_in(instance: Instance, email: str, password: str = PASSWORD, ip: str = "192.0.2.1") -> httpx.Response:
    return instance.request("POST", f"{API}/auth/login", ip=ip, json={"email": email, "password": password})


def access_token(instance: Instance, email: str, ip: str = "192.0.2.1") -> str:
    response = log_in(instance, email, ip=ip)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def kid(token: str) -> str:
    header = token.split(".")[0]
    value: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return value


def me(instance: Instance, token: str) -> httpx.Response:
    return instance.request("GET", f"{API}/users/me", headers=bearer(token))


def rejected(instance: Instance, token: str) -> Callable[[], bool]:
    def check() -> bool:
        """the instance rejects the access token of a revoked session"""
        response = me(instance, token)
        return response.status_code == 401 and response.json()["error"]["code"] == "token_revoked"
    return check


def test_two_instances_share_tokens_revocations_limits_and_keys(database: str, cluster_factory: Callable[
        [dict[str, str]], Cluster], tmp_path: Path) -> None:
    redis_url = _require("TEST_REDIS_URL", "Redis")
    # A long database poll: revocations must reach B through Redis within 1 s.
    env = service_env(database, redis_url, RATE_LIMIT_LOGIN="3/minute", REVOCATION_POLL_INTERVAL="60")
    email = create_admin(env, tmp_path)
    cluster = cluster_factory(env)
    a, b = cluster.start("a"), cluster.start("b")

    # A token issued by A is accepted by B.
    ip = random_ip()
    token = access_token(a, email, ip=ip)
    assert me(b, token).status_code == 200

    # Logout on A: B rejects the access token within 1 s.
    assert a.request("POST", f"{API}/auth/logout", headers=bearer(token)).status_code == 204
    assert wait_until(rejected(b, token), 1.0, 0.02) < 1.0

    # One login limit for A and B together: per email (from four addresses) ...
    unique = uuid.uuid4().hex[:8]
    target = f"target-{unique}@example.com"
    for instance in (a, b, a):
        response = log_in(instance, target, "wrong password!!", ip=random_ip())
        assert response.status_code == 401, response.text
    limited = log_in(b, target, "wrong password!!", ip=random_ip())
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited", limited.text
    assert 50 <= int(limited.headers["Retry-After"]) <= 60
    # ... and per IP.
    shared_ip = random_ip()
    for i, instance in enumerate((b, a, b)):
        response = log_in(instance, f"other{i}-{unique}@example.com", "wrong password!!", ip=shared_ip)
        assert response.status_code == 401, response.text
    limited = log_in(a, f"other9-{unique}@example.com", "wrong password!!", ip=shared_ip)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited", limited.text

    # After rotate-keys --now, both sign with the new key (once reloaded) and verify each other's
    # tokens. New access tokens come from refreshing one session on A and on B in turn, not to meet
    # the login limit of the email.
    pair = log_in(a, email, ip=ip).json()
    old_kid, refresh_token = kid(pair["access_token"]), pair["refresh_token"]
    cli(env, "rotate-keys", "--now")
    tokens: dict[str, str] = {}

    def both_sign_with_a_new_key() -> bool:
        """both instances sign with the new key"""
        nonlocal refresh_token
        for instance in (a, b):
            response = instance.request("POST", f"{API}/auth/refresh", json={"refresh_token": refresh_token})
            assert response.status_code == 200, response.text
            tokens[instance.name], refresh_token = response.json()["access_token"], response.json()["refresh_token"]
        return kid(tokens["a"]) != old_kid and kid(tokens["a"]) == kid(tokens["b"])
    wait_until(both_sign_with_a_new_key, 15.0, 0.3)
    assert me(b, tokens["a"]).status_code == 200
    assert me(a, tokens["b"]).status_code == 200
    assert 500 not in a.statuses + b.statuses


def test_redis_outage_and_recovery(database: str, cluster_factory: Callable[[dict[str, str]], Cluster],
                                   own_redis: RedisServer, tmp_path: Path) -> None:
    # A long REVOCATION_POLL_INTERVAL: while Redis is down, the poll must run every 2 s anyway.
    env = service_env(database, own_redis.url, RATE_LIMIT_LOGIN="3/minute", REVOCATION_POLL_INTERVAL="30")
    email = create_admin(env, tmp_path)
    cluster = cluster_factory(env)
    a, b = cluster.start("a"), cluster.start("b")
    for instance in (a, b):
        assert instance.request("GET", "/health/ready").status_code == 200
    token = access_token(a, email)
    assert me(b, token).status_code == 200

    own_redis.stop()

    def not_ready() -> bool:
        """both instances report not ready"""
        return all(instance.request("GET", "/health/ready").status_code == 503 for instance in (a, b))
    wait_until(not_ready, 10.0, 0.2)

    # Known tokens still work; a logout on A is enforced by B within 3 s (the database poll).
    assert me(b, token).status_code == 200
    assert a.request("POST", f"{API}/auth/logout", headers=bearer(token)).status_code == 204
    assert wait_until(rejected(b, token), 3.0, 0.1) < 3.0

    # Limits fall back to each instance's memory: requests are still answered and still limited.
    for i in range(3):
        response = log_in(a, f"nobody{i}@example.com", "wrong password!!", ip="198.51.100.5")
        assert response.status_code == 401, response.text
    limited = log_in(a, "nobody3@example.com", "wrong password!!", ip="198.51.100.5")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited", limited.text
    response = log_in(b, "nobody4@example.com", "wrong password!!", ip="198.51.100.5")
    assert response.status_code == 401, response.text  # B counts on its own while Redis is down
    fresh = access_token(b, email, ip="192.0.2.3")
    assert me(a, fresh).status_code == 200

    own_redis.start()

    def ready() -> bool:
        """both instances are ready again"""
        return all(instance.request("GET", "/health/ready").status_code == 200 for instance in (a, b))
    wait_until(ready, 15.0, 0.2)
    token = access_token(b, email, ip="192.0.2.4")
    assert b.request("POST", f"{API}/auth/logout", headers=bearer(token)).status_code == 204
    wait_until(rejected(a, token), 5.0, 0.1, lambda: "\n".join(
        line for instance in (a, b) for line in instance.output().splitlines() if "path=/health" not in line
        and "users/me" not in line))

    assert 500 not in a.statuses + b.statuses
    for instance in (a, b):
        assert "Traceback" not in instance.output(), instance.output()


def test_a_revocation_published_right_after_redis_restarts_is_delivered(own_redis: RedisServer) -> None:
    """A restart leaves every pooled connection dead: the publish must not fail on one of them."""
    async def scenario() -> dict[str, Any] | None:
        revocations = InMemoryRevocationList(SystemClock(), dt.timedelta(minutes=16))
        bus = RedisRevocationBus(own_redis.url, revocations, lambda: None, PrometheusMetrics())  # type: ignore[arg-type, return-value]
        now = dt.datetime.now(dt.UTC)
        await bus.publish(["SES-before"], now)  # leaves a connection in the pool
        own_redis.stop()
        own_redis.start()
        listener = Redis.from_url(own_redis.url)
        try:
            async with listener.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                await pubsub.get_message(timeout=1.0)  # the subscription's confirmation
                await bus.publish(["SES-after"], now)
                return await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
        finally:
            await listener.aclose()
            await bus.close()

    message = asyncio.run(scenario())

    assert message is not None and json.loads(message["data"])["sids"] == ["SES-after"]


def test_sigterm_lets_a_slow_request_finish(database: str, cluster_factory: Callable[[dict[str, str]], Cluster],
                                            own_redis: RedisServer, tmp_path: Path) -> None:
    # Slow hashing: a login takes a while, and the server is told to stop while it runs.
    env = service_env(database, own_redis.url, ARGON2_MEMORY_KIB="65536", ARGON2_TIME_COST="12")
    email = create_admin(env, tmp_path)
    instance = cluster_factory(env).start("a")
    started = time.monotonic()
    assert log_in(instance, email).status_code == 200
    slow = time.monotonic() - started
    # A precondition, not a skip: with these hashing costs no machine logs in faster than this.
    assert slow >= 0.3, f"a login took only {slow:.2f} s: raise ARGON2_TIME_COST so the signal lands during one"

    result: dict[str, Any] = {}

    def send() -> None:
        try:
            result["response"] = log_in(instance, email, ip="192.0.2.9")
        except httpx.HTTPError as exc:
            result["error"] = exc
    thread = threading.Thread(target=send)
    thread.start()
    time.sleep(min(0.2, slow / 3))  # the request is in flight
    instance.process.send_signal(signal.SIGTERM)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in result, result
    assert result["response"].status_code == 200, result["response"].text
    # Drained, shut down cleanly, then gone. uvicorn re-raises the SIGTERM it caught once shut down,
    # so the status is that of a process ended by SIGTERM (143 in a shell), not of a crash.
    assert instance.process.wait(timeout=20) in (0, -signal.SIGTERM), instance.output()
    assert "Application shutdown complete" in instance.output()
    assert "Traceback" not in instance.output()
