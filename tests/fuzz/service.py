"""The service under fuzzing: the real app on a migrated SQLite file, started once in schemathesis'
event loop, with a signed-in account of every role (SPEC §4) and records they may act on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from schemathesis.python import asgi

from auth_service.bootstrap import Container, Settings
from auth_service.infrastructure.db.migrate import upgrade_to_head
from auth_service.infrastructure.logging import configure_logging
from auth_service.interfaces.http.app import create_app
from tests.doubles import Mailbox

API = "/api/v1"
PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@fuzz.example.com"
ROLES = ("anonymous", "admin", "partner", "operator", "user")
# Answers after which the caller's own session is gone: sign in again before the next case.
_SESSION_ENDING = {("POST", "/auth/logout"), ("DELETE", "/auth/logout"), ("POST", "/auth/logout-all")}


def fuzz_settings(database_url: str) -> Settings:
    return Settings(
        app_env="test", database_url=database_url, secret_key="fuzz-test-secret-key-0123456789abcdef",
        public_base_url="http://testserver", log_level="warning", argon2_memory_kib=1024, argon2_time_cost=1,
        introspection_clients=["resource-server:rs-secret"], bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=PASSWORD,
        # Thousands of requests from one address with wrong passwords: neither the request limits nor
        # the lockout are under test here (tests/integration/http/test_rate_limits.py, test_login_rules.py).
        rate_limit_enabled=False, lockout_threshold=1_000_000)


def _document() -> dict[str, Any]:
    """The OpenAPI document, built without starting anything (nothing connects before a request)."""
    app = create_app(Container(fuzz_settings("sqlite+aiosqlite:///:memory:"), mail_sender=Mailbox()))
    return app.openapi()


DOCUMENT = _document()


@dataclass
class Service:
    app: LongLived
    client: asgi.ASGIClient
    emails: dict[str, str]
    ids: dict[str, dict[str, str]]
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        if role not in self.tokens:
            self.tokens[role] = self.sign_in(self.emails[role])["access_token"]
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def sign_in(self, email: str) -> dict[str, Any]:
        response = self.client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    def known_ids(self, role: str, parameters: dict[str, Any]) -> dict[str, str]:
        """Ids of records that exist, in place of generated ones (which nearly never do)."""
        if role == "anonymous":
            return {}
        if "session_id" in parameters:
            # A second session of the caller, so that deleting it is a real deletion.
            return {"session_id": self.sign_in(self.emails[role])["session_id"]}
        return {name: self.ids[role][name] for name in parameters if name in self.ids[role]}

    def after(self, role: str, case: Any, response: Any) -> None:
        ended = (case.method.upper(), case.path.removeprefix(API)) in _SESSION_ENDING and response.status_code == 204
        if ended or response.status_code == 401:
            self.tokens.pop(role, None)


def _post(client: asgi.ASGIClient, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    response = client.post(f"{API}{path}", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class LongLived:
    """The app as schemathesis sees it, made at import so that the schema and its probes know it;
    the real app is attached by `start_service`. Schemathesis ends an app's lifespan after every
    test: this one starts the container once, ignores those ends, and stops it at `close()`."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None
        self.container: Container | None = None
        self._started = self._closing = False

    def attach(self, app: FastAPI, container: Container) -> None:
        self.app, self.container, self._started, self._closing = app, container, False, False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert self.app is not None and self.container is not None, "start_service() attaches the app"
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if not self._started:
                    await self.container.start()
                    self._started = True
                await send({"type": "lifespan.startup.complete"})
            else:
                if self._closing and self._started:
                    await self.container.stop()
                    self._started = False
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        self._closing = True
        with asgi.get_client(self):
            pass
        asgi.shutdown_lifespans()
        self.app = self.container = None


APP = LongLived()


@contextlib.contextmanager
def start_service(directory: Path) -> Iterator[Service]:
    url = f"sqlite+aiosqlite:///{directory / 'auth.db'}"
    upgrade_to_head(url)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("warning", "console")  # thousands of requests: only what goes wrong
    container = Container(fuzz_settings(url), mail_sender=Mailbox())
    APP.attach(create_app(container), container)
    try:
        with asgi.get_client(APP) as client:  # starts the container: keys, bootstrap admin, workers
            yield _seeded(Service(APP, client, {"admin": ADMIN_EMAIL}, {}))
    finally:
        APP.close()
        # Leave logging as the rest of the suite expects it.
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.captureWarnings(False)
        structlog.reset_defaults()


def _seeded(service: Service) -> Service:
    client = service.client
    admin = service.headers("admin")["Authorization"].removeprefix("Bearer ")
    home = _post(client, "/companies", {"name": "Home"}, admin)["id"]
    # The admin's targets live in a company of their own, so that disabling or deleting them never
    # signs the other roles out.
    target_company = _post(client, "/companies", {"name": "Target"}, admin)["id"]
    admin_target = _post(client, "/users", {"email": "target@fuzz.example.com", "role": "user",
                                            "company_id": target_company, "password": PASSWORD}, admin)["id"]
    member_target = _post(client, "/users", {"email": "member@fuzz.example.com", "role": "user",
                                             "company_id": home, "password": PASSWORD}, admin)["id"]
    for role in ("partner", "operator", "user"):
        email = f"{role}@fuzz.example.com"
        _post(client, "/users", {"email": email, "role": role, "company_id": home, "password": PASSWORD}, admin)
        service.emails[role] = email
    service.ids = {
        "admin": {"user_id": admin_target, "company_id": target_company},
        "partner": {"user_id": member_target, "company_id": home},
        "operator": {"user_id": member_target, "company_id": home},
        "user": {"user_id": member_target, "company_id": home},
    }
    return service
