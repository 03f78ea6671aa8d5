from __future__ import annotations

import pytest

from auth_service.application.errors import InvalidTokenError, TokenExpiredError, TokenRevokedError
from auth_service.application.ports import IssuedTokens
from auth_service.application.queries.authenticate import Authenticate, Introspect
from tests.doubles import FixedClock
from tests.unit.application.conftest import GivenUser, SignIn
from tests.unit.fakes import FakeAccessTokens, FakeRevocationList, FakeUnitOfWork

ACCESS_TOKEN_TTL = 900


@pytest.fixture
def authenticate(access_tokens: FakeAccessTokens, revocations: FakeRevocationList, clock: FixedClock) -> Authenticate:
    return Authenticate(access_tokens, revocations, clock)


@pytest.fixture
def introspect(authenticate: Authenticate) -> Introspect:
    return Introspect(authenticate)


@pytest.fixture
async def tokens(given_user: GivenUser, sign_in: SignIn) -> IssuedTokens:
    given_user("ada@example.com", company_id="CMP-aaaaaaaaaaaaaaaa", network_id="net-1")
    issued, _ = await sign_in()
    return issued


async def test_a_valid_access_token_gives_its_principal(authenticate: Authenticate, tokens: IssuedTokens) -> None:
    principal = authenticate(tokens.access_token)

    assert (principal.user_id, principal.session_id, principal.email) == (
        tokens.user.id, tokens.session_id, "ada@example.com")
    assert (principal.role, principal.company_id, principal.network_id) == ("user", "CMP-aaaaaaaaaaaaaaaa", "net-1")


async def test_the_bearer_check_keeps_working_while_the_database_is_down(authenticate: Authenticate,
                                                                         tokens: IssuedTokens,
                                                                         uow: FakeUnitOfWork) -> None:
    uow.unavailable = True

    principal = authenticate(tokens.access_token)

    assert principal.session_id == tokens.session_id


@pytest.mark.parametrize("token", ["", "garbage", "at:not-base64!", "at:bnVsbA=="])
async def test_a_garbled_token_is_invalid(authenticate: Authenticate, token: str) -> None:
    with pytest.raises(InvalidTokenError):
        authenticate(token)


async def test_a_refresh_token_is_not_an_access_token(authenticate: Authenticate, tokens: IssuedTokens) -> None:
    with pytest.raises(InvalidTokenError):
        authenticate(tokens.refresh_token)


async def test_an_access_token_expires_after_its_ttl(authenticate: Authenticate, tokens: IssuedTokens,
                                                     clock: FixedClock) -> None:
    clock.advance(ACCESS_TOKEN_TTL - 1)
    authenticate(tokens.access_token)
    clock.advance(1)

    with pytest.raises(TokenExpiredError):
        authenticate(tokens.access_token)


async def test_a_token_of_a_revoked_session_is_refused_as_revoked(authenticate: Authenticate, tokens: IssuedTokens,
                                                                  revocations: FakeRevocationList,
                                                                  clock: FixedClock) -> None:
    await revocations.publish([tokens.session_id], clock.now())

    with pytest.raises(TokenRevokedError):
        authenticate(tokens.access_token)


async def test_introspection_of_a_live_token_answers_active_with_its_claims(introspect: Introspect,
                                                                           tokens: IssuedTokens) -> None:
    answer = await introspect(tokens.access_token)

    assert answer["active"] is True
    assert (answer["token_type"], answer["username"]) == ("access_token", "ada@example.com")
    assert (answer["sub"], answer["sid"]) == (tokens.user.id, tokens.session_id)


async def test_introspection_of_a_garbled_or_refresh_token_answers_only_inactive(introspect: Introspect,
                                                                                tokens: IssuedTokens) -> None:
    assert await introspect("garbage") == {"active": False}
    assert await introspect(tokens.refresh_token) == {"active": False}


async def test_introspection_of_an_expired_token_answers_only_inactive(introspect: Introspect, tokens: IssuedTokens,
                                                                      clock: FixedClock) -> None:
    clock.advance(ACCESS_TOKEN_TTL)

    assert await introspect(tokens.access_token) == {"active": False}


async def test_introspection_of_a_revoked_session_s_token_answers_only_inactive(
        introspect: Introspect, tokens: IssuedTokens, revocations: FakeRevocationList, clock: FixedClock) -> None:
    await revocations.publish([tokens.session_id], clock.now())

    assert await introspect(tokens.access_token) == {"active": False}
