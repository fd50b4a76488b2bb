"""audit travels with commands; one active scrape per config

Revision ID: 037c094c6d85
Revises: d90bbf025c2b
Create Date: 2026-12-01 07:58:23.504233
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "037c094c6d85"
down_revision: str | None = "d90bbf025c2b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status IN ('pending', 'running')")


def upgrade() -> None:
    with op.batch_alter_table("scheduler_commands", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "audit",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )

    # Before the index: of several sessions of one config still marked active, only the
    # newest can be alive (the others were left by processes that died).
    op.execute(
        "UPDATE scrape_sessions SET status = 'failed', "
        "error_message = 'Interrupted: the process running this scrape stopped before it "
        "finished' "
        "WHERE status IN ('pending', 'running') AND id NOT IN ("
        "SELECT MAX(id) FROM scrape_sessions WHERE status IN ('pending', 'running') "
        "GROUP BY bot_config_id)"
    )
    with op.batch_alter_table("scrape_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_detail", sa.Text(), nullable=True))
        batch_op.create_index(
            "uq_scrape_sessions_active",
            ["bot_config_id"],
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("scrape_sessions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_scrape_sessions_active", sqlite_where=ACTIVE, postgresql_where=ACTIVE
        )
        batch_op.drop_column("error_detail")

    with op.batch_alter_table("scheduler_commands", schema=None) as batch_op:
        batch_op.drop_column("audit")
