"""Fixtures of the HTTP integration tests."""

from __future__ import annotations

import httpx
import pytest

from auth_service.bootstrap import Container
from tests.doubles import Mailbox
from tests.integration.http.tenants import Tenancy, seed_tenancy


@pytest.fixture
async def tenancy(client: httpx.AsyncClient, container: Container, mailbox: Mailbox) -> Tenancy:
    return await seed_tenancy(client, container, mailbox)
