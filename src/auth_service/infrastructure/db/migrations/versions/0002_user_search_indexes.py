"""Indexes for the user lists at a million users (PostgreSQL).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Why these indexes:
- `GET /users` is always ordered (created_at or email) and, for partners and operators, narrowed to
  one company: ix_users_company_id_created_at (0001) serves "company = X order by created_at" as an
  index range scan, and the unique index on email serves the email sort; pages then cost
  O(offset + page_size) rows, never a sort of the whole table.
- Role and status filters: ix_users_role_created_at and ix_users_status_created_at let the planner
  walk only that role/status in creation order.
- `q` (email/username/name contains) is a substring match, which a B-tree cannot serve: a trigram
  GIN index over exactly the expression the query uses (infrastructure/db/views.py SEARCH_TEXT)
  turns "contains" into an index lookup instead of a scan of every row. pg_trgm is a trusted
  extension (PostgreSQL 13+), so the database owner may create it.
SQLite (the embedded single-node mode) gets the B-tree indexes only.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_EXPRESSION = ("lower(email || ' ' || username || ' ' || coalesce(first_name, '') || ' ' "
                     "|| coalesce(last_name, ''))")


def upgrade() -> None:
    op.create_index("ix_users_role_created_at", "users", ["role", "created_at"])
    op.create_index("ix_users_status_created_at", "users", ["status", "created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX ix_users_search_trgm ON users USING gin (({SEARCH_EXPRESSION}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_users_search_trgm")
    op.drop_index("ix_users_status_created_at", table_name="users")
    op.drop_index("ix_users_role_created_at", table_name="users")
