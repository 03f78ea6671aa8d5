"""Properties of the access-token codec (SPEC §3): what is issued verifies to the same claims, and
no single-byte change to a token is ever accepted."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth_service.application.errors import InvalidTokenError, TokenExpiredError
from auth_service.domain.sessions import Session
from auth_service.domain.users import Role, Source, User, UserStatus
from auth_service.infrastructure.security.jwt_tokens import JwtAccessTokens
from auth_service.infrastructure.security.keys import KeyRing, generate_signing_key
from tests.doubles import FakeSecretBox

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ISSUER, AUDIENCE = "https://auth.example.com", "auth-service"
ALGORITHMS = ("RS256", "ES256", "EdDSA")
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=16, max_size=16)
# Printable characters of any script, as people put them in names and addresses.
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


class _Keys:
    """What JwtAccessTokens reads from the key store: the current ring."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring


@functools.cache
def _codec(alg: str) -> JwtAccessTokens:
    box = FakeSecretBox()
    ring = KeyRing([generate_signing_key(alg, box, NOON)], box, NOON, 900)
    return JwtAccessTokens(_Keys(ring), ISSUER, AUDIENCE, cache_size=0)  # type: ignore[arg-type]


@st.composite
def accounts(draw: st.DrawFn) -> tuple[User, Session]:
    user = User(id="USR-" + draw(ids), email=draw(texts), username=draw(texts), password_hash=None,
                role=draw(st.sampled_from(Role)), status=UserStatus.ACTIVE, source=Source.WEB, created_at=NOON,
                updated_at=NOON, is_verified=draw(st.booleans()),
                company_id=draw(st.none() | ids.map(lambda s: "CMP-" + s)),
                network_id=draw(texts), station_id=draw(texts))
    session = Session.start(user.id, now=NOON, max_lifetime=timedelta(days=30), ip=None, user_agent=None)
    return user, session


def _issue(alg: str, user: User, session: Session, ttl: int = 900) -> str:
    return _codec(alg).issue(user, session, now=NOON, expires_at=NOON + timedelta(seconds=ttl))


@pytest.mark.parametrize("alg", ALGORITHMS)
@given(account=accounts(), ttl=st.integers(min_value=1, max_value=3600),
       elapsed=st.floats(min_value=0, max_value=7200, allow_nan=False))
def test_an_issued_token_verifies_to_its_claims_until_it_expires(
        alg: str, account: tuple[User, Session], ttl: int, elapsed: float) -> None:
    user, session = account
    token = _issue(alg, user, session, ttl)
    at = NOON + timedelta(seconds=elapsed)

    if elapsed >= ttl:
        with pytest.raises(TokenExpiredError):
            _codec(alg).verify(token, now=at)
        return
    principal = _codec(alg).verify(token, now=at)

    assert (principal.user_id, principal.subject, principal.session_id) == (user.id, user.id, session.id)
    assert (principal.email, principal.email_verified, principal.role) == (user.email, user.is_verified, user.role)
    assert (principal.company_id, principal.network_id, principal.station_id) == (
        user.company_id, user.network_id, user.station_id)
    assert principal.expires_at == NOON + timedelta(seconds=ttl)


@pytest.mark.parametrize("alg", ALGORITHMS)
@given(account=accounts(), data=st.data())
def test_any_single_byte_change_to_a_token_is_rejected(
        alg: str, account: tuple[User, Session], data: st.DataObject) -> None:
    token = _issue(alg, *account).encode("ascii")
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1), label="position")
    byte = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != token[position]), label="byte")
    tampered = token[:position] + bytes([byte]) + token[position + 1:]

    with pytest.raises(InvalidTokenError):
        _codec(alg).verify(tampered.decode("latin-1"), now=NOON)


@pytest.mark.parametrize("alg", ALGORITHMS)
@given(account=accounts(), data=st.data())
def test_a_token_cut_short_or_extended_is_rejected(alg: str, account: tuple[User, Session],
                                                   data: st.DataObject) -> None:
    token = _issue(alg, *account)
    cut = data.draw(st.integers(min_value=0, max_value=len(token) - 1), label="cut")
    extra = data.draw(st.text(min_size=1, max_size=4), label="extra")

    for changed in (token[:cut], token + extra, extra + token):
        with pytest.raises(InvalidTokenError):
            _codec(alg).verify(changed, now=NOON)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_character_changed_to_a_base64url_neighbour_is_rejected(alg: str) -> None:
    """The close misses random bytes seldom hit: one bit of the base64url value changed at every
    position, including the low bits of each segment's last character, which carry no data."""
    now = NOON
    user = User(id="USR-aaaaaaaaaaaaaaaa", email="ada@example.com", username="ada", password_hash=None,
                role=Role.USER, status=UserStatus.ACTIVE, source=Source.WEB, created_at=now, updated_at=now)
    token = _issue(alg, user, Session.start(user.id, now=now, max_lifetime=timedelta(days=30), ip=None,
                                            user_agent=None))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    for position, character in enumerate(token):
        if character == ".":
            continue
        for bit in (1, 2, 32):
            neighbour = alphabet[alphabet.index(character) ^ bit]
            with pytest.raises(InvalidTokenError):
                _codec(alg).verify(token[:position] + neighbour + token[position + 1:], now=now)
