"""The refresh-rotation state machine (SPEC §3 Refresh, Logout) over the real handlers and the
in-memory fakes: whatever the interleaving of refreshes, retries, replays of old tokens, logouts
and logouts everywhere, a session has at most one live refresh token, a retry within the reuse
interval gets the one successor, and a replay revokes the session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from auth_service.application.commands.refresh_tokens import RefreshTokens, RefreshTokensHandler
from auth_service.application.commands.revoke_sessions import LogOut, LogOutAll, RevokeToken, SessionRevoker
from auth_service.application.config import AuthConfig
from auth_service.application.errors import RefreshTokenReusedError, TokenRevokedError
from auth_service.application.ports import IssuedTokens, RequestContext
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.users import Role, Source, User, UserStatus
from tests.doubles import FakeSecretBox, FixedClock
from tests.unit.fakes import (
    FakeAccessTokens,
    FakeHasher,
    FakeIdentityProvider,
    FakeMetrics,
    FakeRateLimiter,
    FakeRevocationList,
    FakeSecrets,
    FakeUnitOfWork,
)

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
REUSE = timedelta(seconds=10)


@dataclass
class SessionModel:
    """What the spec says a session's tokens are, kept beside the handlers."""

    id: str
    newest: str  # the only refresh token that may rotate
    access_token: str
    revoked: bool = False
    rotated_at: dict[str, datetime] = field(default_factory=dict)  # token -> when it was rotated
    successor: dict[str, str] = field(default_factory=dict)  # token -> the token it was rotated into


