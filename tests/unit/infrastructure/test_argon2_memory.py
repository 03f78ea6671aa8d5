from __future__ import annotations

import platform
import sys

import pytest

from auth_service.infrastructure.security.argon2_hasher import keep_large_buffers_out_of_the_heap


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt thresholds are glibc's")
def test_argon2_buffers_are_kept_out_of_the_heap_on_glibc() -> None:
    # Without it, each hashing thread keeps an ARGON2_MEMORY_KIB buffer resident for good.
    assert keep_large_buffers_out_of_the_heap(19456 * 1024) is True
