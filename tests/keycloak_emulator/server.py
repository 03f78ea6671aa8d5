"""KeycloakEmulator: the emulated realm served by uvicorn on 127.0.0.1 in a background thread, plus
the controls tests use to arrange and inspect it (all thread-safe)."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from tests.keycloak_emulator import admin
from tests.keycloak_emulator.app import create_app
from tests.keycloak_emulator.realm import EXPORT_PATH, load_realm
from tests.keycloak_emulator.state import OPERATIONS, Clock, EmulatorState, User, check_password, hash_password


class KeycloakEmulator:
    """Keycloak 24's OIDC and admin REST endpoints for the realm in `deploy/keycloak/realm-export.json`."""

    def __init__(self, export_path: Path = EXPORT_PATH) -> None:
        self._state = EmulatorState(load_realm(export_path))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url = ""

    def start(self) -> Self:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._state.base_url = self.url
        config = uvicorn.Config(
            create_app(self._state), log_level="warning", access_log=False, lifespan="off",
            loop="asyncio", http="h11", timeout_graceful_shutdown=1, timeout_keep_alive=2,
        )  # fmt: skip
        server = uvicorn.Server(config)
        # The thread runs its own event loop; uvicorn leaves signal handling to the main thread.
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name=f"keycloak-emulator:{port}", daemon=True
        )
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the Keycloak emulator failed to start")
            thread.join(0.01)
        self._server, self._thread, self._socket = server, thread, sock
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    @property
    def realm(self) -> str:
        return self._state.realm.name

    @property
    def issuer(self) -> str:
        return self._state.issuer

    def client_secret(self, client_id: str) -> str | None:
        return self._state.realm.clients[client_id].secret

    def reset(self) -> None:
        """Back to the seeded realm: service accounts only, the first key, zero counters, no faults."""
        self._state.reset()

    @property
    def clock(self) -> Clock:
        return self._state.clock

    def advance(self, seconds: float) -> None:
        self._state.clock.advance(seconds)

    def set_lifespans(self, *, access: int | None = None, sso_idle: int | None = None,
                      sso_max: int | None = None) -> None:  # fmt: skip
        with self._state.lock:
            for key, value in (("accessTokenLifespan", access), ("ssoSessionIdleTimeout", sso_idle),
                               ("ssoSessionMaxLifespan", sso_max)):  # fmt: skip
                if value is not None:
                    self._state.lifespans[key] = value

    def rotate_key(self, retire_old: bool = False) -> str:
        with self._state.lock:
            return self._state.keys.rotate(retire_old=retire_old)

    @property
    def active_kid(self) -> str:
        with self._state.lock:
            return self._state.keys.active_kid

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, typ: str = "JWT", alg: str = "RS256") -> str:
        with self._state.lock:
            return self._state.keys.sign(claims, kid=kid, typ=typ, alg=alg)

    def fail_next(self, operation: str, status: int = 500, times: int = 1) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        with self._state.lock:
            self._state.faults.setdefault(operation, []).extend([status] * times)

    def add_user(
        self, username: str | None = None, *, email: str | None = None, password: str | None = None,
        first_name: str | None = None, last_name: str | None = None, enabled: bool = True,
        email_verified: bool = True, attributes: dict[str, list[str]] | None = None,
        required_actions: list[str] | None = None, realm_roles: list[str] | None = None,
    ) -> str:  # fmt: skip
        """Seed a user directly, as if made in Keycloak's console; returns its id."""
        with self._state.lock:
            name = (username or email or "").lower()
            if not name or self._state.find_user(username=name) or (email and self._state.find_user(email=email)):
                raise ValueError(f"cannot add user {name!r}: missing or taken")
            user = User(
                id=str(uuid.uuid4()), username=name, email=email.lower() if email else None,
                first_name=first_name, last_name=last_name, enabled=enabled, email_verified=email_verified,
                attributes={k: list(v) for k, v in (attributes or {}).items()},
                required_actions=list(required_actions or []),
                password_hash=hash_password(password) if password else None,
                created_ms=int(self._state.clock.now() * 1000), realm_roles=list(realm_roles or []),
            )  # fmt: skip
            self._state.users[user.id] = user
            return user.id

    def clear_login_failures(self, user_id: str | None = None) -> None:
        """Forget brute-force failures (Keycloak's attack-detection DELETE), of one user or of all."""
        with self._state.lock:
            if user_id is None:
                self._state.login_failures.clear()
            else:
                self._state.login_failures.pop(user_id, None)

    @property
    def counts(self) -> dict[str, int]:
        with self._state.lock:
            return dict(self._state.counts)

    def count(self, operation: str) -> int:
        with self._state.lock:
            return self._state.counts[operation]

    @property
    def jwks_fetches(self) -> int:
        return self.count("certs")

    @property
    def users(self) -> list[dict[str, Any]]:
        """Every user but the service accounts, as the admin API represents them."""
        with self._state.lock:
            return [admin.representation(u) for u in self._state.users.values() if not u.service_account_client]

    def user_by_id(self, user_id: str) -> dict[str, Any] | None:
        with self._state.lock:
            user = self._state.users.get(user_id)
            return admin.representation(user) if user else None

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        with self._state.lock:
            user = self._state.find_user(email=email)
            return admin.representation(user) if user else None

    def user_by_username(self, username: str) -> dict[str, Any] | None:
        with self._state.lock:
            user = self._state.find_user(username=username)
            return admin.representation(user) if user else None

    def check_password(self, user_id: str, password: str) -> bool:
        with self._state.lock:
            user = self._state.users.get(user_id)
            return user is not None and check_password(user.password_hash, password)

    def sessions_of(self, user_id: str) -> list[dict[str, Any]]:
        with self._state.lock:
            ids = [s.id for s in list(self._state.sessions.values()) if s.user_id == user_id]
            return [admin.session_representation(self._state, i) for i in ids if self._state.live_session(i)]

    @property
    def action_emails(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [dict(m) for m in self._state.action_emails]

    def login_failures(self, user_id: str) -> int:
        with self._state.lock:
            failures = self._state.login_failures.get(user_id)
            return failures.num_failures if failures else 0
