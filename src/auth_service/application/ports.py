"""Ports: the small interfaces the use cases need. Adapters and fakes satisfy them structurally."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self

from auth_service.application.pagination import Page, PageRequest
from auth_service.application.views import AuditStatistics, AuditView, CompanyView, UserView
from auth_service.domain.audit import AuditRecord
from auth_service.domain.companies import Company
from auth_service.domain.lockout import FailureCounter
from auth_service.domain.principal import Principal
from auth_service.domain.sessions import RefreshToken, Session
from auth_service.domain.users import User


# -- values that cross the ports ------------------------------------------------------------------
@dataclass(slots=True)
class Registration:
    id: str
    user_id: str
    email: str
    created_at: datetime
    expires_at: datetime
    token_hash: str
    code_hash: str
    status: str = "pending"  # pending | verified | expired
    verified_at: datetime | None = None


@dataclass(slots=True)
class ResendThrottle:
    """Per-email resend bookkeeping, kept for known and unknown emails alike."""

    key: str
    last_sent_at: datetime | None = None
    count: int = 0
    window_ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    """A reset or invitation token, stored only as its hash."""

    token_hash: str
    purpose: str  # "reset" | "invitation"
    user_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    body: str


@dataclass(slots=True)
class OutboxItem:
    id: int
    message: EmailMessage
    attempts: int


@dataclass(slots=True)
class StoredSigningKey:
    kid: str
    alg: str
    private_key_enc: str  # PEM, encrypted at rest with the key derived from SECRET_KEY
    public_jwk: dict[str, Any]
    created_at: datetime
    activates_at: datetime  # signs from this instant (published from created_at)
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RequestContext:
    ip: str | None = None
    user_agent: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class SessionView:
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_id: str
    user: User
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session about to open: the rows `LoginRepository.record` writes, then `issue`, the tokens
    for the account as recorded. `check` is what to abandon at the provider if it does not open."""

    session: Session
    refresh_token: RefreshToken | None  # None: the provider keeps the refresh tokens (Keycloak)
    issue: Callable[[User], IssuedTokens] = field(repr=False)
    check: PasswordCheck = field(repr=False)


# -- infrastructure services ----------------------------------------------------------------------
class Clock(Protocol):
    def now(self) -> datetime: ...


class PasswordHasher(Protocol):
    """Argon2id in a bounded worker pool; raises ServiceUnavailableError when the queue is full."""

    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...
    async def burn(self, password: str) -> None:
        """Spend the time of one verify, so an unknown account answers as slowly as a known one."""
        ...


class PasswordPolicy(Protocol):
    async def check(self, password: str, user_inputs: Sequence[str]) -> None:
        """Raise BreachedPasswordError or WeakPasswordError; `password` is already NFKC-normalised."""
        ...


class SecretBox(Protocol):
    """Authenticated encryption at rest with keys derived from SECRET_KEY (and its fallbacks)."""

    def encrypt(self, plaintext: bytes, *, purpose: str) -> str: ...
    def decrypt(self, ciphertext: str, *, purpose: str) -> bytes: ...
    def is_current(self, ciphertext: str) -> bool: ...


class Secrets(Protocol):
    """Random opaque tokens and codes, and their keyed one-way hashes (never stored in clear)."""

    def new_token(self, nbytes: int = 32) -> str: ...
    def new_code(self) -> str: ...
    def digest(self, value: str, *, purpose: str) -> str: ...


class AccessTokens(Protocol):
    def issue(self, user: User, session: Session, *, now: datetime, expires_at: datetime) -> str: ...
    def verify(self, token: str, *, now: datetime) -> Principal:
        """Signature, typ, alg, iss, aud, exp, nbf. Raises InvalidTokenError / TokenExpiredError, or
        UnknownSigningKeyError (an InvalidTokenError) for a `kid` that reload_keys() might bring."""
        ...

    async def reload_keys(self) -> bool:
        """Fetch the verification keys again, if allowed now; True when the key set may have changed."""
        ...


