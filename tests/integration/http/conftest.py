"""Fixtures of the HTTP integration tests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.bootstrap import Container
from auth_service.interfaces.http import fast_paths
from tests.doubles import Mailbox
from tests.integration.http.tenants import Tenancy, seed_tenancy


@pytest.fixture
async def tenancy(client: httpx.AsyncClient, container: Container, mailbox: Mailbox) -> Tenancy:
    return await seed_tenancy(client, container, mailbox)


@pytest.fixture
def fast_answers(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The token-pair bodies the login and refresh fast paths wrote."""
    answered: list[bytes] = []
    tokens_body = fast_paths.tokens_body

    def counted(*args: Any) -> bytes:
        answered.append(tokens_body(*args))
        return answered[-1]

    monkeypatch.setattr(fast_paths, "tokens_body", counted)
    return answered
