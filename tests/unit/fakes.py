"""In-memory fakes of the application ports: state you can inspect, no mocks, no I/O.

`FakeUnitOfWork` behaves like the SQL one where the use cases can tell: a transaction works on a
deep copy of the committed state taken at `__aenter__`, `commit` makes that copy the committed
state, and leaving without a commit throws it away. Transactions run one at a time, like SQLite
with `BEGIN IMMEDIATE`. Repositories hand out and store copies, so an entity that a handler changes
but never saves stays unchanged, as it would in the database. Outside a transaction the
repositories show the committed state. Tests arrange and inspect data through `uow.committed`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import dataclasses
import hashlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from auth_service.application.errors import InvalidTokenError, ServiceUnavailableError, TokenExpiredError
from auth_service.application.ports import (
    AuditRepository,
    CompanyRepository,
    EmailMessage,
    FailureCounterRepository,
    LoginRepository,
    NewSession,
    OneTimeToken,
    OneTimeTokenRepository,
    Outbox,
    PasswordHasher,
    RefreshTokenRepository,
    Registration,
    RegistrationRepository,
    ResendThrottle,
    ResendThrottleRepository,
    SessionRepository,
    SessionView,
    SigningKeyRepository,
    StoredSigningKey,
    UserRepository,
)
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.audit import AuditRecord
from auth_service.domain.companies import Company, company_name_key
from auth_service.domain.errors import BreachedPasswordError, EmailTakenError, UsernameTakenError, WeakPasswordError
from auth_service.domain.lockout import FailureCounter
from auth_service.domain.principal import Principal
from auth_service.domain.sessions import RefreshToken, Session
from auth_service.domain.users import Role, User, UserStatus
from auth_service.infrastructure.identity import LocalIdentityProvider

T = TypeVar("T")


def _copy(value: T) -> T:
    return copy.deepcopy(value)


# -- state and repositories -----------------------------------------------------------------------
@dataclass
class FakeState:
    """Every table the use cases touch, as plain dicts (keyed like the primary keys) and lists."""

    users: dict[str, User] = field(default_factory=dict)
    companies: dict[str, Company] = field(default_factory=dict)
    registrations: dict[str, Registration] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    failure_counters: dict[str, FailureCounter] = field(default_factory=dict)
    resend_throttles: dict[str, ResendThrottle] = field(default_factory=dict)
    one_time_tokens: dict[str, OneTimeToken] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    outbox: list[EmailMessage] = field(default_factory=list)
    keys: dict[str, StoredSigningKey] = field(default_factory=dict)

    def user_by_email(self, email: str) -> User:
        return next(user for user in self.users.values() if user.email == email)

    def actions(self) -> list[str]:
        return [record.action for record in self.audit]

    def audit_of(self, action: str) -> list[AuditRecord]:
        return [record for record in self.audit if record.action == action]

    def one(self, action: str) -> AuditRecord:
        """The only audit record of `action`; fails if there are none or several."""
        (record,) = self.audit_of(action)
        return record

    def mentions(self, text: str) -> bool:
        """Whether `text` appears anywhere in an audit record: in its details or any other field."""
        return any(text in repr(dataclasses.astuple(record)) for record in self.audit)

    def mail_to(self, address: str, subject: str | None = None) -> list[EmailMessage]:
        return [m for m in self.outbox if m.to == address and (subject is None or m.subject == subject)]


class FakeUserRepository:
    def __init__(self, rows: dict[str, User]) -> None:
        self.rows = rows

    async def get(self, user_id: str) -> User | None:
        return _copy(self.rows.get(user_id))

    async def get_by_email(self, email: str) -> User | None:
        return _copy(next((user for user in self.rows.values() if user.email == email), None))

    async def get_by_keycloak_id(self, keycloak_id: str) -> User | None:
        return _copy(next((user for user in self.rows.values() if user.keycloak_id == keycloak_id), None))

    async def username_taken(self, username: str, *, except_user_id: str | None = None) -> bool:
        return any(user.username == username and user.id != except_user_id for user in self.rows.values())

    async def any_admin(self) -> bool:
        return await self.count_active_admins() > 0

    async def count_active_admins(self) -> int:
        return sum(user.role is Role.ADMIN and user.status is UserStatus.ACTIVE for user in self.rows.values())

    async def add(self, user: User) -> None:
        assert user.id not in self.rows, f"duplicate user id {user.id}"
        self.rows[user.id] = _copy(user)

    async def save(self, user: User) -> None:
        assert user.id in self.rows, f"saving a user that was never added: {user.id}"
        self.rows[user.id] = _copy(user)

    async def set_password(self, user_id: str, password_hash: str | None, now: datetime) -> None:
        row = self.rows[user_id]
        row.password_hash, row.updated_at = password_hash, now


class FakeCompanyRepository:
    def __init__(self, rows: dict[str, Company], users: dict[str, User]) -> None:
        self.rows, self._users = rows, users

    async def get(self, company_id: str) -> Company | None:
        return _copy(self.rows.get(company_id))

    async def name_taken(self, name: str, *, except_company_id: str | None = None) -> bool:
        key = company_name_key(name)
        return any(company_name_key(c.name) == key and c.id != except_company_id and not c.is_deleted
                   for c in self.rows.values())

    async def add(self, company: Company) -> None:
        self.rows[company.id] = _copy(company)

    async def save(self, company: Company) -> None:
        self.rows[company.id] = _copy(company)

    async def active_member_count(self, company_id: str) -> int:
        return sum(u.company_id == company_id and u.status is UserStatus.ACTIVE for u in self._users.values())


class FakeRegistrationRepository:
    def __init__(self, rows: dict[str, Registration]) -> None:
        self.rows = rows

    async def add(self, registration: Registration) -> None:
        self.rows[registration.id] = _copy(registration)

    async def save(self, registration: Registration) -> None:
        self.rows[registration.id] = _copy(registration)

    async def get_by_token_hash(self, token_hash: str) -> Registration | None:
        return _copy(next((r for r in self.rows.values() if r.token_hash == token_hash), None))

    async def latest_for_user(self, user_id: str) -> Registration | None:
        # Newest first; among equal timestamps (a clock that stands still) the last one added.
        mine = [r for r in self.rows.values() if r.user_id == user_id]
        return _copy(max(reversed(mine), key=lambda r: r.created_at)) if mine else None


class FakeSessionRepository:
    def __init__(self, rows: dict[str, Session], users: dict[str, User]) -> None:
        self.rows, self._users = rows, users

    async def add(self, session: Session) -> None:
        self.rows[session.id] = _copy(session)

    async def get(self, session_id: str) -> Session | None:
        return _copy(self.rows.get(session_id))

    async def get_many(self, session_ids: Sequence[str]) -> list[Session]:
        return [_copy(self.rows[i]) for i in session_ids if i in self.rows]

    async def touch(self, session_id: str, now: datetime) -> None:
        if session_id in self.rows:
            self.rows[session_id].last_used_at = now

    async def list_live(self, user_id: str, now: datetime) -> list[SessionView]:
        live = [s for s in self.rows.values() if s.user_id == user_id and s.is_live(now)]
        return [SessionView(id=s.id, created_at=s.created_at, last_used_at=s.last_used_at, expires_at=s.expires_at,
                            ip=s.ip, user_agent=s.user_agent)
                for s in sorted(live, key=lambda s: s.created_at, reverse=True)]

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool:
        session = self.rows.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        session.revoked_at, session.revoke_reason = now, reason
        return True

    async def revoke_all(self, user_id: str, now: datetime, reason: str,
                         except_session_id: str | None = None) -> list[str]:
        ids = [s.id for s in self.rows.values()
               if s.user_id == user_id and s.is_live(now) and s.id != except_session_id]
        for session_id in ids:
            await self.revoke(session_id, now, reason)
        return ids

    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        return [(s.id, s.revoked_at) for s in self.rows.values() if s.revoked_at is not None and s.revoked_at > since]

    async def revoke_all_in_company(self, company_id: str, now: datetime, reason: str) -> list[str]:
        members = {u.id for u in self._users.values() if u.company_id == company_id}
        ids = [s.id for s in self.rows.values() if s.user_id in members and s.is_live(now)]
        for session_id in ids:
            await self.revoke(session_id, now, reason)
        return ids


class FakeRefreshTokenRepository:
    def __init__(self, rows: dict[str, RefreshToken]) -> None:
        self.rows = rows

    async def add(self, token: RefreshToken) -> None:
        self.rows[token.token_hash] = _copy(token)

    async def get(self, token_hash: str) -> RefreshToken | None:
        return _copy(self.rows.get(token_hash))

    async def rotate(self, token_hash: str, now: datetime, successor_hash: str, successor_enc: str) -> bool:
        token = self.rows.get(token_hash)
        if token is None or token.rotated_at is not None:
            return False
        token.rotated_at, token.successor_hash, token.successor_enc = now, successor_hash, successor_enc
        return True

    async def erase_successors(self, rotated_before: datetime) -> None:
        for token in self.rows.values():
            if token.rotated_at is not None and token.rotated_at < rotated_before:
                token.successor_enc = None


class FakeFailureCounterRepository:
    def __init__(self, rows: dict[str, FailureCounter]) -> None:
        self.rows = rows

    async def get(self, key: str, *, for_update: bool = False) -> FailureCounter:
        return _copy(self.rows[key]) if key in self.rows else FailureCounter(key=key)

    async def save(self, counter: FailureCounter) -> None:
        self.rows[counter.key] = _copy(counter)

    async def clear(self, key: str) -> None:
        self.rows.pop(key, None)


class FakeResendThrottleRepository:
    def __init__(self, rows: dict[str, ResendThrottle]) -> None:
        self.rows = rows

    async def get(self, key: str, *, for_update: bool = False) -> ResendThrottle:
        return _copy(self.rows[key]) if key in self.rows else ResendThrottle(key=key)

    async def save(self, throttle: ResendThrottle) -> None:
        self.rows[throttle.key] = _copy(throttle)


class FakeOneTimeTokenRepository:
    def __init__(self, rows: dict[str, OneTimeToken]) -> None:
        self.rows = rows

    async def add(self, token: OneTimeToken) -> None:
        self.rows[token.token_hash] = token  # frozen: nothing to copy

    async def get(self, token_hash: str) -> OneTimeToken | None:
        return self.rows.get(token_hash)

    async def void_for_user(self, user_id: str, purpose: str, now: datetime) -> None:
        for key, token in self.rows.items():
            if token.user_id == user_id and token.purpose == purpose and token.used_at is None:
                self.rows[key] = dataclasses.replace(token, used_at=now)

    async def consume(self, token_hash: str, purposes: Sequence[str], now: datetime) -> OneTimeToken | None:
        token = self.rows.get(token_hash)
        if token is None or token.purpose not in purposes or token.used_at is not None or now >= token.expires_at:
            return None
        self.rows[token_hash] = dataclasses.replace(token, used_at=now)
        return self.rows[token_hash]


class FakeAuditLog:
    def __init__(self, records: list[AuditRecord]) -> None:
        self.records = records

    async def add(self, record: AuditRecord) -> None:
        self.records.append(record)


class FakeLoginRepository:
    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def record(self, user_id: str, now: datetime, *, password_hash: str | None, opened: NewSession,
                     audit: AuditRecord, clear_failures: str | None) -> User | None:
        row = self._state.users.get(user_id)
        if row is None or not row.is_active:
            return None
        row.last_login_at = now
        if password_hash is not None:
            row.password_hash = password_hash
        self._state.sessions[opened.session.id] = _copy(opened.session)
        if opened.refresh_token is not None:
            self._state.refresh_tokens[opened.refresh_token.token_hash] = _copy(opened.refresh_token)
        self._state.audit.append(dataclasses.replace(audit, company_id=row.company_id))
        if clear_failures is not None:
            self._state.failure_counters.pop(clear_failures, None)
        return _copy(row)


class FakeOutbox:
    def __init__(self, messages: list[EmailMessage]) -> None:
        self.messages = messages

    async def add(self, message: EmailMessage) -> None:
        self.messages.append(message)


class FakeSigningKeyRepository:
    def __init__(self, rows: dict[str, StoredSigningKey]) -> None:
        self.rows = rows

    async def lock(self) -> None:
        return None  # transactions already run one at a time

    async def list_all(self) -> list[StoredSigningKey]:
        return [_copy(key) for key in sorted(self.rows.values(), key=lambda k: k.created_at)]

    async def add(self, key: StoredSigningKey) -> None:
        self.rows[key.kid] = _copy(key)

    async def revoke(self, kid: str, now: datetime) -> bool:
        key = self.rows.get(kid)
        if key is None or key.revoked_at is not None:
            return False
        key.revoked_at = now
        return True


def link_token(message: EmailMessage) -> str:
    """The token in a message's link (`...#token=<token>`)."""
    found = re.search(r"#token=(\S+)", message.body)
    assert found, "no link with a token in this message"
    return found.group(1)


