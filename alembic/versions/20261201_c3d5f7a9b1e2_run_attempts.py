"""run attempts: a slot's retries are rows of their own, waiting ones until not_before

Revision ID: c3d5f7a9b1e2
Revises: b7c4e1a9d2f0
Create Date: 2026-12-01 12:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

import app.db.types
from alembic import op

revision: str = "c3d5f7a9b1e2"
down_revision: str | None = "b7c4e1a9d2f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task_executions") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(
            sa.Column("not_before", app.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.drop_index("uq_task_executions_job_slot")
        batch.create_index(
            "uq_task_executions_job_slot_attempt",
            ["job_id", "scheduled_at", "attempt"],
            unique=True,
        )
        batch.create_index("ix_task_executions_status_not_before", ["status", "not_before"])


def downgrade() -> None:
    with op.batch_alter_table("task_executions") as batch:
        batch.drop_index("ix_task_executions_status_not_before")
        batch.drop_index("uq_task_executions_job_slot_attempt")
        # Retries of a slot would break the old key: only first attempts are kept.
    op.execute("DELETE FROM task_executions WHERE attempt > 1")
    with op.batch_alter_table("task_executions") as batch:
        batch.create_index("uq_task_executions_job_slot", ["job_id", "scheduled_at"], unique=True)
        batch.drop_column("not_before")
        batch.drop_column("attempt")
