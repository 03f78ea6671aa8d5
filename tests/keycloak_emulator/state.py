"""What the emulated Keycloak remembers: users, sessions, login failures, sent e-mails, counters and
injected faults, all behind one lock (the server thread and the test thread both touch them)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.keycloak_emulator.keys import RealmKeys
from tests.keycloak_emulator.realm import RealmConfig

# Keycloak keeps an idle session alive this much longer than its idle timeout (SESSION_EXPIRATION_GRACE_PERIOD).
SESSION_GRACE_SECONDS = 120

OPERATIONS = frozenset({
    "well_known", "certs", "realm_info", "token", "logout", "revoke", "introspect", "userinfo",
    "create_user", "get_users", "count_users", "get_user", "update_user", "delete_user", "reset_password",
    "execute_actions_email", "send_verify_email", "get_sessions", "logout_user", "delete_session", "brute_force",
})  # fmt: skip


# KeycloakErrorHandler's bodies: a 5xx points at the server log; a WebApplicationException shows its message.
_FAULT_BODIES: dict[int, dict[str, str]] = {
    500: {"error": "unknown_error", "error_description": "For more on this error consult the server log."},
    502: {"error": "unknown_error", "error_description": "For more on this error consult the server log."},
    503: {"error": "unknown_error", "error_description": "For more on this error consult the server log."},
    401: {"error": "HTTP 401 Unauthorized"},
    403: {"error": "HTTP 403 Forbidden"},
    404: {"error": "HTTP 404 Not Found"},
}


class KeycloakError(Exception):
    """An HTTP answer other than success, with Keycloak's body."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status, self.body, self.headers = status, body, headers or {}


def oauth_error(status: int, error: str, description: str | None = None) -> KeycloakError:
    body = {"error": error} if description is None else {"error": error, "error_description": description}
    return KeycloakError(status, body)


class Clock:
    """Wall-clock time plus an offset the tests move forward; frozen, it moves only when advanced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        with self._lock:
            return (self._frozen_at if self._frozen_at is not None else time.time()) + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def freeze(self) -> None:
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = time.time()

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset, self._frozen_at = 0.0, None


def hash_password(password: str) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()
    return f"{salt}${digest}"


def check_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    salt, digest = stored.split("$", 1)
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()
    return secrets.compare_digest(candidate, digest)


@dataclass(slots=True)
class User:
    id: str
    username: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    enabled: bool = True
    email_verified: bool = False
    attributes: dict[str, list[str]] = field(default_factory=dict)
    required_actions: list[str] = field(default_factory=list)
    password_hash: str | None = None
    created_ms: int = 0
    service_account_client: str | None = None
    realm_roles: list[str] = field(default_factory=list)
    client_roles: dict[str, list[str]] = field(default_factory=dict)


@dataclass(slots=True)
class ClientSession:
    timestamp: int = 0  # when tokens were last issued to this client in the session
    current_refresh_jti: str | None = None  # the refresh token last presented (revokeRefreshToken)
    refresh_reuse: int = 0


@dataclass(slots=True)
class Session:
    id: str
    user_id: str
    ip_address: str
    started: float
    last_refresh: float
    clients: dict[str, ClientSession] = field(default_factory=dict)


@dataclass(slots=True)
class LoginFailures:
    num_failures: int = 0
    last_failure_ms: int = 0
    last_ip: str = ""
    not_before: int = 0


class EmulatorState:
    def __init__(self, realm: RealmConfig) -> None:
        self.lock = threading.RLock()
        self.realm = realm
        self.keys = RealmKeys(realm.name)
        self.clock = Clock()
        self.base_url = "http://127.0.0.1"
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.keys.reset()
            self.clock.reset()
            self.lifespans: dict[str, int] = {}
            self.users: dict[str, User] = {}
            self.sessions: dict[str, Session] = {}
            self.login_failures: dict[str, LoginFailures] = {}
            self.revoked_access_jtis: set[str] = set()
            self.action_emails: list[dict[str, Any]] = []
            self.counts: Counter[str] = Counter()
            self.faults: dict[str, list[int]] = {}
            for account in self.realm.service_accounts:
                user = User(
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.realm.name}/{account.username}")),
                    username=account.username,
                    enabled=True,
                    created_ms=int(self.clock.now() * 1000),
                    service_account_client=account.client_id,
                    realm_roles=list(account.realm_roles),
                    client_roles={c: list(r) for c, r in account.client_roles.items()},
                )
                self.users[user.id] = user

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm.name}"

    def lifespan(self, key: str, default: int) -> int:
        if key in self.lifespans:
            return self.lifespans[key]
        return int(self.realm.setting(key, default))

    @property
    def access_lifespan(self) -> int:
        return self.lifespan("accessTokenLifespan", 300)

    @property
    def sso_idle(self) -> int:
        return self.lifespan("ssoSessionIdleTimeout", 1800)

    @property
    def sso_max(self) -> int:
        return self.lifespan("ssoSessionMaxLifespan", 36000)

    def hit(self, operation: str) -> None:
        """Count a request to an endpoint."""
        with self.lock:
            self.counts[operation] += 1
            if operation == "certs":
                self.counts["jwks_fetches"] += 1

    def take_fault(self, operation: str) -> None:
        """Raise the fault a test queued for this operation, if any."""
        with self.lock:
            queue = self.faults.get(operation)
            if not queue:
                return
            status = queue.pop(0)
        raise KeycloakError(status, _FAULT_BODIES.get(status, {"error": "unknown_error"}))

    def find_user(self, *, username: str | None = None, email: str | None = None) -> User | None:
        for user in self.users.values():
            if username is not None and user.username == username.lower():
                return user
            if email is not None and user.email is not None and user.email == email.lower():
                return user
        return None

    def session_valid(self, session: Session | None) -> bool:
        if session is None:
            return False
        now = self.clock.now()
        if now > session.last_refresh + self.sso_idle + SESSION_GRACE_SECONDS:
            return False
        return now <= session.started + self.sso_max

    def live_session(self, session_id: str | None) -> Session | None:
        session = self.sessions.get(session_id) if session_id else None
        if session is not None and not self.session_valid(session):
            del self.sessions[session.id]
            return None
        return session

    def end_sessions_of(self, user_id: str) -> None:
        for session_id in [s.id for s in self.sessions.values() if s.user_id == user_id]:
            del self.sessions[session_id]
