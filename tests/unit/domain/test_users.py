from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth_service.domain.ids import ID_PATTERN
from auth_service.domain.users import Role, Source, User, UserStatus, is_valid_email, normalize_email

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def pending_user() -> User:
    return User.register("ada@example.com", "hashed:pw", now=NOON, verification_ttl=WINDOW)


@pytest.mark.parametrize(("typed", "stored"), [
    ("ada@example.com", "ada@example.com"),
    ("Ada@Example.COM", "ada@example.com"),
    ("  ada@example.com\t\n", "ada@example.com"),
    (" ADA.LOVELACE+News@Example.org ", "ada.lovelace+news@example.org"),
])
def test_emails_are_trimmed_and_lower_cased(typed: str, stored: str) -> None:
    assert normalize_email(typed) == stored


@pytest.mark.parametrize(("email", "valid"), [
    ("ada@example.com", True),
    ("ada", False),
    ("ada@localhost", False),
    ("ada lovelace@example.com", False),
    ("a@b@example.com", False),
    ("x" * 65 + "@example.com", False),
    ("ada@" + "e" * 250 + ".com", False),
])
def test_email_validity(email: str, valid: bool) -> None:
    assert is_valid_email(email) is valid


def test_a_registered_user_is_pending_with_role_user_source_web_and_no_scopes() -> None:
    user = pending_user()

    assert ID_PATTERN.match(user.id) and user.id.startswith("USR-")
    assert (user.status, user.role, user.source) == (UserStatus.PENDING, Role.USER, Source.WEB)
    assert (user.username, user.company_id, user.network_id, user.station_id) == ("ada@example.com", None, "", "")
    assert (user.is_verified, user.pending_until) == (False, NOON + WINDOW)


@pytest.mark.parametrize(("elapsed", "status"), [
    (timedelta(0), UserStatus.PENDING),
    (WINDOW - timedelta(seconds=1), UserStatus.PENDING),
    (WINDOW, UserStatus.EXPIRED),
    (WINDOW * 30, UserStatus.EXPIRED),
])
def test_a_pending_user_past_its_window_counts_as_verification_expired(elapsed: timedelta,
                                                                       status: UserStatus) -> None:
    user = pending_user()

    assert user.effective_status(NOON + elapsed) is status
    assert user.status is UserStatus.PENDING  # the stored status is not touched


@pytest.mark.parametrize("stored", [UserStatus.ACTIVE, UserStatus.DISABLED, UserStatus.DELETED])
def test_only_a_pending_user_can_expire(stored: UserStatus) -> None:
    user = pending_user()
    user.status = stored

    assert user.effective_status(NOON + WINDOW * 2) is stored


def test_a_pending_user_without_a_window_stays_pending() -> None:
    user = pending_user()
    user.pending_until = None

    assert user.effective_status(NOON + WINDOW * 2) is UserStatus.PENDING


def test_re_registering_reuses_the_row_with_a_new_password_and_window() -> None:
    user = pending_user()
    later = NOON + WINDOW * 2
    user.mark_verification_expired(NOON + WINDOW)

    user.reregister("hashed:new", now=later, verification_ttl=WINDOW, username=None, first_name="Ada",
                    last_name=None, phone=None)

    assert (user.status, user.password_hash, user.username) == (UserStatus.PENDING, "hashed:new", "ada@example.com")
    assert (user.pending_until, user.updated_at, user.first_name) == (later + WINDOW, later, "Ada")
    assert user.effective_status(later) is UserStatus.PENDING


def test_verifying_activates_and_ends_the_window() -> None:
    user = pending_user()

    user.mark_verified(NOON + timedelta(hours=1))

    assert (user.status, user.is_verified, user.is_active, user.pending_until) == (
        UserStatus.ACTIVE, True, True, None)
    assert user.effective_status(NOON + WINDOW * 2) is UserStatus.ACTIVE
