"""Password rules that need no I/O (SPEC §7)."""

from __future__ import annotations

import unicodedata

MIN_LENGTH = 12
MAX_LENGTH = 128
ESTIMATOR_SKIP_LENGTH = 64


def normalize_password(password: str) -> str:
    """NFKC, applied before every check and every hash, so equivalent spellings match."""
    return unicodedata.normalize("NFKC", password)


def length_reasons(normalized: str) -> list[str]:
    """Lengths are counted in code points; passwords are never truncated."""
    if len(normalized) < MIN_LENGTH:
        return ["too_short"]
    if len(normalized) > MAX_LENGTH:
        return ["too_long"]
    return []
