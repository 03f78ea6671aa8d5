"""The floors served over HTTP, like `auth-service serve` serves the service (uvicorn, same
loop/http implementations, same options and worker count):

- `GET /bare`: one FastAPI route with nothing else, the floor of every bearer-checked endpoint;
- `POST /login-floor`: what any password login must do besides its database work: read the JSON
  body, verify the password with argon2id at the service's parameters on as many threads per
  worker as the service hashes on (ARGON2_MAX_CONCURRENT), and sign an RS256 access token with the
  service's claims. The service's login does this plus its reads and writes (account, lockout
  counter, session, refresh token, audit record), so the gap between the two is that work;
- `POST /login-db-floor` (PostgreSQL only): the same plus the least SQL such a login needs, sent
  with asyncpg directly: one statement reads the account and its lockout counter; one statement,
  without BEGIN/COMMIT, stamps the account and writes the session, the refresh token and the audit
  record (into `floor_*` copies of the service's tables with the same indexes and foreign keys,
  made by `harness.prepare_login_db_floor`, so that the service's audit chain never sees them).
  It leaves out what the service does besides: the framework, the ORM layer, the rules, the
  audit chain's linking. The gap between it and the floor above is PostgreSQL's share.

    python bench/bare_app.py --port 3001 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from argon2 import PasswordHasher, Type
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request, Response
from harness import PASSWORD, asyncpg_dsn

from auth_service.bootstrap import load_settings

_db: dict[str, Any] = {}


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield
        return
    import asyncpg

    _db["pool"] = pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=4, max_size=10)
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=_lifespan)

_settings = load_settings()
_hasher = PasswordHasher(time_cost=_settings.argon2_time_cost, memory_cost=_settings.argon2_memory_kib,
                         parallelism=_settings.argon2_parallelism, type=Type.ID)
_hash = _hasher.hash(PASSWORD)
_threads = ThreadPoolExecutor(max_workers=_settings.argon2_max_concurrent)
_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"active": True}


@app.post("/login-floor")
async def login_floor(request: Request) -> Response:
    body = orjson.loads(await request.body())
    await asyncio.get_running_loop().run_in_executor(_threads, _hasher.verify, _hash, body["password"])
    now = int(time.time())
    subject = "USR-" + secrets.token_urlsafe(12)
    claims = {"iss": "http://127.0.0.1:3000", "sub": subject, "aud": "auth-service", "exp": now + 900, "iat": now,
              "nbf": now, "jti": secrets.token_urlsafe(16), "sid": "SES-" + secrets.token_urlsafe(12),
              "user_id": subject, "email": body["email"], "email_verified": True, "roles": ["user"],
              "company_id": None, "network_id": None, "station_id": None}
    token = jwt.encode(claims, _key, algorithm="RS256", headers={"kid": "floor", "typ": "at+jwt"})
    return Response(orjson.dumps({"access_token": token, "refresh_token": secrets.token_urlsafe(32),
                                  "token_type": "Bearer", "expires_in": 900}), media_type="application/json")


_READ = """
SELECT u.id, u.password_hash, u.role, u.status, u.company_id, f.failures, f.locked_until
FROM users u LEFT JOIN floor_failure_counters f ON f.key = $2
WHERE u.email = $1"""
_WRITE = """
WITH stamped AS (
  UPDATE users SET last_login_at = $2 WHERE id = $1 AND status = 'active' RETURNING id, company_id),
s AS (
  INSERT INTO floor_sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent)
  SELECT $3, id, $2, $2, $4, '127.0.0.1', 'wrk' FROM stamped),
r AS (
  INSERT INTO floor_refresh_tokens (token_hash, session_id, user_id, created_at, expires_at)
  SELECT $5, $3, id, $2, $4 FROM stamped),
a AS (
  INSERT INTO floor_audit_logs (id, occurred_at, action, outcome, actor_id, target_type, target_id, company_id,
                                ip, user_agent, details)
  SELECT $6, $2, 'auth.login_succeeded', 'success', id, 'session', $3, company_id, '127.0.0.1', 'wrk',
         '{"method": "password"}'::jsonb FROM stamped)
SELECT id, company_id FROM stamped"""


@app.post("/login-db-floor")
async def login_db_floor(request: Request) -> Response:
    body = orjson.loads(await request.body())
    email = body["email"]
    counter_key = hmac.new(b"floor", email.encode(), hashlib.sha256).hexdigest()
    pool = _db["pool"]
    row = await pool.fetchrow(_READ, email, counter_key)
    await asyncio.get_running_loop().run_in_executor(_threads, _hasher.verify, row["password_hash"], body["password"])
    now = datetime.now(UTC)
    session_id, refresh_token = "SES-" + secrets.token_urlsafe(12), secrets.token_urlsafe(32)
    token_hash = hmac.new(b"floor", refresh_token.encode(), hashlib.sha256).hexdigest()
    stamped = await pool.fetchrow(_WRITE, row["id"], now, session_id, now + timedelta(days=30), token_hash,
                                  "AUD-" + secrets.token_urlsafe(12))
    issued = int(now.timestamp())
    claims = {"iss": "http://127.0.0.1:3000", "sub": stamped["id"], "aud": "auth-service", "exp": issued + 900,
              "iat": issued, "nbf": issued, "jti": secrets.token_urlsafe(16), "sid": session_id,
              "user_id": stamped["id"], "email": email, "email_verified": True, "roles": [row["role"]],
              "company_id": stamped["company_id"], "network_id": None, "station_id": None}
    token = jwt.encode(claims, _key, algorithm="RS256", headers={"kid": "floor", "typ": "at+jwt"})
    return Response(orjson.dumps({"access_token": token, "refresh_token": refresh_token,
                                  "token_type": "Bearer", "expires_in": 900}), media_type="application/json")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    # The options of `auth-service serve` (interfaces/cli/main.py), minus the factory.
    uvicorn.run("bare_app:app", host="127.0.0.1", port=args.port, workers=args.workers, proxy_headers=False,
                server_header=False, log_config=None, access_log=False, timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
