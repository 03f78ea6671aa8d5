from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from auth_service.application.commands.refresh_tokens import RefreshTokens, RefreshTokensHandler
from auth_service.application.config import AuthConfig
from auth_service.application.errors import (
    InvalidTokenError,
    RefreshTokenReusedError,
    TokenExpiredError,
    TokenRevokedError,
)
from auth_service.application.ports import IssuedTokens, RequestContext
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.users import Role, UserStatus
from tests.doubles import FakeSecretBox, FixedClock
from tests.unit.application.conftest import GivenUser, SignIn
from tests.unit.fakes import FakeAccessTokens, FakeMetrics, FakeRateLimiter, FakeRevocationList, FakeUnitOfWork

DAY = 86_400


@pytest.fixture
def refresh(uow_factory: Callable[[], FakeUnitOfWork], minter: TokenMinter, box: FakeSecretBox,
            revocations: FakeRevocationList, clock: FixedClock, config: AuthConfig,
            metrics: FakeMetrics) -> RefreshTokensHandler:
    return RefreshTokensHandler(uow_factory, minter, box, revocations, clock, config, metrics,
                                FakeRateLimiter())


@pytest.fixture
async def tokens(given_user: GivenUser, sign_in: SignIn) -> IssuedTokens:
    given_user("ada@example.com", company_id="CMP-aaaaaaaaaaaaaaaa")
    issued, _ = await sign_in()
    return issued


async def test_a_refresh_rotates_the_token_within_the_same_session(
        refresh: RefreshTokensHandler, tokens: IssuedTokens, uow: FakeUnitOfWork, minter: TokenMinter,
        clock: FixedClock, box: FakeSecretBox) -> None:
    clock.advance(300)

    renewed = await refresh(RefreshTokens(tokens.refresh_token))

    assert renewed.refresh_token != tokens.refresh_token
    assert renewed.session_id == tokens.session_id
    old = uow.committed.refresh_tokens[minter.refresh_hash(tokens.refresh_token)]
    assert (old.rotated_at, old.successor_hash) == (clock.now(), minter.refresh_hash(renewed.refresh_token))
    assert old.successor_enc is not None and renewed.refresh_token not in old.successor_enc
    assert box.decrypt(old.successor_enc, purpose="refresh-successor").decode() == renewed.refresh_token
    assert uow.committed.sessions[tokens.session_id].last_used_at == clock.now()


async def test_a_refresh_is_audited_against_the_session(refresh: RefreshTokensHandler, tokens: IssuedTokens,
                                                        uow: FakeUnitOfWork, ctx: RequestContext) -> None:
    await refresh(RefreshTokens(tokens.refresh_token, ctx=ctx))

    record = uow.committed.one("auth.token_refreshed")
    assert (record.actor_id, record.target_type, record.target_id) == (tokens.user.id, "session", tokens.session_id)
    assert (record.company_id, record.ip) == ("CMP-aaaaaaaaaaaaaaaa", "203.0.113.7")
    assert not uow.committed.mentions(tokens.refresh_token)


async def test_every_refresh_re_reads_the_user_so_new_claims_take_effect(
        refresh: RefreshTokensHandler, tokens: IssuedTokens, uow: FakeUnitOfWork,
        access_tokens: FakeAccessTokens) -> None:
    ada = uow.committed.users[tokens.user.id]
    ada.role, ada.company_id, ada.station_id = Role.OPERATOR, "CMP-bbbbbbbbbbbbbbbb", "st-7"

    renewed = await refresh(RefreshTokens(tokens.refresh_token))

    claims = access_tokens.claims(renewed.access_token)
    assert (claims["roles"], claims["company_id"], claims["station_id"]) == (
        ["operator"], "CMP-bbbbbbbbbbbbbbbb", "st-7")


async def test_a_retry_within_the_reuse_interval_gets_the_same_successor_and_a_fresh_access_token(
        refresh: RefreshTokensHandler, tokens: IssuedTokens, uow: FakeUnitOfWork, clock: FixedClock,
        revocations: FakeRevocationList) -> None:
    first = await refresh(RefreshTokens(tokens.refresh_token))
    clock.advance(10)

    retried = await refresh(RefreshTokens(tokens.refresh_token))

    assert retried.refresh_token == first.refresh_token
    assert retried.session_id == tokens.session_id
    assert retried.access_token != first.access_token
    assert len(uow.committed.refresh_tokens) == 2  # exactly one rotation
    assert revocations.revoked == set()
    assert (await refresh(RefreshTokens(first.refresh_token))).session_id == tokens.session_id


