from __future__ import annotations

import pytest

from auth_service.domain.passwords import MAX_LENGTH, MIN_LENGTH, length_reasons, normalize_password

COMBINING_ACUTE = "\u0301"


@pytest.mark.parametrize(("typed", "normalized"), [
    ("\uff43\uff4f\uff52\uff52\uff45\uff43\uff54", "correct"),  # full-width forms
    ("\ufb01sh", "fish"),  # the "ﬁ" ligature
    ("e" + COMBINING_ACUTE, "\u00e9"),  # e + combining acute composes to é
    ("\u2460\u2461\u2462", "123"),  # circled digits
    ("x\u00a0y", "x y"),  # no-break space
])
def test_passwords_are_nfkc_normalised(typed: str, normalized: str) -> None:
    assert normalize_password(typed) == normalized


def test_equivalent_spellings_normalise_alike() -> None:
    composed, decomposed = "caf\u00e9 au lait!", "cafe" + COMBINING_ACUTE + " au lait!"

    assert normalize_password(composed) == normalize_password(decomposed)


@pytest.mark.parametrize(("length", "reasons"), [
    (0, ["too_short"]),
    (MIN_LENGTH - 1, ["too_short"]),
    (MIN_LENGTH, []),
    (MAX_LENGTH, []),
    (MAX_LENGTH + 1, ["too_long"]),
])
def test_the_length_bounds(length: int, reasons: list[str]) -> None:
    assert length_reasons(normalize_password("a" * length)) == reasons


def test_twelve_combining_code_points_are_six_characters_after_normalisation() -> None:
    typed = ("e" + COMBINING_ACUTE) * 6

    assert len(typed) == 12
    assert length_reasons(normalize_password(typed)) == ["too_short"]


def test_six_compatibility_ligatures_are_twelve_characters_after_normalisation() -> None:
    typed = "\ufb01" * 6  # "ﬁ" expands to "fi"

    assert len(typed) == 6
    assert length_reasons(normalize_password(typed)) == []


def test_length_is_counted_in_code_points_not_bytes_or_utf16_units() -> None:
    twelve_emoji = "\U0001f600" * 12  # 48 bytes of UTF-8, 24 UTF-16 units, 12 code points

    assert length_reasons(normalize_password(twelve_emoji)) == []
    assert length_reasons(normalize_password(twelve_emoji[:-1])) == ["too_short"]
    assert length_reasons(normalize_password("\U0001f600" * MAX_LENGTH)) == []


def test_a_long_password_is_never_truncated() -> None:
    typed = "correct horse battery " * 20

    assert normalize_password(typed) == typed
    assert length_reasons(normalize_password(typed)) == ["too_long"]