class RefreshRotation(RuleBasedStateMachine):
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FixedClock(NOON)
        self.uow = FakeUnitOfWork()
        config = AuthConfig(refresh_reuse_interval=REUSE)
        self.access = FakeAccessTokens()
        self.minter = TokenMinter(self.access, FakeSecrets(), config, FakeMetrics())
        self.revocations = FakeRevocationList()
        self.refresh_handler = RefreshTokensHandler(lambda: self.uow, self.minter, FakeSecretBox(), self.revocations,
                                                    self.clock, config, FakeMetrics(), FakeRateLimiter())
        self.revoker = SessionRevoker(lambda: self.uow, self.minter, self.access, self.revocations, self.clock,
                                      FakeIdentityProvider(FakeHasher(), self.minter))
        self.user = User(id="USR-aaaaaaaaaaaaaaaa", email="ada@example.com", username="ada@example.com",
                         password_hash=None, role=Role.USER, status=UserStatus.ACTIVE, source=Source.WEB,
                         created_at=NOON, updated_at=NOON, is_verified=True)
        self.uow.committed.users[self.user.id] = self.user
        self.sessions: dict[str, SessionModel] = {}
        self.owner: dict[str, str] = {}  # refresh token -> session id

    def teardown(self) -> None:
        self.loop.close()

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coroutine)

    # -- rules ------------------------------------------------------------------------------------
    @rule(target=tokens)
    def log_in(self) -> str:
        async def start() -> IssuedTokens:
            async with self.uow as uow:
                issued = await self.minter.start_session(uow, self.user, RequestContext(), self.clock.now())
                await uow.commit()
            return issued

        issued = self.run(start())
        self.sessions[issued.session_id] = SessionModel(issued.session_id, issued.refresh_token, issued.access_token)
        self.owner[issued.refresh_token] = issued.session_id
        return issued.refresh_token

    @rule(target=tokens, token=tokens)
    def refresh(self, token: str) -> str:
        return self._refresh(token)

    @rule(token=tokens)
    def two_tabs_refresh_at_once(self, token: str) -> None:
        """Concurrent presentations of one token: one rotation, and all get the same answer."""
        session = self.sessions[self.owner[token]]
        expected = self._expected(session, token)

        async def both() -> list[IssuedTokens | BaseException]:
            return await asyncio.gather(self.refresh_handler(RefreshTokens(token)),
                                        self.refresh_handler(RefreshTokens(token)), return_exceptions=True)

        first, second = self.run(both())
        if expected in ("rotate", "retry"):
            assert isinstance(first, IssuedTokens) and isinstance(second, IssuedTokens), (first, second)
            assert first.refresh_token == second.refresh_token
            if expected == "rotate":
                self._rotated(session, token, first.refresh_token)
            assert first.refresh_token == session.successor[token]
            session.access_token = second.access_token
        else:
            self._check_refused(session, expected, first)
            self._check_refused(session, "revoked" if expected == "replay" else expected, second)

    @rule(token=tokens)
    def revoke_per_rfc7009(self, token: str) -> None:
        self.run(self.revoker.revoke_token(RevokeToken(token)))
        self.sessions[self.owner[token]].revoked = True

    @rule(token=tokens)
    def log_out(self, token: str) -> None:
        session = self.sessions[self.owner[token]]
        principal = self.access.verify(session.access_token, now=self.clock.now())
        self.run(self.revoker.log_out(LogOut(principal)))
        session.revoked = True

    @precondition(lambda self: self.sessions)
    @rule(data=st.data())
    def log_out_everywhere(self, data: st.DataObject) -> None:
        session = self.sessions[data.draw(st.sampled_from(sorted(self.sessions)))]
        principal = self.access.verify(session.access_token, now=self.clock.now())
        self.run(self.revoker.log_out_all(LogOutAll(principal)))
        for each in self.sessions.values():
            each.revoked = True

    @rule(seconds=st.sampled_from([1, 5, 10, 11, 60]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def at_most_one_live_refresh_token_per_session(self) -> None:
        now = self.clock.now()
        for session in self.uow.committed.sessions.values():
            live = [t for t in self.uow.committed.refresh_tokens.values()
                    if t.session_id == session.id and t.rotated_at is None and now < t.expires_at]
            assert len(live) <= 1, session.id
            if session.revoked_at is None:
                assert [self.minter.refresh_hash(self.sessions[session.id].newest)] == [t.token_hash for t in live]

    @invariant()
    def sessions_are_revoked_exactly_when_the_model_says(self) -> None:
        for session_id, model in self.sessions.items():
            stored = self.uow.committed.sessions[session_id]
            assert (stored.revoked_at is not None) == model.revoked, session_id
            assert self.revocations.is_revoked(session_id) == model.revoked, session_id

    # -- the model ----------------------------------------------------------------------------------
    def _expected(self, session: SessionModel, token: str) -> str:
        if session.revoked:
            return "revoked"
        if token == session.newest:
            return "rotate"
        successor = session.successor[token]
        if self.clock.now() - session.rotated_at[token] <= REUSE and successor == session.newest:
            return "retry"
        return "replay"

    def _refresh(self, token: str) -> str:
        session = self.sessions[self.owner[token]]
        expected = self._expected(session, token)
        event(f"refresh: {expected}")
        try:
            issued = self.run(self.refresh_handler(RefreshTokens(token)))
        except (TokenRevokedError, RefreshTokenReusedError) as exc:
            self._check_refused(session, expected, exc)
            return token
        assert expected in ("rotate", "retry"), (expected, issued)
        assert issued.session_id == session.id
        if expected == "retry":
            assert issued.refresh_token == session.successor[token]
        else:
            self._rotated(session, token, issued.refresh_token)
        session.access_token = issued.access_token
        return issued.refresh_token

    def _rotated(self, session: SessionModel, token: str, successor: str) -> None:
        session.rotated_at[token], session.successor[token] = self.clock.now(), successor
        session.newest = successor
        self.owner[successor] = session.id

    @staticmethod
    def _check_refused(session: SessionModel, expected: str, outcome: object) -> None:
        if expected == "revoked":
            assert isinstance(outcome, TokenRevokedError), outcome
        else:
            assert expected == "replay" and isinstance(outcome, RefreshTokenReusedError), (expected, outcome)
            session.revoked = True


# The profile's budget (tests/conftest.py), each example a run of up to 40 steps.
RefreshRotation.TestCase.settings = settings(settings.default, stateful_step_count=40)
test_refresh_rotation = RefreshRotation.TestCase
