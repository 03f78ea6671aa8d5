"""Audit indexes for tens of millions of rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

- ix_audit_logs_unlinked: a partial index over the records the sequencer has not linked yet
  (seq IS NULL). It holds only a handful of rows at any time, so finding them stays O(pending)
  instead of a scan of the whole table on every link round.
- ip and outcome filters of GET /audit/logs, each with occurred_at for the newest-first order
  (actor, target, company and action got theirs in 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_logs_ip_occurred_at", "audit_logs", ["ip", "occurred_at"])
    op.create_index("ix_audit_logs_outcome_occurred_at", "audit_logs", ["outcome", "occurred_at"])
    op.create_index("ix_audit_logs_unlinked", "audit_logs", ["occurred_at", "id"],
                    postgresql_where=sa.text("seq IS NULL"), sqlite_where=sa.text("seq IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_audit_logs_unlinked", table_name="audit_logs")
    op.drop_index("ix_audit_logs_outcome_occurred_at", table_name="audit_logs")
    op.drop_index("ix_audit_logs_ip_occurred_at", table_name="audit_logs")
