"""Hypothesis profiles for the whole suite, chosen with HYPOTHESIS_PROFILE: `ci` (the default: a fixed
seed and a modest budget, so every run tries the same examples) and `fuzz` (`make fuzz`: many more)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("fuzz", max_examples=1000, deadline=None, derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
