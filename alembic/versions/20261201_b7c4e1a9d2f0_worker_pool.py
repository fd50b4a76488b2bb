"""worker pool: workers table, claim token, deadline and outbox message of a run

Revision ID: b7c4e1a9d2f0
Revises: 5e8a1c3b7d90
Create Date: 2026-12-01 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import app.db.types
from alembic import op

revision: str = "b7c4e1a9d2f0"
down_revision: str | None = "5e8a1c3b7d90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", sa.String(length=255), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("started_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("task_executions") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("deadline_at", app.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "message",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column("published_at", app.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_task_executions_runner_status", ["runner", "status"])


def downgrade() -> None:
    with op.batch_alter_table("task_executions") as batch:
        batch.drop_index("ix_task_executions_runner_status")
        batch.drop_column("published_at")
        batch.drop_column("message")
        batch.drop_column("deadline_at")
        batch.drop_column("claim_token")
    op.drop_table("workers")
