"""reddit content unique per bot config

Revision ID: 3f1e2d4c5b6a
Revises: 6cfc687264a2
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3f1e2d4c5b6a"
down_revision: str | None = "6cfc687264a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reddit_comments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reddit_comments_reddit_id", type_="unique")
        batch_op.create_unique_constraint("uq_reddit_comments_post_id", ["post_id", "reddit_id"])
    with op.batch_alter_table("reddit_posts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reddit_posts_reddit_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reddit_posts_bot_config_id", ["bot_config_id", "reddit_id"]
        )


def downgrade() -> None:
    # Fails if two bot configs found the same post (or a comment is stored twice).
    with op.batch_alter_table("reddit_posts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reddit_posts_bot_config_id", type_="unique")
        batch_op.create_unique_constraint("uq_reddit_posts_reddit_id", ["reddit_id"])
    with op.batch_alter_table("reddit_comments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reddit_comments_post_id", type_="unique")
        batch_op.create_unique_constraint("uq_reddit_comments_reddit_id", ["reddit_id"])
