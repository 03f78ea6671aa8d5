# ruff: noqa: S603 - the command run is the venv's auth-service
"""`make load`: a bounded loopback load test that checks correctness under load, not speed.

For 2 minutes (--duration), 64 clients (--connections) each act as a user of their own: log in,
then mix validate-token, GET /users/me, refresh and now and then a new login, keeping every
session they open. At the end it checks that

  - no request was answered 5xx (and every answer was the one expected),
  - no session was lost: every session a client holds still refreshes, and is listed in
    GET /users/me/sessions,
  - `auth-service audit verify` passes on the database,

prints a summary and exits non-zero when any check fails. PostgreSQL + Redis when
BENCH_DATABASE_URL / BENCH_REDIS_URL are set, else SQLite. Request rate limits are off for the
run (RATE_LIMIT_ENABLED=false): 64 clients on one IP would otherwise measure 429s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import log

API = "/api/v1"
# Weights of the actions after the first login; logins are rare (each costs an argon2 verify).
ACTIONS = (("validate", 45), ("me", 25), ("refresh", 25), ("login", 5))


@dataclass
class HeldSession:
    session_id: str
    access_token: str
    refresh_token: str


@dataclass
class Client:
    email: str
    sessions: list[HeldSession] = field(default_factory=list)


@dataclass
class Stats:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unexpected: list[str] = field(default_factory=list)
    unexpected_count: int = 0
    transport_errors: Counter[str] = field(default_factory=Counter)

    def record(self, action: str, response: httpx.Response, seconds: float, expected: int = 200) -> bool:
        self.statuses[(action, response.status_code)] += 1
        self.latencies[action].append(seconds)
        if response.status_code != expected:
            self.unexpected_count += 1
            if len(self.unexpected) < 20:
                self.unexpected.append(f"{action}: {response.status_code} {response.text[:200]}")
            return False
        return True


async def _timed(client: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    return response, time.perf_counter() - started


async def _login(http: httpx.AsyncClient, client: Client, stats: Stats) -> None:
    response, seconds = await _timed(http, "POST", f"{API}/auth/login",
                                     json={"email": client.email, "password": harness.PASSWORD})
    if stats.record("login", response, seconds):
        body = response.json()
        client.sessions.append(HeldSession(body["session_id"], body["access_token"], body["refresh_token"]))


async def _act(http: httpx.AsyncClient, client: Client, stats: Stats, action: str, rng: random.Random) -> None:
    if action == "login" or not client.sessions:
        await _login(http, client, stats)
        return
    held = rng.choice(client.sessions)
    if action == "validate":
        response, seconds = await _timed(http, "GET", f"{API}/auth/validate-token",
                                         headers={"Authorization": f"Bearer {held.access_token}"})
        stats.record(action, response, seconds)
    elif action == "me":
        response, seconds = await _timed(http, "GET", f"{API}/users/me",
                                         headers={"Authorization": f"Bearer {held.access_token}"})
        stats.record(action, response, seconds)
    else:
        response, seconds = await _timed(http, "POST", f"{API}/auth/refresh",
                                         json={"refresh_token": held.refresh_token})
        if stats.record(action, response, seconds):
            body = response.json()
            held.access_token, held.refresh_token = body["access_token"], body["refresh_token"]


async def _client_loop(http: httpx.AsyncClient, client: Client, stats: Stats, deadline: float, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - a workload mix, not a secret
    names = [name for name, _ in ACTIONS]
    weights = [weight for _, weight in ACTIONS]
    await _login(http, client, stats)
    while time.monotonic() < deadline:
        try:
            await _act(http, client, stats, rng.choices(names, weights)[0], rng)
        except httpx.HTTPError as exc:
            stats.transport_errors[type(exc).__name__] += 1


async def _final_checks(http: httpx.AsyncClient, clients: list[Client]) -> tuple[int, int, list[str]]:
    """Every held session still refreshes and is listed; returns (held, lost, reasons)."""
    held = lost = 0
    reasons: list[str] = []
    for client in clients:
        if not client.sessions:
            continue
        listed = await http.get(f"{API}/users/me/sessions",
                                headers={"Authorization": f"Bearer {client.sessions[-1].access_token}"})
        listed_ids = {item["id"] for item in listed.json().get("items", [])} if listed.status_code == 200 else set()
        for session in client.sessions:
            held += 1
            response = await http.post(f"{API}/auth/refresh", json={"refresh_token": session.refresh_token})
            problems = []
            if response.status_code != 200:
                problems.append(f"refresh answered {response.status_code} {response.text[:120]}")
            if session.session_id not in listed_ids:
                problems.append(f"not listed (list answered {listed.status_code})")
            if problems:
                lost += 1
                if len(reasons) < 20:
                    reasons.append(f"{client.email} {session.session_id}: {'; '.join(problems)}")
    return held, lost, reasons


async def _drive(port: int, emails: list[str], connections: int, seconds: float) -> tuple[Stats, int, int, list[str],
                                                                                          float]:
    stats = Stats()
    clients = [Client(email) for email in emails[:connections]]
    # Idle connections are dropped before uvicorn's keep-alive timeout (5 s) closes them: reusing one
    # the server is closing at that instant is a client-side race, not an answer of the service.
    limits = httpx.Limits(max_connections=connections + 8, max_keepalive_connections=connections + 8,
                          keepalive_expiry=2.0)
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=timeout) as http:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(_client_loop(http, client, stats, deadline, index)
                               for index, client in enumerate(clients)))
        elapsed = time.monotonic() - started
        held, lost, reasons = await _final_checks(http, clients)
    return stats, held, lost, reasons, elapsed


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def main() -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (default 120)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--workers", type=int, default=None, help=f"server workers (default: cores = {cores})")
    options = parser.parse_args()

    backend = harness.open_backend("load")
    workers = options.workers or cores
    notes = ["request rate limits off for the run (RATE_LIMIT_ENABLED=false)"]
    if workers > 1 and not backend.redis_url:
        notes.append(f"SQLite without BENCH_REDIS_URL: 1 worker instead of {workers}")
        workers = 1
    for note in notes:
        log(note)
    env = harness.service_env(backend)
    server: harness.Server | None = None
    try:
        log(f"database: {backend.description}; migrating")
        harness.migrate(env)
        seeded = harness.seed(env, options.connections)
        port = harness.free_port()
        server = harness.serve_service(env, port, workers, backend.workdir / "service.log")
        server.wait_ready("/health/ready")
        log(f"{options.connections} clients for {options.duration:g} s against auth-service serve "
            f"--workers {workers} on :{port}")
        stats, held, lost, reasons, elapsed = asyncio.run(
            _drive(port, seeded.emails, options.connections, options.duration))
        rss = [harness.rss_mb(pid) for pid in server.worker_pids()]
        server.stop()
        server = None
        audit = subprocess.run([str(harness.VENV_BIN / "auth-service"), "audit", "verify"], env=env,
                               capture_output=True, text=True, check=False)
    finally:
        if server is not None:
            server.stop()
        log_path = backend.workdir / "service.log"
        server_errors = _server_errors(log_path)
        backend.close()

    five_xx = sum(count for (_, status), count in stats.statuses.items() if status >= 500)
    total = sum(stats.statuses.values())
    lines = ["", f"load test: {options.connections} clients, {elapsed:.0f} s, {workers} worker(s), "
             f"{backend.description}", *(f"note: {note}" for note in notes), "",
             f"| {'action':10} | {'requests':>9} | {'req/s':>8} | {'p50 ms':>8} | {'p99 ms':>8} | statuses",
             f"|{'-' * 12}|{'-' * 10}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|{'-' * 10}"]
    for action, _ in ACTIONS:
        latencies = stats.latencies.get(action, [])
        statuses = ", ".join(f"{status}: {count}" for (name, status), count in sorted(stats.statuses.items())
                             if name == action)
        lines.append(f"| {action:10} | {len(latencies):9d} | {len(latencies) / elapsed:8.1f} | "
                     f"{_percentile(latencies, 50) * 1000:8.1f} | {_percentile(latencies, 99) * 1000:8.1f} | "
                     f"{statuses}")
    lines += [
        "",
        f"requests: {total} ({total / elapsed:.0f}/s); 5xx: {five_xx}; unexpected answers (5xx included): "
        f"{stats.unexpected_count}; transport errors: "
        f"{sum(stats.transport_errors.values())} {dict(stats.transport_errors) or ''}",
        f"sessions held by the clients: {held}; lost (no longer refreshing or not listed): {lost}",
        f"audit verify: {audit.stdout.strip() or audit.stderr.strip()[-300:]} (exit {audit.returncode})",
        f"server log lines at level error: {server_errors}",
        f"resident memory per worker at the end: {', '.join(f'{x:.0f} MB' for x in rss)}",
    ]
    lines += [f"  unexpected: {item}" for item in stats.unexpected[:10]]
    lines += [f"  lost: {item}" for item in reasons[:10]]
    failed = five_xx > 0 or lost > 0 or audit.returncode != 0 or stats.unexpected_count > 0 \
        or sum(stats.transport_errors.values()) > 0
    lines.append("RESULT: " + ("FAILED" if failed else "passed"))
    print("\n".join(lines))
    return 1 if failed else 0


def _server_errors(path: Path) -> int:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return 0
    count = 0
    for line in lines:
        try:
            count += json.loads(line).get("level") == "error"
        except (ValueError, AttributeError):
            continue
    return count


if __name__ == "__main__":
    sys.exit(main())
