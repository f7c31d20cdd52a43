"""Who refused a failed calculation (its message is shown whole to that party and its buyers only),
and durable per-party object upload counts (a restart no longer resets the bound).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calculations") as batch:
        batch.add_column(sa.Column("failure_party", sa.String(length=63), nullable=False, server_default=""))
    op.create_table(
        "object_uploads",
        sa.Column("calculation_id", sa.String(length=64), nullable=False),
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["calculation_id"], ["calculations.id"]),
        sa.PrimaryKeyConstraint("calculation_id", "party"),
    )


def downgrade() -> None:
    op.drop_table("object_uploads")
    with op.batch_alter_table("calculations") as batch:
        batch.drop_column("failure_party")
