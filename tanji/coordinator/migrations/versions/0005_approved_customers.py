"""The customers each supplier approves, from its registration: the coordinator routes only approved,
registered edges (issue #12). A party registered before this revision approves nobody until it
registers again (every node registers when it starts).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        batch.add_column(sa.Column("approves_everyone", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "approved_customers",
        sa.Column("supplier", sa.String(length=63), nullable=False),
        sa.Column("customer", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(["supplier"], ["parties.id"]),
        sa.PrimaryKeyConstraint("supplier", "customer"),
    )


def downgrade() -> None:
    op.drop_table("approved_customers")
    with op.batch_alter_table("parties") as batch:
        batch.drop_column("approves_everyone")
