"""`make bench`: the service's throughput and latency against floors measured in the same run.

Starts `auth-service serve` from the working tree (N workers, default: the number of cores) and a
bare FastAPI app served the same way, seeds users through the service's own container, drives
each endpoint with wrk over 127.0.0.1 and prints one table: requests/s, p50 and p99 (the median
of 3 runs each), with ratios to the floors and the targets of issue 7.

    .venv/bin/python bench/run.py [--workers N] [--duration S] [--runs 3] [--json PATH]

PostgreSQL + Redis when BENCH_DATABASE_URL / BENCH_REDIS_URL are set, else SQLite. Request rate
limits are off for the run (RATE_LIMIT_ENABLED=false): they would measure 429s, not the service.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import log


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    server: str  # "service" or "bare"
    path: str
    script: str
    args: Callable[[int], list[str]]  # run index (-1: warm-up) -> wrk script arguments


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    check: Callable[[dict[str, Any]], tuple[float, bool]]
    postgres_only: bool = False


def argon2_floor(settings: Any, threads: int, seconds: float) -> dict[str, float]:
    """argon2id verify capacity at the service's parameters on `threads` threads, without HTTP."""
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                            parallelism=settings.argon2_parallelism, type=Type.ID)
    encoded = hasher.hash(harness.PASSWORD)
    hasher.verify(encoded, harness.PASSWORD)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    started = time.perf_counter()
    deadline = started + seconds

    def work(mine: list[float]) -> None:
        while True:
            begin = time.perf_counter()
            if begin >= deadline:
                return
            hasher.verify(encoded, harness.PASSWORD)
            mine.append(time.perf_counter() - begin)

    workers = [threading.Thread(target=work, args=(mine,)) for mine in latencies]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    every = sorted(x for mine in latencies for x in mine)
    return {"rps": len(every) / elapsed, "p50_ms": _percentile(every, 50) * 1000,
            "p99_ms": _percentile(every, 99) * 1000, "requests": len(every)}


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return math.nan
    index = min(len(values) - 1, max(0, math.ceil(pct / 100 * len(values)) - 1))
    return values[index]


