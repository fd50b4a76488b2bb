"""task execution logs

Revision ID: 5e8a1c3b7d90
Revises: acdf2d73506a
Create Date: 2026-12-01 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "5e8a1c3b7d90"
down_revision: str | None = "acdf2d73506a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_execution_logs",
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["task_executions.id"],
            name=op.f("fk_task_execution_logs_execution_id_task_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_task_execution_logs")),
    )


def downgrade() -> None:
    op.drop_table("task_execution_logs")
