"""Fixtures for the use-case tests: the fakes wired as the composition root wires the real ports,
one FakeUnitOfWork shared by every handler of a test, and a clock that stands still until moved."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from auth_service.application.commands.log_in import LogIn, LogInHandler, UnitOfWorkLoginStore
from auth_service.application.config import AuthConfig
from auth_service.application.lockout import LockoutGuard
from auth_service.application.ports import IssuedTokens, RequestContext
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.ids import new_user_id
from auth_service.domain.principal import Principal
from auth_service.domain.users import Role, Source, User, UserStatus
from tests.doubles import FakeSecretBox, FixedClock
from tests.unit.fakes import (
    FakeAccessTokens,
    FakeHasher,
    FakeIdentityProvider,
    FakeMetrics,
    FakePolicy,
    FakeRateLimiter,
    FakeRevocationList,
    FakeSecrets,
    FakeUnitOfWork,
)

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"

GivenUser = Callable[..., User]
SignIn = Callable[..., Awaitable[tuple[IssuedTokens, Principal]]]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOON)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def uow_factory(uow: FakeUnitOfWork) -> Callable[[], FakeUnitOfWork]:
    return lambda: uow


@pytest.fixture
def config() -> AuthConfig:
    return AuthConfig(frontend_base="https://app.example.com")


@pytest.fixture
def hasher() -> FakeHasher:
    return FakeHasher()


@pytest.fixture
def policy() -> FakePolicy:
    return FakePolicy()


@pytest.fixture
def secrets() -> FakeSecrets:
    return FakeSecrets()


@pytest.fixture
def access_tokens() -> FakeAccessTokens:
    return FakeAccessTokens()


@pytest.fixture
def revocations() -> FakeRevocationList:
    return FakeRevocationList()


@pytest.fixture
def metrics() -> FakeMetrics:
    return FakeMetrics()


@pytest.fixture
def identity(hasher: FakeHasher, minter: TokenMinter) -> FakeIdentityProvider:
    return FakeIdentityProvider(hasher, minter)


@pytest.fixture
def box() -> FakeSecretBox:
    return FakeSecretBox()


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(ip="203.0.113.7", user_agent="pytest", trace_id="trace-1")


@pytest.fixture
def lockout(uow_factory: Callable[[], FakeUnitOfWork], secrets: FakeSecrets, clock: FixedClock,
            config: AuthConfig) -> LockoutGuard:
    return LockoutGuard(uow_factory, secrets, clock, config.lockout)


@pytest.fixture
def minter(access_tokens: FakeAccessTokens, secrets: FakeSecrets, config: AuthConfig,
           metrics: FakeMetrics) -> TokenMinter:
    return TokenMinter(access_tokens, secrets, config, metrics)


@pytest.fixture
def log_in(uow_factory: Callable[[], FakeUnitOfWork], identity: FakeIdentityProvider, lockout: LockoutGuard,
           clock: FixedClock, metrics: FakeMetrics, secrets: FakeSecrets) -> LogInHandler:
    return LogInHandler(uow_factory, UnitOfWorkLoginStore(uow_factory, uow_factory), identity, lockout, clock, metrics,
                        secrets, FakeRateLimiter())


@pytest.fixture
def given_user(uow: FakeUnitOfWork, clock: FixedClock, config: AuthConfig) -> GivenUser:
    """Store a user straight into the committed state (no commit counted) and return a copy.
    Its password hash is FakeHasher's, so `password` logs in."""

    def given(email: str = "ada@example.com", password: str | None = PASSWORD, *,
              status: UserStatus = UserStatus.ACTIVE, **fields: Any) -> User:
        now = clock.now()
        values: dict[str, Any] = {
            "id": new_user_id(), "email": email, "username": email, "role": Role.USER, "status": status,
            "source": Source.WEB, "created_at": now, "updated_at": now,
            "password_hash": None if password is None else f"hashed:{password}",
            "is_verified": status in (UserStatus.ACTIVE, UserStatus.DISABLED),
            "pending_until": now + config.verification_ttl if status is UserStatus.PENDING else None,
        }
        user = User(**values | fields)
        uow.committed.users[user.id] = copy.deepcopy(user)
        return user

    return given


@pytest.fixture
def sign_in(log_in: LogInHandler, access_tokens: FakeAccessTokens, clock: FixedClock) -> SignIn:
    """Log in through the real handler; returns the token pair and the principal of its access token."""

    async def sign(email: str = "ada@example.com", password: str = PASSWORD) -> tuple[IssuedTokens, Principal]:
        tokens = await log_in(LogIn(email, password))
        return tokens, access_tokens.verify(tokens.access_token, now=clock.now())

    return sign