def main() -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=None, help=f"server worker processes (default: cores = {cores})")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--only", default="", help="comma list of scenario keys (development)")
    parser.add_argument("--json", type=Path, default=None, help="write the results to this file")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the table and the machine as markdown (docs/benchmarks.md)")
    parser.add_argument("--keep-logs", action="store_true", help="print where the server logs are, keep them")
    options = parser.parse_args()
    harness.require_wrk()
    began = time.monotonic()

    backend = harness.open_backend("bench")
    notes: list[str] = ["request rate limits off for the run (RATE_LIMIT_ENABLED=false)"]
    workers = options.workers or cores
    if workers > 1 and not backend.redis_url:
        notes.append(f"SQLite without BENCH_REDIS_URL: 1 worker instead of {workers} "
                     "(serve --workers > 1 needs REDIS_URL); the floor uses 1 worker too")
        workers = 1
    for note in notes:
        log(note)
    # Never more hashes at once than cores across the workers (deploy/README.md): each worker gets
    # its share of ARGON2_MAX_CONCURRENT; the floor hashes on as many threads in all.
    per_worker = max(1, cores // workers)
    notes.append(f"ARGON2_MAX_CONCURRENT={per_worker} per worker ({per_worker * workers} hashing threads in all)")
    log(notes[-1])
    env = harness.service_env(backend, extra={"ARGON2_MAX_CONCURRENT": str(per_worker)})
    servers: list[harness.Server] = []
    try:
        log(f"database: {backend.description}; migrating")
        harness.migrate(env)
        postgres = backend.database_url.startswith("postgresql")
        if postgres:
            harness.prepare_login_db_floor(backend.database_url)
        connections = options.connections
        chain = 2 * connections  # refresh tokens per chain: more than the connections of every thread
        rounds = math.ceil(chain * (options.runs + 1) / options.users)
        # A token comes back once per pass over the pool, and a worker sees about pool / workers of
        # them in between: 3 x its verified-token cache (10,000), so that every request misses it.
        distinct = 30_000 * workers
        log(f"seeding {options.users} users, {options.users * (rounds + 1)} sessions, {distinct} access tokens")
        seeded = harness.seed(env, options.users, sessions_per_user=rounds + 1, distinct=distinct)
        with harness.environ(env):
            from auth_service.bootstrap import load_settings

            settings = load_settings()

        files = backend.workdir
        same = harness.write_lines(files / "same.txt", seeded.access_tokens[:1])
        many = harness.write_lines(files / "distinct.txt", seeded.distinct_tokens)
        per_user = harness.write_lines(files / "users-tokens.txt", seeded.access_tokens)
        emails = harness.write_lines(files / "emails.txt", seeded.emails)
        chains = [harness.write_lines(files / f"refresh-{i}.txt", seeded.refresh_tokens[i * chain:(i + 1) * chain])
                  for i in range(options.runs + 1)]
        nthreads = str(options.threads)
        basic = base64.b64encode(":".join(harness.INTROSPECTION_CLIENT).encode()).decode()
        scenarios = [
            Scenario("bare", "floor: bare FastAPI endpoint", "bare", "/bare", "get.lua", lambda r: []),
            Scenario("validate_same", "GET  /auth/validate-token  same token", "service",
                     "/api/v1/auth/validate-token", "bearer.lua", lambda r: [str(same), nthreads]),
            Scenario("validate_distinct", "GET  /auth/validate-token  distinct", "service",
                     "/api/v1/auth/validate-token", "bearer.lua", lambda r: [str(many), nthreads]),
            Scenario("me", "GET  /users/me", "service", "/api/v1/users/me", "bearer.lua",
                     lambda r: [str(per_user), nthreads]),
            Scenario("login", "POST /auth/login", "service", "/api/v1/auth/login", "login.lua",
                     lambda r: [str(emails), nthreads, harness.PASSWORD]),
            Scenario("login_floor", "floor: hash + sign login, no database", "bare", "/login-floor", "login.lua",
                     lambda r: [str(emails), nthreads, harness.PASSWORD]),
            *([Scenario("login_db_floor", "floor: hash + sign + SQL, asyncpg", "bare", "/login-db-floor",
                        "login.lua", lambda r: [str(emails), nthreads, harness.PASSWORD])] if postgres else []),
            Scenario("refresh", "POST /auth/refresh", "service", "/api/v1/auth/refresh", "refresh.lua",
                     lambda r: [str(chains[r + 1]), nthreads]),
            Scenario("introspect", "POST /auth/introspect", "service", "/api/v1/auth/introspect", "introspect.lua",
                     lambda r: [str(per_user), nthreads, basic]),
        ]
        if options.only:
            wanted = set(options.only.split(",")) | {"bare"}
            if "login" in wanted:
                wanted |= {"login_floor", "login_db_floor"}
            scenarios = [s for s in scenarios if s.key in wanted]

        service_port, bare_port = harness.free_port(), harness.free_port()
        log(f"serving: auth-service serve --workers {workers} on :{service_port}, bare floor on :{bare_port}")
        service = harness.serve_service(env, service_port, workers, files / "service.log")
        servers.append(service)
        bare = harness.Server([sys.executable, str(harness.BENCH_DIR / "bare_app.py"), "--port", str(bare_port),
                               "--workers", str(workers)], env, bare_port, files / "bare.log")
        servers.append(bare)
        service.wait_ready("/health/ready")
        bare.wait_ready("/bare")
        ports = {"service": service_port, "bare": bare_port}

        def drive(scenario: Scenario, run: int, seconds: float) -> harness.WrkResult:
            server = bare if scenario.server == "bare" else service
            before = harness.CpuSample.take(server)
            result = harness.wrk(ports[scenario.server], scenario.path, scenario.script, scenario.args(run),
                                 seconds=seconds, connections=connections, threads=options.threads)
            cpu_ms = before.per_request_ms(harness.CpuSample.take(server), result.requests)
            # Requests still queued when wrk stops (logins waiting for argon2) finish before the next run.
            server.wait_idle()
            return dataclasses.replace(result, cpu_ms=cpu_ms)

        log("warming up (1 s each)")
        for scenario in scenarios:
            drive(scenario, -1, 1)

        results: dict[str, list[harness.WrkResult]] = {s.key: [] for s in scenarios}
        argon2_runs: list[dict[str, float]] = []
        threads = settings.argon2_max_concurrent * workers
        for run in range(options.runs):
            # Interleaved rounds, so that drift in the machine's load touches every figure alike.
            for scenario in scenarios:
                result = drive(scenario, run, options.duration)
                results[scenario.key].append(result)
                log(f"run {run + 1}/{options.runs} {scenario.key:18} {result.rps:9.1f} req/s  p50 "
                    f"{result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  non-2xx {result.non_2xx}  "
                    f"socket errors {result.socket_errors}")
                if scenario.key == "login":
                    # Right after the login it is the floor of: the machine's speed drifts within a
                    # round (its argon2 capacity by 15-25% in a minute, seen here).
                    floor = argon2_floor(settings, threads, min(options.duration, 5.0))
                    argon2_runs.append(floor)
                    log(f"run {run + 1}/{options.runs} argon2 floor       {floor['rps']:9.1f} verifies/s "
                        f"({threads} threads)")

        time.sleep(1)
        rss = [round(harness.rss_mb(pid), 1) for pid in service.worker_pids()]
        report = _report(options, workers, backend, notes, scenarios, results, argon2_runs, threads, rss,
                         time.monotonic() - began)
        print(_table(report))
        if options.markdown is not None:
            previous = options.markdown.read_text() if options.markdown.exists() else ""
            options.markdown.write_text(_markdown(report, previous))
            log(f"markdown written to {options.markdown}")
        if options.json is not None:
            options.json.write_text(json.dumps(report, indent=2) + "\n")
            log(f"results written to {options.json}")
        if options.keep_logs:
            log(f"server logs kept in {files}")
        return 0
    finally:
        for server in servers:
            server.stop()
        if not options.keep_logs:
            backend.close()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def _report(options: argparse.Namespace, workers: int, backend: harness.Backend, notes: list[str],
            scenarios: list[Scenario], results: dict[str, list[harness.WrkResult]],
            argon2_runs: list[dict[str, float]], threads: int, rss: list[float], elapsed: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for scenario in scenarios:
        runs = results[scenario.key]
        figures[scenario.key] = {
            "label": scenario.label,
            "rps": _median([r.rps for r in runs]),
            "p50_ms": _median([r.p50_ms for r in runs]),
            "p99_ms": _median([r.p99_ms for r in runs]),
            "non_2xx": sum(r.non_2xx for r in runs),
            "socket_errors": sum(r.socket_errors for r in runs),
            "cpu_ms": {part: _median([r.cpu_ms[part] for r in runs]) for part in ("server", "postgres", "machine")},
            "runs": [{"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "requests": r.requests,
                      "non_2xx": r.non_2xx, "cpu_ms": r.cpu_ms} for r in runs],
        }
    if argon2_runs:
        figures["argon2"] = {
            "label": f"floor: argon2id verify, {threads} threads",
            "rps": _median([r["rps"] for r in argon2_runs]),
            "p50_ms": _median([r["p50_ms"] for r in argon2_runs]),
            "p99_ms": _median([r["p99_ms"] for r in argon2_runs]),
            "non_2xx": 0, "socket_errors": 0, "runs": argon2_runs,
        }
    postgres = backend.database_url.startswith("postgresql")
    checks = []
    for target in TARGETS:
        try:
            value, ok = target.check(figures)
        except KeyError:
            continue
        applies = postgres or not target.postgres_only
        checks.append({"key": target.key, "target": target.description, "value": value,
                       "met": ok if applies else None})
    return {
        "machine": harness.machine(),
        "config": {"workers": workers, "connections": options.connections, "wrk_threads": options.threads,
                   "duration_s": options.duration, "runs": options.runs, "database": backend.description,
                   "argon2_threads": threads, "notes": notes},
        "figures": figures,
        "targets": checks,
        "rss_mb_per_worker": rss,
        "elapsed_s": round(elapsed, 1),
    }


def _ratio(figures: dict[str, Any], key: str, floor: str, field: str = "rps") -> float:
    return float(figures[key][field]) / float(figures[floor][field])


TARGETS = [
    Target("validate_same", "validate-token, same token >= 0.85 x bare floor",
           lambda f: (r := _ratio(f, "validate_same", "bare"), r >= 0.85)),
    Target("validate_distinct", "validate-token, distinct tokens >= 0.6 x bare floor",
           lambda f: (r := _ratio(f, "validate_distinct", "bare"), r >= 0.6)),
    Target("validate_same_p99", "validate-token p99 (same) <= 1.5 x floor p99",
           lambda f: (r := _ratio(f, "validate_same", "bare", "p99_ms"), r <= 1.5)),
    Target("validate_distinct_p99", "validate-token p99 (distinct) <= 1.5 x floor p99",
           lambda f: (r := _ratio(f, "validate_distinct", "bare", "p99_ms"), r <= 1.5)),
    Target("login", "login >= 0.85 x argon2id verify capacity",
           lambda f: (r := _ratio(f, "login", "argon2"), r >= 0.85)),
    Target("refresh", "refresh >= 240 req/s (PostgreSQL, 2 cores)",
           lambda f: (v := float(f["refresh"]["rps"]), v >= 240), postgres_only=True),
    Target("me", "GET /users/me >= 0.3 x bare floor (PostgreSQL)",
           lambda f: (r := _ratio(f, "me", "bare"), r >= 0.3), postgres_only=True),
]


def _table(report: dict[str, Any]) -> str:
    config, machine, figures = report["config"], report["machine"], report["figures"]
    lines = [
        "",
        f"auth-service benchmark: {config['workers']} worker(s), {config['database']}, "
        f"{config['connections']} connections, median of {config['runs']} x {config['duration_s']:g} s",
        f"machine: {machine['cores']} cores, {machine['cpu']}, Python {machine['python']}, "
        f"load average at the end {', '.join(f'{x:.2f}' for x in machine['load_average'])}",
        *(f"note: {note}" for note in config["notes"]),
        "",
        f"| {'endpoint':42} | {'req/s':>9} | {'p50 ms':>8} | {'p99 ms':>8} | {'ratio':>18} | non-2xx |",
        f"|{'-' * 44}|{'-' * 11}:|{'-' * 9}:|{'-' * 9}:|{'-' * 19}:|{'-' * 8}:|",
    ]
    order = ["bare", "argon2", "validate_same", "validate_distinct", "me", "login", "login_floor", "login_db_floor",
             "refresh", "introspect"]
    for key in order:
        if key not in figures:
            continue
        figure = figures[key]
        if key in ("bare", "argon2"):
            ratio = "floor"
        elif key in ("login", "login_floor", "login_db_floor") and "argon2" in figures:
            ratio = f"{figure['rps'] / figures['argon2']['rps']:.2f} x argon2"
        else:
            ratio = f"{figure['rps'] / figures['bare']['rps']:.2f} x bare"
        lines.append(f"| {figure['label']:42} | {figure['rps']:9.1f} | {figure['p50_ms']:8.2f} | "
                     f"{figure['p99_ms']:8.2f} | {ratio:>18} | {figure['non_2xx']:7d} |")
    lines += [
        "",
        "CPU per request, core-ms (median; what the machine spent beyond the server and PostgreSQL is wrk,",
        "Redis and the rest; a login's includes its password hash):",
        "",
        f"| {'endpoint':42} | {'server':>8} | {'PostgreSQL':>10} | {'machine':>8} |",
        f"|{'-' * 44}|{'-' * 9}:|{'-' * 11}:|{'-' * 9}:|",
    ]
    for key in order:
        cpu = figures.get(key, {}).get("cpu_ms")
        if cpu:
            lines.append(f"| {figures[key]['label']:42} | {cpu['server']:8.2f} | {cpu['postgres']:10.2f} | "
                         f"{cpu['machine']:8.2f} |")
    lines.append("")
    for check in report["targets"]:
        verdict = {True: "met", False: "MISSED", None: "n/a on SQLite"}[check["met"]]
        lines.append(f"target: {check['target']:52} {check['value']:8.2f}  {verdict}")
    rss = report["rss_mb_per_worker"]
    rss_ok = all(value <= 150 for value in rss)
    lines.append(f"target: {'resident memory <= 150 MB per worker':52} {max(rss):8.1f}  "
                 f"{'met' if rss_ok else 'MISSED'} (MB after the run: {', '.join(f'{x:.0f}' for x in rss)})")
    lines.append(f"elapsed: {report['elapsed_s']:.0f} s")
    return "\n".join(lines)


NOTES_MARKER = "<!-- notes: kept by bench/run.py --markdown -->"


def _markdown(report: dict[str, Any], previous: str = "") -> str:
    """The run's table and machine; what follows NOTES_MARKER in the previous file is kept."""
    config, machine = report["config"], report["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    load = ", ".join(f"{x:.2f}" for x in machine["load_average"])
    return "\n".join([
        "# Benchmarks",
        "",
        "The latest `make bench` run (`bench/run.py --markdown docs/benchmarks.md`); method in the README's",
        "*Benchmark* section. Ratios are to floors measured in the same run on the same machine.",
        "",
        f"- machine: {machine['cores']} cores, {machine['cpu']}, {machine['os']}",
        f"- Python {machine['python']}; {packages}; {machine['wrk']}",
        f"- run: {config['workers']} worker(s), {config['database']}, {config['connections']} connections, "
        f"wrk {config['wrk_threads']} threads, median of {config['runs']} x {config['duration_s']:g} s, "
        f"{report['elapsed_s']:.0f} s in all",
        f"- load average (1, 5, 15 min) at the end of the run: {load}",
        "",
        "```",
        _table(report).strip("\n"),
        "```",
        "",
        NOTES_MARKER,
    ]) + (previous.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in previous else "\n")


if __name__ == "__main__":
    sys.exit(main())
