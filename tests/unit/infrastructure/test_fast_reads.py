"""The asyncpg reader of /users/me: its DSN and its statement (the database part is in
tests/integration/http/test_me_fast_path.py)."""

from __future__ import annotations

from auth_service.infrastructure.db.fast_reads import _SELECT_USER, AsyncpgUserViews, asyncpg_dsn
from auth_service.infrastructure.db.tables import UserRow
from auth_service.infrastructure.db.views import SqlUserViews


def test_the_dsn_is_the_sqlalchemy_url_without_the_dialects_options() -> None:
    url = "postgresql+asyncpg://auth:p%40ss@db.internal:5433/auth?prepared_statement_cache_size=0&sslmode=require"

    assert asyncpg_dsn(url) == "postgresql://auth:p%40ss@db.internal:5433/auth?sslmode=require"


def test_a_statement_cache_turned_off_in_the_url_is_off_here_too() -> None:
    fallback = SqlUserViews.__new__(SqlUserViews)
    off = AsyncpgUserViews("postgresql+asyncpg://a@h/d?prepared_statement_cache_size=0", fallback)
    default = AsyncpgUserViews("postgresql+asyncpg://a@h/d", fallback)

    assert (off._statement_cache_size, default._statement_cache_size) == (0, 100)


def test_the_statement_reads_every_column_of_users_in_table_order() -> None:
    columns = ", ".join(f"users.{column.name}" for column in UserRow.__table__.columns)

    assert " ".join(_SELECT_USER.split()) == f"SELECT {columns} FROM users WHERE users.id = $1::VARCHAR"