class Metrics(Protocol):
    """Business counters exported on /metrics."""

    def login(self, outcome: str) -> None: ...
    def token_issued(self) -> None: ...
    def refresh_reuse(self) -> None: ...
    def rate_limited(self) -> None: ...
    def rate_limit_degraded(self) -> None: ...


class Totp(Protocol):
    def new_secret(self) -> str: ...
    def provisioning_uri(self, secret: str, account: str) -> str: ...
    def matching_step(self, secret: str, code: str, now: datetime) -> int | None: ...


class RateLimiter(Protocol):
    """Request limits of SPEC §7, keyed per IP, email or session; raises RateLimitedError."""

    async def hit(self, name: str, key: str | None) -> None: ...


class RevocationList(Protocol):
    """Revoked session ids of the last access-token lifetime, in memory: no I/O on lookup."""

    def is_revoked(self, session_id: str) -> bool: ...
    async def publish(self, session_ids: Sequence[str], revoked_at: datetime) -> None: ...


# -- persistence ----------------------------------------------------------------------------------
class UserRepository(Protocol):
    async def get(self, user_id: str) -> User | None: ...
    async def get_by_email(self, email: str) -> User | None: ...
    async def get_by_keycloak_id(self, keycloak_id: str) -> User | None: ...
    async def username_taken(self, username: str, *, except_user_id: str | None = None) -> bool: ...
    async def any_admin(self) -> bool: ...
    async def add(self, user: User) -> None: ...
    async def save(self, user: User) -> None: ...
    async def set_password(self, user_id: str, password_hash: str | None, now: datetime) -> None: ...
    async def count_active_admins(self) -> int:
        """Locks the admin set for the transaction, so two admins cannot both remove the last one."""
        ...


class RegistrationRepository(Protocol):
    async def add(self, registration: Registration) -> None: ...
    async def save(self, registration: Registration) -> None: ...
    async def get_by_token_hash(self, token_hash: str) -> Registration | None: ...
    async def latest_for_user(self, user_id: str) -> Registration | None: ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def get_many(self, session_ids: Sequence[str]) -> list[Session]: ...
    async def touch(self, session_id: str, now: datetime) -> None: ...
    async def list_live(self, user_id: str, now: datetime) -> list[SessionView]: ...
    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool: ...
    async def revoke_all(self, user_id: str, now: datetime, reason: str,
                         except_session_id: str | None = None) -> list[str]: ...
    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]: ...
    async def revoke_all_in_company(self, company_id: str, now: datetime, reason: str) -> list[str]: ...


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...
    async def get(self, token_hash: str) -> RefreshToken | None: ...
    async def rotate(self, token_hash: str, now: datetime, successor_hash: str, successor_enc: str) -> bool:
        """Mark the token rotated only if it still is not: True for exactly one caller."""
        ...

    async def erase_successors(self, rotated_before: datetime) -> None: ...


class FailureCounterRepository(Protocol):
    async def get(self, key: str, *, for_update: bool = False) -> FailureCounter: ...
    async def save(self, counter: FailureCounter) -> None: ...
    async def clear(self, key: str) -> None: ...


class ResendThrottleRepository(Protocol):
    async def get(self, key: str, *, for_update: bool = False) -> ResendThrottle: ...
    async def save(self, throttle: ResendThrottle) -> None: ...


class OneTimeTokenRepository(Protocol):
    async def add(self, token: OneTimeToken) -> None: ...
    async def get(self, token_hash: str) -> OneTimeToken | None: ...
    async def void_for_user(self, user_id: str, purpose: str, now: datetime) -> None: ...
    async def consume(self, token_hash: str, purposes: Sequence[str], now: datetime) -> OneTimeToken | None:
        """Atomically mark an unused, unexpired token used and return it; None otherwise."""
        ...


class AuditRepository(Protocol):
    async def add(self, record: AuditRecord) -> None: ...


