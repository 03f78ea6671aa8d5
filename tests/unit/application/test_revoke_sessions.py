from __future__ import annotations

from collections.abc import Callable

import pytest

from auth_service.application.commands.refresh_tokens import RefreshTokens, RefreshTokensHandler
from auth_service.application.commands.revoke_sessions import (
    LogOut,
    LogOutAll,
    RevokeMySession,
    RevokeToken,
    SessionRevoker,
)
from auth_service.application.config import AuthConfig
from auth_service.application.errors import NotFoundError, TokenRevokedError
from auth_service.application.ports import RequestContext
from auth_service.application.queries.authenticate import Authenticate
from auth_service.application.token_pairs import TokenMinter
from tests.doubles import FakeSecretBox, FixedClock
from tests.unit.application.conftest import GivenUser, SignIn
from tests.unit.fakes import (
    FakeAccessTokens,
    FakeIdentityProvider,
    FakeMetrics,
    FakeRateLimiter,
    FakeRevocationList,
    FakeUnitOfWork,
)

COMPANY = "CMP-aaaaaaaaaaaaaaaa"


@pytest.fixture
def revoker(uow_factory: Callable[[], FakeUnitOfWork], minter: TokenMinter, access_tokens: FakeAccessTokens,
            revocations: FakeRevocationList, clock: FixedClock, identity: FakeIdentityProvider) -> SessionRevoker:
    return SessionRevoker(uow_factory, minter, access_tokens, revocations, clock, identity)


@pytest.fixture
def authenticate(access_tokens: FakeAccessTokens, revocations: FakeRevocationList, clock: FixedClock) -> Authenticate:
    return Authenticate(access_tokens, revocations, clock)


@pytest.fixture
def refresh(uow_factory: Callable[[], FakeUnitOfWork], minter: TokenMinter, box: FakeSecretBox,
            revocations: FakeRevocationList, clock: FixedClock, config: AuthConfig,
            metrics: FakeMetrics) -> RefreshTokensHandler:
    return RefreshTokensHandler(uow_factory, minter, box, revocations, clock, config, metrics,
                                FakeRateLimiter())


@pytest.fixture(autouse=True)
def ada_and_grace(given_user: GivenUser) -> None:
    given_user("ada@example.com", company_id=COMPANY)
    given_user("grace@example.com")


async def test_logging_out_revokes_the_session_and_its_access_tokens_at_once(
        revoker: SessionRevoker, sign_in: SignIn, authenticate: Authenticate, refresh: RefreshTokensHandler,
        uow: FakeUnitOfWork, revocations: FakeRevocationList, clock: FixedClock) -> None:
    tokens, me = await sign_in()

    await revoker.log_out(LogOut(me))

    session = uow.committed.sessions[me.session_id]
    assert (session.revoked_at, session.revoke_reason) == (clock.now(), "logout")
    assert revocations.revoked == {me.session_id}
    with pytest.raises(TokenRevokedError):
        authenticate(tokens.access_token)
    with pytest.raises(TokenRevokedError):
        await refresh(RefreshTokens(tokens.refresh_token))


async def test_logging_out_is_audited_against_the_session(revoker: SessionRevoker, sign_in: SignIn,
                                                          uow: FakeUnitOfWork, ctx: RequestContext) -> None:
    _, me = await sign_in()

    await revoker.log_out(LogOut(me, ctx=ctx))

    record = uow.committed.one("auth.logout")
    assert (record.actor_id, record.target_type, record.target_id) == (me.user_id, "session", me.session_id)
    assert (record.company_id, record.trace_id) == (COMPANY, "trace-1")


async def test_a_second_logout_changes_nothing(revoker: SessionRevoker, sign_in: SignIn,
                                               uow: FakeUnitOfWork, clock: FixedClock) -> None:
    _, me = await sign_in()
    await revoker.log_out(LogOut(me))
    revoked_at = clock.now()
    clock.advance(5)

    await revoker.log_out(LogOut(me))

    assert uow.committed.sessions[me.session_id].revoked_at == revoked_at
    assert len(uow.committed.audit_of("auth.logout")) == 1


async def test_logging_out_with_the_refresh_token_of_another_own_session_ends_both(
        revoker: SessionRevoker, sign_in: SignIn, uow: FakeUnitOfWork, revocations: FakeRevocationList) -> None:
    other, _ = await sign_in()
    _, me = await sign_in()

    await revoker.log_out(LogOut(me, refresh_token=other.refresh_token))

    assert revocations.revoked == {me.session_id, other.session_id}
    assert all(s.revoked_at is not None for s in uow.committed.sessions.values())
    assert len(uow.committed.audit_of("auth.logout")) == 2


