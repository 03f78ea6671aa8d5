"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from auth_service.infrastructure.db.engine import make_engine
from auth_service.infrastructure.db.tables import Base

# PostgreSQL-only expression index (trigram search), created by migration 0002 and not declarable
# portably in the table metadata.
MIGRATION_ONLY = {"ix_users_search_trgm"}


def _declared(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in MIGRATION_ONLY)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": _declared})
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_matches_the_declared_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_diff)
    finally:
        await engine.dispose()

    assert differences == []