class LoginRepository(Protocol):
    async def record(self, user_id: str, now: datetime, *, password_hash: str | None, opened: NewSession,
                     audit: AuditRecord, clear_failures: str | None) -> User | None:
        """A successful login, all or nothing: if the account is still active, stamp its last login
        (and store `password_hash`, the password hashed again, when given) with a targeted update
        that never overwrites a concurrent admin change, then write the session, its refresh token
        and `audit` (with the stamped account's company) and delete the failure counter
        `clear_failures`. Returns the account as stamped, read in the same statement, or None with
        nothing written (the account is gone or no longer active). On PostgreSQL one statement."""
        ...


class Outbox(Protocol):
    async def add(self, message: EmailMessage) -> None: ...


class SigningKeyRepository(Protocol):
    async def lock(self) -> None:
        """Serialise key creation across instances until the transaction ends."""
        ...

    async def list_all(self) -> list[StoredSigningKey]: ...
    async def add(self, key: StoredSigningKey) -> None: ...
    async def revoke(self, kid: str, now: datetime) -> bool: ...


class CompanyRepository(Protocol):
    async def get(self, company_id: str) -> Company | None: ...
    async def name_taken(self, name: str, *, except_company_id: str | None = None) -> bool: ...
    async def add(self, company: Company) -> None: ...
    async def save(self, company: Company) -> None: ...
    async def active_member_count(self, company_id: str) -> int: ...


@dataclass(slots=True)
class MfaChallenge:
    """A login waiting for its second factor; the opaque `mfa_token` is stored only as a hash."""

    token_hash: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    failures: int = 0
    consumed_at: datetime | None = None


