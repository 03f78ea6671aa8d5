"""`auth-service secrets reencrypt`: move everything encrypted at rest to the current SECRET_KEY,
so an old key can be dropped from SECRET_KEY_FALLBACKS afterwards."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from auth_service.application.commands.refresh_tokens import SUCCESSOR_PURPOSE
from auth_service.application.mfa import TOTP_PURPOSE
from auth_service.application.ports import SecretBox
from auth_service.infrastructure.db.tables import OutboxRow, RefreshTokenRow, SigningKeyRow, UserRow
from auth_service.infrastructure.mail.outbox import PURPOSE as OUTBOX_PURPOSE
from auth_service.infrastructure.security.keys import PURPOSE as SIGNING_KEY_PURPOSE

# (the primary key, the encrypted column, the purpose it was encrypted for)
_ENCRYPTED: tuple[tuple[InstrumentedAttribute[object], InstrumentedAttribute[str | None], str], ...] = (
    (SigningKeyRow.kid, SigningKeyRow.private_key_enc, SIGNING_KEY_PURPOSE),
    (OutboxRow.id, OutboxRow.payload_enc, OUTBOX_PURPOSE),
    (RefreshTokenRow.token_hash, RefreshTokenRow.successor_enc, SUCCESSOR_PURPOSE),
    (UserRow.id, UserRow.totp_secret_enc, TOTP_PURPOSE),
)


async def reencrypt_all(sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> dict[str, int]:
    """Re-encrypt every value not under the current key; returns counts per table. Idempotent."""
    counts: dict[str, int] = {}
    for key_column, column, purpose in _ENCRYPTED:
        table = column.class_.__tablename__
        counts[table] = 0
        async with sessions() as session, session.begin():
            rows = (await session.execute(select(key_column, column).where(column.is_not(None)))).all()
            for key, ciphertext in rows:
                if ciphertext is None or box.is_current(ciphertext):
                    continue
                fresh = box.encrypt(box.decrypt(ciphertext, purpose=purpose), purpose=purpose)
                await session.execute(update(column.class_).where(key_column == key).values({column.key: fresh}))
                counts[table] += 1
    return counts
