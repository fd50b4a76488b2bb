"""reddit budget windows: a number per window, the permits taken in it, what one holds

Revision ID: e4f6a8c0b2d1
Revises: c3d5f7a9b1e2
Create Date: 2026-12-01 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "e4f6a8c0b2d1"
down_revision: str | None = "c3d5f7a9b1e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reddit_budgets") as batch:
        batch.add_column(
            sa.Column("window_number", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("taken", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("spilled", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("window_limit", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reddit_budgets") as batch:
        batch.drop_column("window_limit")
        batch.drop_column("spilled")
        batch.drop_column("taken")
        batch.drop_column("window_number")
