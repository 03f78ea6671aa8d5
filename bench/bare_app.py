"""The floors served over HTTP, like `auth-service serve` serves the service (uvicorn, same
loop/http implementations, same options and worker count):

- `GET /bare`: one FastAPI route with nothing else, the floor of every bearer-checked endpoint;
- `POST /login-floor`: what any password login must do besides its database work: read the JSON
  body, verify the password with argon2id at the service's parameters on as many threads per
  worker as the service hashes on (ARGON2_MAX_CONCURRENT), and sign an RS256 access token with the
  service's claims. The service's login does this plus its reads and writes (account, lockout
  counter, session, refresh token, audit record), so the gap between the two is that work.

    python bench/bare_app.py --port 3001 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import orjson
from argon2 import PasswordHasher, Type
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request, Response
from harness import PASSWORD

from auth_service.bootstrap import load_settings

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

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