class MfaRepository(Protocol):
    async def replace_backup_codes(self, user_id: str, code_hashes: Sequence[str], now: datetime) -> None: ...
    async def delete_backup_codes(self, user_id: str) -> None: ...
    async def use_backup_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        """Atomically mark an unused code used: True for exactly one caller."""
        ...

    async def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` as used only if it is newer than the last one: a code works once."""
        ...

    async def add_challenge(self, challenge: MfaChallenge) -> None: ...
    async def get_challenge(self, token_hash: str) -> MfaChallenge | None: ...
    async def count_challenge_failure(self, token_hash: str) -> int: ...
    async def consume_challenge(self, token_hash: str, now: datetime, max_failures: int) -> bool: ...


class UnitOfWork(Protocol):
    users: UserRepository
    mfa: MfaRepository
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

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...
    async def commit(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LoginState:
    """What a password login reads before it checks the password, in one snapshot."""

    counter: FailureCounter  # the lockout counter (a fresh one when there is none)
    user: User | None  # the account of the email, if any
    company: Company | None  # its company, if it has one


class LoginStore(Protocol):
    """A password login's reads and its write, each in a transaction of its own. On PostgreSQL one
    statement each, sent without the unit of work's layers (the login is a hot path)."""

    async def read(self, email: str, counter_key: str) -> LoginState: ...

    async def record(self, user_id: str, now: datetime, *, password_hash: str | None, opened: NewSession,
                     audit: AuditRecord, clear_failures: str | None) -> User | None:
        """LoginRepository.record, committed."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderAccount:
    """A user as the identity provider knows it: for just-in-time creation and `keycloak sync`."""

    subject: str
    email: str
    username: str
    email_verified: bool
    enabled: bool
    first_name: str | None = None
    last_name: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The identity provider's answer to an email and password."""

    matches: bool
    set_up: bool = True  # False: the provider holds the account back until its email is verified
    new_hash: str | None = None  # local mode: the password hashed again under the current parameters
    grant: Any = field(default=None, repr=False)  # the provider's tokens, for open_session or abandon
    account: ProviderAccount | None = None  # the provider's user, when this database may not know it yet


class IdentityProvider(Protocol):
    """Where passwords live and whom an account change must reach: this database (local mode) or
    Keycloak. Handlers call it the same way in both modes; account calls happen inside the
    transaction of the change, before commit, so a failure there leaves nothing behind here."""

    async def ensure_email_free(self, email: str) -> None:
        """Raise EmailTakenError when the provider already has this email (the database is checked apart)."""
        ...

    async def credential(self, password: str) -> str | None:
        """What this database stores for a new password: its argon2id hash, or None (Keycloak keeps it)."""
        ...

    async def create(self, user: User, password: str | None) -> None:
        """Create the account at the provider (sets `user.keycloak_id`); nothing in local mode."""
        ...

    async def remove(self, user: User) -> None:
        """Delete the provider's account: an expired registration, or compensation of a failed create."""
        ...

    async def mark_verified(self, user: User) -> None: ...

    async def sync(self, user: User) -> None:
        """Write role, company, scopes and whether the account may log in to the provider."""
        ...

    async def set_password(self, user: User, password: str) -> None:
        """Set a new (policy-checked, normalised) password at the provider; nothing in local mode,
        where the credential() stored here is the password."""
        ...

    async def check_password(self, user: User | None, email: str, password: str) -> PasswordCheck:
        """Takes as long for an unknown email as for a wrong password."""
        ...

    async def abandon(self, check: PasswordCheck) -> None:
        """End what a successful check opened at the provider, when the login is refused after all."""
        ...

    async def open_session(self, user: User, ctx: RequestContext, now: datetime,
                           check: PasswordCheck) -> NewSession:
        """The session a successful `check` opens, for `LoginRepository.record` to write."""
        ...

    async def end_sessions(self, user: User, sessions: Sequence[Session] | None) -> None:
        """After sessions were revoked here: end them at the provider too (None: all of the user's)."""
        ...

    async def revoke_at_provider(self, token: str) -> str | None:
        """RFC 7009 for a token only the provider can read: end its session there and return the
        provider's session id, or None when the token is not a live one of the provider's."""
        ...

    def accounts(self) -> AsyncIterator[ProviderAccount]:
        """Every account the provider holds (`keycloak sync`); none in local mode."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderTokens:
    """A token response of the identity provider (Keycloak mode)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    id_token: str | None = field(repr=False)
    expires_in: int
    refresh_expires_in: int
    session_id: str  # the provider's session id (`sid`)
    subject: str

    def issued(self, session_id: str, user: User) -> IssuedTokens:
        """These tokens as the answer of a login or refresh of this service's session `session_id`."""
        return IssuedTokens(access_token=self.access_token, refresh_token=self.refresh_token,
                            expires_in=self.expires_in, refresh_expires_in=self.refresh_expires_in,
                            session_id=session_id, user=user,
                            extra={"id_token": self.id_token} if self.id_token else {})


class ProviderTokenEndpoint(Protocol):
    """The provider's own refresh (Keycloak mode: Keycloak's refresh rules apply)."""

    async def refresh(self, refresh_token: str) -> ProviderTokens:
        """Raises InvalidTokenError for a refresh token the provider refuses."""
        ...


@dataclass(frozen=True, slots=True)
class UserQuery:
    """A user list request, already narrowed to what the caller may see."""

    only_company_id: str | None = None  # set for non-admins (None with `restricted` matches no one)
    restricted: bool = False
    role: str | None = None
    company_id: str | None = None
    status: str | None = None
    q: str | None = None
    sort: str = "-created_at"


class UserViews(Protocol):
    """Reads straight from SQL into views, with no aggregate or repository involved."""

    async def get(self, user_id: str, now: datetime) -> UserView | None: ...
    async def list(self, query: UserQuery, page: PageRequest, now: datetime) -> Page[UserView]: ...


class CompanyViews(Protocol):
    async def get(self, company_id: str) -> CompanyView | None: ...
    async def list(self, only_company_id: str | None, restricted: bool, page: PageRequest) -> Page[CompanyView]: ...


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Audit filters (SPEC §6), already narrowed to what the caller may see."""

    only_company_id: str | None = None
    restricted: bool = False
    actions: tuple[str, ...] = ()
    outcome: str | None = None
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    company_id: str | None = None
    ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    involving_user_id: str | None = None  # actor or target: a user's own security log


class AuditViews(Protocol):
    async def search(self, query: AuditQuery, page: PageRequest) -> Page[AuditView]: ...
    def stream(self, query: AuditQuery) -> AsyncIterator[list[AuditView]]:
        """Newest first, in chunks, with constant memory however many records match."""
        ...

    async def statistics(self, query: AuditQuery) -> AuditStatistics: ...