def fullwidth(text: str) -> str:
    """The same ASCII text in full-width forms, as some keyboards type it; NFKC folds it back."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def verification_code(message: EmailMessage) -> str:
    found = re.search(r"^Verification code: (\d{6})$", message.body, re.MULTILINE)
    assert found, "no verification code in this message"
    return found.group(1)


# -- unit of work ---------------------------------------------------------------------------------
class FakeUnitOfWork:
    """Returns itself from `__aenter__` and counts `commits`; see the module docstring."""

    # Typed as the ports (protocol attributes are invariant); tests inspect `committed` instead.
    users: UserRepository
    companies: CompanyRepository
    registrations: RegistrationRepository
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    failure_counters: FailureCounterRepository
    resend_throttles: ResendThrottleRepository
    one_time_tokens: OneTimeTokenRepository
    audit: AuditRepository
    logins: LoginRepository
    outbox: Outbox
    keys: SigningKeyRepository

    def __init__(self) -> None:
        self.committed = FakeState()
        self.commits = 0
        self.unavailable = False  # set to make every transaction fail as if the database were down
        self._working: FakeState | None = None
        self._owner: asyncio.Task[Any] | None = None
        self._one_at_a_time = asyncio.Lock()
        self._bind(self.committed)

    async def __aenter__(self) -> Self:
        if self.unavailable:
            raise ServiceUnavailableError()
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError("a transaction was opened inside another one on the same unit of work")
        await self._one_at_a_time.acquire()
        self._owner = asyncio.current_task()
        self._working = _copy(self.committed)
        self._bind(self._working)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._working, self._owner = None, None  # whatever was not committed is gone
        self._bind(self.committed)
        self._one_at_a_time.release()

    async def commit(self) -> None:
        if self._working is None:
            raise RuntimeError("commit outside a transaction")
        _check_unique(self._working.users)  # the unique indexes of the users table
        self.committed = self._working
        self._working = _copy(self.committed)
        self._bind(self._working)
        self.commits += 1

    def _bind(self, state: FakeState) -> None:
        self.users = FakeUserRepository(state.users)
        self.companies = FakeCompanyRepository(state.companies, state.users)
        self.registrations = FakeRegistrationRepository(state.registrations)
        self.sessions = FakeSessionRepository(state.sessions, state.users)
        self.refresh_tokens = FakeRefreshTokenRepository(state.refresh_tokens)
        self.failure_counters = FakeFailureCounterRepository(state.failure_counters)
        self.resend_throttles = FakeResendThrottleRepository(state.resend_throttles)
        self.one_time_tokens = FakeOneTimeTokenRepository(state.one_time_tokens)
        self.audit = FakeAuditLog(state.audit)
        self.logins = FakeLoginRepository(state)
        self.outbox = FakeOutbox(state.outbox)
        self.keys = FakeSigningKeyRepository(state.keys)


def _check_unique(users: dict[str, User]) -> None:
    emails = Counter(user.email for user in users.values())
    if any(count > 1 for count in emails.values()):
        raise EmailTakenError("This e-mail address is already registered.")
    usernames = Counter(user.username for user in users.values())
    if any(count > 1 for count in usernames.values()):
        raise UsernameTakenError("This username is already taken.")


# -- services -------------------------------------------------------------------------------------
class FakeHasher:
    """Reversible: `hash(pw)` is "hashed:<pw>"; `verify` accepts any "<scheme>:<pw>", so a test can
    store an "old:<pw>" hash and watch it being upgraded."""

    def __init__(self, *, needs_rehash: bool = False) -> None:
        self.rehash = needs_rehash
        self.hashed: list[str] = []  # every password hashed, in order
        self.verifications = 0
        self.burns = 0
        self._while_verifying: Callable[[], Awaitable[None]] | None = None

    def while_verifying(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` during the next verification: something that happens while the hash is checked."""
        self._while_verifying = action

    async def hash(self, password: str) -> str:
        self.hashed.append(password)
        return f"hashed:{password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        if self._while_verifying is not None:
            action, self._while_verifying = self._while_verifying, None
            await action()
        return password_hash.partition(":")[2] == password

    def needs_rehash(self, password_hash: str) -> bool:
        return self.rehash

    async def burn(self, password: str) -> None:
        self.burns += 1


