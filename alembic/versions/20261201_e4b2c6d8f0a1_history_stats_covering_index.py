"""history stats covering index: a job's outcomes read from the index alone

Revision ID: e4b2c6d8f0a1
Revises: e4f6a8c0b2d1
Create Date: 2026-12-01 15:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e4b2c6d8f0a1"
down_revision: str | None = "e4f6a8c0b2d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOME_COLUMNS = ["job_id", "started_at", "status", "attempt", "duration_seconds"]


def upgrade() -> None:
    with op.batch_alter_table("task_executions") as batch:
        batch.create_index("ix_task_executions_job_started_outcome", OUTCOME_COLUMNS)
        batch.drop_index("ix_task_executions_job_started")


def downgrade() -> None:
    with op.batch_alter_table("task_executions") as batch:
        batch.create_index("ix_task_executions_job_started", ["job_id", "started_at"])
        batch.drop_index("ix_task_executions_job_started_outcome")
