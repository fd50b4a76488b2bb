"""reddit apps, rate budgets, session costs

Revision ID: acdf2d73506a
Revises: aef50530598a
Create Date: 2026-12-01 09:12:45.255696
"""

from collections.abc import Sequence

import sqlalchemy as sa

import app.db.types
from alembic import op

revision: str = "acdf2d73506a"
down_revision: str | None = "aef50530598a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reddit_budget_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_key", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("seen_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reddit_budget_tickets")),
    )
    with op.batch_alter_table("reddit_budget_tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reddit_budget_tickets_app_key_priority", ["app_key", "priority", "id"], unique=False
        )

    op.create_table(
        "reddit_budgets",
        sa.Column("app_key", sa.String(length=32), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("reset_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("probing", sa.Boolean(), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("app_key", name=op.f("pk_reddit_budgets")),
    )
    op.create_table(
        "reddit_apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_reddit_apps_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reddit_apps")),
    )
    with op.batch_alter_table("reddit_apps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reddit_apps_owner_id"), ["owner_id"], unique=False)

    with op.batch_alter_table("bot_configs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reddit_app_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_bot_configs_reddit_app_id"), ["reddit_app_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_bot_configs_reddit_app_id_reddit_apps"),
            "reddit_apps",
            ["reddit_app_id"],
            ["id"],
        )

    with op.batch_alter_table("scrape_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("requests_made", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("rate_limit_wait_seconds", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "subreddit_counts", app.db.types.JSONType, server_default="{}", nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("scrape_sessions", schema=None) as batch_op:
        batch_op.drop_column("subreddit_counts")
        batch_op.drop_column("rate_limit_wait_seconds")
        batch_op.drop_column("requests_made")

    with op.batch_alter_table("bot_configs", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_bot_configs_reddit_app_id_reddit_apps"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_bot_configs_reddit_app_id"))
        batch_op.drop_column("reddit_app_id")

    with op.batch_alter_table("reddit_apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reddit_apps_owner_id"))

    op.drop_table("reddit_apps")
    op.drop_table("reddit_budgets")
    with op.batch_alter_table("reddit_budget_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_reddit_budget_tickets_app_key_priority")

    op.drop_table("reddit_budget_tickets")