class FakePolicy:
    """Accepts everything unless told to refuse; keeps what it was asked to check."""

    def __init__(self, *, weak: Sequence[str] = (), breached: bool = False) -> None:
        self.weak = list(weak)
        self.breached = breached
        self.checked: list[tuple[str, list[str]]] = []

    async def check(self, password: str, user_inputs: Sequence[str]) -> None:
        self.checked.append((password, list(user_inputs)))
        if self.breached:
            raise BreachedPasswordError()
        if self.weak:
            raise WeakPasswordError(list(self.weak))


class FakeSecrets:
    """Tokens "tok-1", "tok-2"..., codes "000001"...; `digest` is "<purpose>:<value>", readable in a
    failing assertion. With `one_way=True` the digest hides its value, for tests proving that some
    text (an email, a token) never reaches stored data."""

    def __init__(self, *, one_way: bool = False) -> None:
        self._one_way = one_way
        self._tokens = itertools.count(1)
        self._codes = itertools.count(1)

    def new_token(self, nbytes: int = 32) -> str:
        return f"tok-{next(self._tokens)}"

    def new_code(self) -> str:
        return f"{next(self._codes):06d}"

    def digest(self, value: str, *, purpose: str) -> str:
        if self._one_way:
            return f"{purpose}:{hashlib.sha256(value.encode()).hexdigest()}"
        return f"{purpose}:{value}"


