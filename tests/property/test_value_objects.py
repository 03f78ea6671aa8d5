"""Properties of the value objects: emails (SPEC §2), passwords (SPEC §7) and ids (SPEC §2)."""

from __future__ import annotations

import asyncio
import string
import unicodedata

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from auth_service.domain.errors import BreachedPasswordError, WeakPasswordError
from auth_service.domain.ids import ALPHABET, ID_PATTERN, new_id, session_id_for
from auth_service.domain.passwords import MAX_LENGTH, MIN_LENGTH, length_reasons, normalize_password
from auth_service.domain.users import is_valid_email, normalize_email
from auth_service.infrastructure.security.password_policy import BreachedList, DefaultPasswordPolicy

PREFIXES = ("USR", "REG", "CMP", "SES", "AUD")
# What people put around and inside an address: case, padding, and characters of every script.
emails = st.emails().filter(lambda e: len(e) <= 254)
padding = st.text(alphabet=" \t\r\n", max_size=3)


# -- emails ---------------------------------------------------------------------------------------
@given(st.text())
def test_normalising_an_email_twice_changes_nothing(text: str) -> None:
    assert normalize_email(normalize_email(text)) == normalize_email(text)


@given(emails, padding, padding)
def test_an_email_is_compared_trimmed_and_whatever_its_case(email: str, before: str, after: str) -> None:
    variants = {normalize_email(before + email + after), normalize_email(email.upper()),
                normalize_email(email.swapcase()), normalize_email(email)}

    assert len(variants) == 1
    assert variants == {email.lower()}


@given(emails, padding, padding)
def test_every_address_is_valid_once_normalised(email: str, before: str, after: str) -> None:
    assert is_valid_email(normalize_email(before + email + after))


@given(st.text())
@example("ada@example.com\n")  # `$` also matches before a final newline: found by this property
def test_a_valid_email_has_one_at_sign_no_whitespace_and_fits_the_column(text: str) -> None:
    if is_valid_email(text):
        assert text.count("@") == 1
        assert not any(character.isspace() for character in text)
        local, domain = text.split("@")
        assert 1 <= len(local) <= 64 and "." in domain and len(text) <= 254


@given(st.text(alphabet=string.ascii_letters + string.digits + ".-_", min_size=1, max_size=40))
def test_text_without_an_at_sign_is_never_an_email(text: str) -> None:
    assert not is_valid_email(normalize_email(text))


# -- passwords ------------------------------------------------------------------------------------
@given(st.text())
def test_password_normalisation_is_nfkc_and_idempotent(password: str) -> None:
    normalized = normalize_password(password)

    assert normalized == unicodedata.normalize("NFKC", password)
    assert normalize_password(normalized) == normalized


@given(st.text(max_size=200))
def test_the_length_rule_counts_code_points_and_never_truncates(password: str) -> None:
    normalized = normalize_password(password)

    reasons = length_reasons(normalized)

    if len(normalized) < MIN_LENGTH:
        assert reasons == ["too_short"]
    elif len(normalized) > MAX_LENGTH:
        assert reasons == ["too_long"]
    else:
        assert reasons == []


@given(st.sampled_from(["ﬁ", "ﬃ", "㎏", "①", "\uff21"]), st.integers(min_value=1, max_value=12))
def test_compatibility_characters_count_as_what_they_normalise_to(character: str, count: int) -> None:
    password = character * count
    normalized = normalize_password(password)

    assert length_reasons(normalized) == (["too_short"] if len(normalized) < MIN_LENGTH else [])


_POLICY = DefaultPasswordPolicy(BreachedList(), None)
_BREACHED = sorted(BreachedList().load())


def _check(password: str, user_inputs: list[str]) -> Exception | None:
    try:
        asyncio.run(_POLICY.check(normalize_password(password), user_inputs))
    except (WeakPasswordError, BreachedPasswordError) as exc:
        return exc
    return None


@given(st.text(max_size=150), st.lists(st.text(max_size=30), max_size=3))
def test_the_policy_answers_any_text_with_a_verdict_and_never_crashes(password: str, inputs: list[str]) -> None:
    normalized = normalize_password(password)

    outcome = _check(password, inputs)

    if normalized.lower() in BreachedList().load():
        assert isinstance(outcome, BreachedPasswordError)
    elif length_reasons(normalized):
        assert isinstance(outcome, WeakPasswordError) and outcome.details["reasons"] == length_reasons(normalized)
    elif len(normalized) >= 64:
        assert outcome is None
    else:
        assert outcome is None or (isinstance(outcome, WeakPasswordError) and outcome.details["reasons"])


@given(st.sampled_from(_BREACHED))
def test_a_listed_password_is_breached_whatever_its_case_and_length(password: str) -> None:
    outcome = _check(password.upper(), [])

    assert isinstance(outcome, BreachedPasswordError)


# -- identifiers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", PREFIXES)
def test_new_ids_have_their_prefix_and_sixteen_nanoid_characters(prefix: str) -> None:
    ids = {new_id(prefix) for _ in range(200)}

    assert len(ids) == 200
    assert all(ID_PATTERN.fullmatch(value) and value.startswith(f"{prefix}-") for value in ids)



def test_every_character_of_the_alphabet_is_used_in_every_position() -> None:
    ids = [new_id("SES")[4:] for _ in range(2000)]  # 2,000 draws of 64 characters: none missing by chance

    for position in range(16):
        assert {value[position] for value in ids} == set(ALPHABET)

@given(st.text(min_size=1))
def test_a_session_id_derived_from_a_provider_sid_is_well_formed_and_stable(sid: str) -> None:
    derived = session_id_for(sid)

    assert ID_PATTERN.fullmatch(derived) and derived.startswith("SES-")
    assert session_id_for(sid) == derived


@given(st.text(min_size=1), st.text(min_size=1))
def test_different_provider_sids_give_different_session_ids(first: str, second: str) -> None:
    assume(first != second)

    assert session_id_for(first) != session_id_for(second)


@given(st.sampled_from(PREFIXES), st.text(alphabet=ALPHABET, min_size=16, max_size=16))
def test_the_id_pattern_accepts_exactly_a_known_prefix_a_dash_and_sixteen_characters(prefix: str, body: str) -> None:
    assert ID_PATTERN.fullmatch(f"{prefix}-{body}")
    assert not ID_PATTERN.fullmatch(f"{prefix}-{body[:-1]}")
    assert not ID_PATTERN.fullmatch(f"{prefix}-{body}x")
    assert not ID_PATTERN.fullmatch(f"{prefix.lower()}-{body}")
    assert not ID_PATTERN.fullmatch(f"XYZ-{body}")


@given(st.text(min_size=1).filter(lambda s: not all(c in ALPHABET for c in s)))
def test_the_id_pattern_refuses_characters_outside_the_alphabet(text: str) -> None:
    body = (text * 16)[:16]
    assume(any(c not in ALPHABET for c in body))

    assert not ID_PATTERN.fullmatch(f"USR-{body}")
