"""Calculation states up to 48 characters: CALCULATION_STATE_AWAITING_ATTESTATION (38) overflowed
VARCHAR(32) on PostgreSQL, which enforces lengths that SQLite does not.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calculations") as batch:  # SQLite: the table is copied
        batch.alter_column("state", existing_type=sa.String(length=32), type_=sa.String(length=48),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("calculations") as batch:
        batch.alter_column("state", existing_type=sa.String(length=48), type_=sa.String(length=32),
                           existing_nullable=False)