class FakeAccessTokens:
    """Unsigned stand-ins for the JWTs: "at:" and the claims as base64 JSON."""

    PREFIX = "at:"

    def __init__(self) -> None:
        self._jti = itertools.count(1)

    def issue(self, user: User, session: Session, *, now: datetime, expires_at: datetime) -> str:
        claims = {
            "iss": "https://auth.example.com", "aud": "auth-service", "sub": user.id, "user_id": user.id,
            "sid": session.id, "jti": f"jti-{next(self._jti)}", "iat": now.timestamp(), "nbf": now.timestamp(),
            "exp": expires_at.timestamp(), "email": user.email, "email_verified": user.is_verified,
            "roles": [user.role.value], "company_id": user.company_id, "network_id": user.network_id,
            "station_id": user.station_id,
        }
        return self.PREFIX + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode()

    def claims(self, token: str) -> dict[str, Any]:
        if not token.startswith(self.PREFIX):
            raise InvalidTokenError()
        try:
            claims = json.loads(base64.urlsafe_b64decode(token.removeprefix(self.PREFIX).encode()))
        except (ValueError, binascii.Error) as exc:
            raise InvalidTokenError() from exc
        if not isinstance(claims, dict):
            raise InvalidTokenError()
        return claims

    async def reload_keys(self) -> bool:
        return False

    def verify(self, token: str, *, now: datetime) -> Principal:
        claims = self.claims(token)
        if now.timestamp() >= claims["exp"]:
            raise TokenExpiredError()
        return Principal(
            user_id=claims["user_id"], subject=claims["sub"], session_id=claims["sid"], email=claims["email"],
            email_verified=claims["email_verified"], role=claims["roles"][0], company_id=claims["company_id"],
            network_id=claims["network_id"], station_id=claims["station_id"],
            expires_at=datetime.fromtimestamp(claims["exp"], UTC), claims=claims,
        )