async def test_a_refresh_token_of_someone_else_is_ignored_at_logout(revoker: SessionRevoker, sign_in: SignIn,
                                                                    uow: FakeUnitOfWork) -> None:
    graces, _ = await sign_in("grace@example.com")
    _, me = await sign_in()

    await revoker.log_out(LogOut(me, refresh_token=graces.refresh_token))

    assert uow.committed.sessions[graces.session_id].revoked_at is None


async def test_logging_out_everywhere_ends_every_session_of_the_user_and_no_one_else_s(
        revoker: SessionRevoker, sign_in: SignIn, uow: FakeUnitOfWork, revocations: FakeRevocationList) -> None:
    first, _ = await sign_in()
    _, me = await sign_in()
    graces, _ = await sign_in("grace@example.com")

    await revoker.log_out_all(LogOutAll(me))

    assert revocations.revoked == {first.session_id, me.session_id}
    assert uow.committed.sessions[graces.session_id].revoked_at is None
    record = uow.committed.one("auth.logout_all")
    assert (record.actor_id, record.target_type, record.target_id) == (me.user_id, "user", me.user_id)
    assert (record.company_id, record.details) == (COMPANY, {"sessions": 2})


async def test_rfc7009_revocation_of_a_refresh_token_ends_its_session(
        revoker: SessionRevoker, sign_in: SignIn, authenticate: Authenticate, uow: FakeUnitOfWork,
        revocations: FakeRevocationList) -> None:
    tokens, me = await sign_in()

    await revoker.revoke_token(RevokeToken(tokens.refresh_token))

    assert uow.committed.sessions[me.session_id].revoke_reason == "revoked"
    assert revocations.revoked == {me.session_id}
    with pytest.raises(TokenRevokedError):
        authenticate(tokens.access_token)
    record = uow.committed.one("session.revoked")
    assert (record.actor_id, record.target_type, record.target_id) == (me.user_id, "session", me.session_id)
    assert not uow.committed.mentions(tokens.refresh_token)


async def test_rfc7009_revocation_accepts_an_access_token_too(revoker: SessionRevoker, sign_in: SignIn,
                                                              revocations: FakeRevocationList) -> None:
    tokens, me = await sign_in()

    await revoker.revoke_token(RevokeToken(tokens.access_token))

    assert revocations.revoked == {me.session_id}


@pytest.mark.parametrize("token", ["tok-404", "at:garbage", ""])
async def test_rfc7009_revocation_is_silent_about_tokens_it_does_not_know(
        revoker: SessionRevoker, sign_in: SignIn, uow: FakeUnitOfWork, revocations: FakeRevocationList,
        token: str) -> None:
    await sign_in()
    commits, audit = uow.commits, list(uow.committed.audit)

    await revoker.revoke_token(RevokeToken(token))

    assert (uow.commits, uow.committed.audit, revocations.revoked) == (commits, audit, set())


async def test_an_rfc7009_revocation_record_carries_the_user_s_company(revoker: SessionRevoker, sign_in: SignIn,
                                                                       uow: FakeUnitOfWork) -> None:
    tokens, _ = await sign_in()

    await revoker.revoke_token(RevokeToken(tokens.refresh_token))

    assert uow.committed.one("session.revoked").company_id == COMPANY


async def test_revoking_one_of_my_sessions_leaves_the_others(revoker: SessionRevoker, sign_in: SignIn,
                                                             uow: FakeUnitOfWork,
                                                             revocations: FakeRevocationList) -> None:
    other, _ = await sign_in()
    _, me = await sign_in()

    await revoker.revoke_my_session(RevokeMySession(me, other.session_id))

    assert uow.committed.sessions[other.session_id].revoke_reason == "revoked_by_user"
    assert uow.committed.sessions[me.session_id].revoked_at is None
    assert revocations.revoked == {other.session_id}
    record = uow.committed.one("session.revoked")
    assert (record.actor_id, record.target_id, record.company_id) == (me.user_id, other.session_id, COMPANY)


async def test_another_user_s_session_is_not_found(revoker: SessionRevoker, sign_in: SignIn, uow: FakeUnitOfWork,
                                                   revocations: FakeRevocationList) -> None:
    graces, _ = await sign_in("grace@example.com")
    _, me = await sign_in()

    with pytest.raises(NotFoundError):
        await revoker.revoke_my_session(RevokeMySession(me, graces.session_id))

    assert uow.committed.sessions[graces.session_id].revoked_at is None
    assert revocations.revoked == set()