async def test_concurrent_refreshes_rotate_once_and_all_get_the_same_token(
        refresh: RefreshTokensHandler, tokens: IssuedTokens, uow: FakeUnitOfWork) -> None:
    results = await asyncio.gather(*(refresh(RefreshTokens(tokens.refresh_token)) for _ in range(3)))

    assert len({r.refresh_token for r in results}) == 1
    assert len(uow.committed.refresh_tokens) == 2
    assert len(uow.committed.audit_of("auth.token_refreshed")) == 1


async def test_a_replay_after_the_interval_revokes_the_session_and_publishes_the_revocation(
        refresh: RefreshTokensHandler, tokens: IssuedTokens, uow: FakeUnitOfWork, clock: FixedClock,
        revocations: FakeRevocationList, metrics: FakeMetrics) -> None:
    newest = await refresh(RefreshTokens(tokens.refresh_token))
    clock.advance(11)

    with pytest.raises(RefreshTokenReusedError):
        await refresh(RefreshTokens(tokens.refresh_token))

    session = uow.committed.sessions[tokens.session_id]
    assert (session.revoked_at, session.revoke_reason) == (clock.now(), "refresh_token_reused")
    assert revocations.is_revoked(tokens.session_id)
    assert metrics.counts["refresh_reuse"] == 1
    record = uow.committed.one("auth.refresh_reuse_detected")
    assert (record.outcome, record.target_type, record.target_id) == ("failure", "session", tokens.session_id)
    with pytest.raises(TokenRevokedError):
        await refresh(RefreshTokens(newest.refresh_token))


async def test_a_replay_after_the_successor_was_itself_rotated_is_detected_within_the_interval(
        refresh: RefreshTokensHandler, tokens: IssuedTokens, uow: FakeUnitOfWork,
        revocations: FakeRevocationList) -> None:
    second = await refresh(RefreshTokens(tokens.refresh_token))
    await refresh(RefreshTokens(second.refresh_token))

    with pytest.raises(RefreshTokenReusedError):
        await refresh(RefreshTokens(tokens.refresh_token))

    assert uow.committed.sessions[tokens.session_id].revoked_at is not None
    assert revocations.is_revoked(tokens.session_id)


async def test_an_unknown_refresh_token_is_invalid(refresh: RefreshTokensHandler, tokens: IssuedTokens,
                                                   uow: FakeUnitOfWork) -> None:
    commits = uow.commits

    with pytest.raises(InvalidTokenError):
        await refresh(RefreshTokens("tok-404"))

    assert uow.commits == commits


async def test_an_access_token_is_never_accepted_as_a_refresh_token(refresh: RefreshTokensHandler,
                                                                    tokens: IssuedTokens) -> None:
    with pytest.raises(InvalidTokenError):
        await refresh(RefreshTokens(tokens.access_token))


async def test_a_refresh_token_of_a_revoked_session_is_refused_as_revoked(
        refresh: RefreshTokensHandler, tokens: IssuedTokens, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    uow.committed.sessions[tokens.session_id].revoked_at = clock.now()

    with pytest.raises(TokenRevokedError):
        await refresh(RefreshTokens(tokens.refresh_token))


@pytest.mark.parametrize("status", [UserStatus.DISABLED, UserStatus.DELETED])
async def test_a_user_no_longer_active_gets_an_invalid_token_and_nothing_rotates(
        refresh: RefreshTokensHandler, tokens: IssuedTokens, uow: FakeUnitOfWork, minter: TokenMinter,
        status: UserStatus) -> None:
    uow.committed.users[tokens.user.id].status = status

    with pytest.raises(InvalidTokenError):
        await refresh(RefreshTokens(tokens.refresh_token))

    assert uow.committed.refresh_tokens[minter.refresh_hash(tokens.refresh_token)].rotated_at is None


async def test_an_idle_refresh_token_expires_after_its_ttl(refresh: RefreshTokensHandler, tokens: IssuedTokens,
                                                           clock: FixedClock) -> None:
    clock.advance(7 * DAY)

    with pytest.raises(TokenExpiredError):
        await refresh(RefreshTokens(tokens.refresh_token))


@pytest.mark.parametrize("config", [AuthConfig(session_max_lifetime=timedelta(days=8))])
async def test_no_token_outlives_the_session_s_maximum_lifetime(refresh: RefreshTokensHandler,
                                                                tokens: IssuedTokens, clock: FixedClock) -> None:
    clock.advance(6 * DAY)
    renewed = await refresh(RefreshTokens(tokens.refresh_token))
    clock.advance(2 * DAY - 100)

    last = await refresh(RefreshTokens(renewed.refresh_token))

    assert renewed.refresh_expires_in == 2 * DAY  # not the 7-day idle lifetime
    assert (last.expires_in, last.refresh_expires_in) == (100, 100)
    clock.advance(100)
    with pytest.raises(TokenExpiredError):
        await refresh(RefreshTokens(last.refresh_token))
