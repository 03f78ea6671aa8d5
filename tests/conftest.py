"""Hypothesis profiles for the whole suite, chosen with HYPOTHESIS_PROFILE: `ci` (the default: a fixed
seed and a modest budget, so every run tries the same examples) and `fuzz` (`make fuzz`: many more)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from auth_service.infrastructure.logging import write_pending_access_lines

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("fuzz", max_examples=1000, deadline=None, derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _access_lines_stay_with_their_test() -> Iterator[None]:
    """Access lines wait up to 0.2 s in the service's buffer: write them into the output of the
    test that made them, not into the next test's."""
    yield
    write_pending_access_lines()
