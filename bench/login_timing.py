"""Login timing: does a wrong password take as long as an unknown e-mail (SPEC §3 Login)?

Starts the app in-process (httpx over ASGI, lifespan included) on a fresh SQLite database with the
production hashing parameters, seeds one user, then times `POST /api/v1/auth/login` for an unknown
e-mail and for the right e-mail with a wrong password, interleaved in a shuffled order after a
warm-up. Prints both distributions and a two-sided Mann-Whitney U test (normal approximation with
tie correction) plus a bootstrap interval of the difference of medians. Request limits are off and
the lockout threshold is out of reach, so neither interferes. Exit status 1 when the two differ.

    .venv/bin/python bench/login_timing.py [--tries 300] [--warmup 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from auth_service.application.commands.create_admin import CreateAdmin
from auth_service.bootstrap import Container, Settings
from auth_service.infrastructure.db.migrate import upgrade_to_head
from auth_service.infrastructure.logging import configure_logging
from auth_service.interfaces.http.app import create_app

EMAIL = "timing@example.com"
PASSWORD = "correct horse battery staple"
LOGIN = "/api/v1/auth/login"
ALPHA = 0.01


def _settings(database_url: str) -> Settings:
    # Production hashing cost (the defaults); no request limits and no lockout in the way.
    return Settings(app_env="test", database_url=database_url, secret_key="login-timing-secret-key-0123456789abcdef",
                    rate_limit_enabled=False, lockout_threshold=10**9, log_level="warning")


async def _measure(url: str, tries: int, warmup: int, seed: int) -> tuple[list[float], list[float]]:
    container = Container(_settings(url))
    app = create_app(container)
    rng = random.Random(seed)  # noqa: S311 - the order of the tries, not a secret
    async with LifespanManager(app, startup_timeout=60):
        await container.create_admin(CreateAdmin(EMAIL, PASSWORD))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def once(kind: str, n: int) -> float:
                # A different unknown address each time: nothing is cached or counted per address.
                email = EMAIL if kind == "wrong_password" else f"nobody-{n}@example.com"
                body = {"email": email, "password": f"wrong password {n}"}
                started = time.perf_counter()
                response = await client.post(LOGIN, json=body)
                elapsed = time.perf_counter() - started
                assert response.status_code == 401, response.text
                assert response.json()["error"]["code"] == "invalid_credentials"
                return elapsed * 1000

            order = ["unknown_email", "wrong_password"] * warmup
            rng.shuffle(order)
            for n, kind in enumerate(order):
                await once(kind, -n - 1)
            samples: dict[str, list[float]] = {"unknown_email": [], "wrong_password": []}
            order = ["unknown_email", "wrong_password"] * tries
            rng.shuffle(order)
            for n, kind in enumerate(order):
                samples[kind].append(await once(kind, n))
    return samples["unknown_email"], samples["wrong_password"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _describe(name: str, values: list[float]) -> str:
    cells = [f"{label} {_percentile(values, q):7.2f}" for label, q in
             (("p10", 0.10), ("p50", 0.50), ("p90", 0.90), ("p99", 0.99))]
    return f"{name:<15} n={len(values):<5} " + "  ".join(cells) + f"  mean {statistics.fmean(values):7.2f} ms"


def mann_whitney_u(a: list[float], b: list[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U: (U of `a`, p-value), normal approximation with tie correction."""
    pooled = sorted([(value, 0) for value in a] + [(value, 1) for value in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        size = j - i + 1
        ties += size**3 - size
        i = j + 1
    n1, n2 = len(a), len(b)
    rank_sum = sum(rank for rank, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = rank_sum - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (u - mean) / sigma if sigma else 0.0
    return u, math.erfc(abs(z) / math.sqrt(2))


def bootstrap_median_difference(a: list[float], b: list[float], rounds: int = 2000,
                                seed: int = 7) -> tuple[float, float]:
    """95 % interval of median(b) - median(a)."""
    rng = random.Random(seed)  # noqa: S311 - the order of the tries, not a secret
    differences = sorted(statistics.median(rng.choices(b, k=len(b))) - statistics.median(rng.choices(a, k=len(a)))
                         for _ in range(rounds))
    return differences[int(0.025 * rounds)], differences[int(0.975 * rounds)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=300, help="timed logins of each kind")
    parser.add_argument("--warmup", type=int, default=30, help="untimed logins of each kind first")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='login-timing-')) / 'auth.db'}"
    upgrade_to_head(url)  # runs its own event loop
    configure_logging("warning", "console")
    unknown, wrong = asyncio.run(_measure(url, args.tries, args.warmup, args.seed))
    u, p = mann_whitney_u(unknown, wrong)
    low, high = bootstrap_median_difference(unknown, wrong)
    print(_describe("unknown email", unknown))
    print(_describe("wrong password", wrong))
    print(f"Mann-Whitney U = {u:.0f}, two-sided p = {p:.3f}; "
          f"median(wrong password) - median(unknown email): 95 % CI [{low:+.2f}, {high:+.2f}] ms")
    indistinguishable = p >= ALPHA
    print(("indistinguishable" if indistinguishable else "DISTINGUISHABLE") +
          f" at alpha = {ALPHA} ({time.perf_counter() - started:.0f} s)")
    return 0 if indistinguishable else 1


if __name__ == "__main__":
    sys.exit(main())