class FakeRevocationList:
    def __init__(self) -> None:
        self.revoked: set[str] = set()

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self.revoked

    async def publish(self, session_ids: Sequence[str], revoked_at: datetime) -> None:
        self.revoked.update(session_ids)


class FakeMetrics:
    """Counters by name: "login:success", "login:failure", "token_issued", "refresh_reuse", "rate_limited",
    "rate_limit_degraded"."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def login(self, outcome: str) -> None:
        self.counts[f"login:{outcome}"] += 1

    def token_issued(self) -> None:
        self.counts["token_issued"] += 1

    def refresh_reuse(self) -> None:
        self.counts["refresh_reuse"] += 1

    def rate_limited(self) -> None:
        self.counts["rate_limited"] += 1

    def rate_limit_degraded(self) -> None:
        self.counts["rate_limit_degraded"] += 1


class FakeIdentityProvider(LocalIdentityProvider):
    """Local mode (hashes with the fake hasher, mints with the minter) that also records what it
    was told about accounts; set `fail_with` to make the next account call fail (Keycloak down)."""

    def __init__(self, hasher: PasswordHasher, minter: TokenMinter) -> None:
        super().__init__(hasher, minter)
        self.verified: list[str] = []
        self.discarded: list[str] = []
        self.created: list[str] = []
        self.synced: list[str] = []
        self.fail_with: Exception | None = None

    async def create(self, user: User, password: str | None) -> None:
        self._maybe_fail()
        self.created.append(user.id)

    async def mark_verified(self, user: User) -> None:
        self._maybe_fail()
        self.verified.append(user.id)

    async def remove(self, user: User) -> None:
        self._maybe_fail()
        self.discarded.append(user.id)

    async def sync(self, user: User) -> None:
        self._maybe_fail()
        self.synced.append(user.id)

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with


class FakeRateLimiter:
    """A RateLimiter that records hits and never limits (request limits are tested over HTTP)."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str | None]] = []

    async def hit(self, name: str, key: str | None) -> None:
        self.hits.append((name, key))
