"""`secrets reencrypt`: data encrypted under an old SECRET_KEY moves to the current one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from auth_service.bootstrap import Container, Settings
from auth_service.infrastructure.security.keys import PURPOSE as SIGNING_KEY_PURPOSE
from auth_service.infrastructure.security.secret_box import AesGcmSecretBox
from tests.doubles import Mailbox
from tests.integration.conftest import TEST_SECRET_KEY
from tests.integration.http.flows import bearer, signed_in

NEW_SECRET_KEY = "a-brand-new-secret-key-0123456789abcdef"


async def _private_keys(container: Container) -> list[str]:
    async with container.sessionmaker() as session:
        return list((await session.execute(text("SELECT private_key_enc FROM signing_keys"))).scalars())


@pytest.fixture
def rotated_settings(settings: Settings) -> Settings:
    values: dict[str, Any] = settings.model_dump()
    values.update(secret_key=NEW_SECRET_KEY, secret_key_fallbacks=[TEST_SECRET_KEY])
    return Settings(**values)


async def test_after_reencrypting_the_old_key_is_no_longer_needed(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, rotated_settings: Settings) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    rotated = Container(rotated_settings)
    try:
        before = await _private_keys(rotated)

        counts = await rotated.reencrypt_secrets()
        after = await _private_keys(rotated)
        await rotated.key_store.load(rotated.uow, rotated.clock)
    finally:
        await rotated.stop()

    assert counts["signing_keys"] == 1 and before != after
    only_new_key = AesGcmSecretBox(NEW_SECRET_KEY, [])
    assert all(only_new_key.decrypt(value, purpose=SIGNING_KEY_PURPOSE) for value in after)
    # The re-encrypted private key is the same key: tokens it signed before still verify.
    assert rotated.access_tokens.verify(tokens["access_token"], now=container.clock.now()).user_id
    assert (await client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))).status_code == 200
