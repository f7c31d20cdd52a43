"""Replicas share one database: the log's head row (appends lock it), objects and upload chunks
in the database (PostgreSQL keeps ciphertexts there, so a replica holds no state of its own).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # a log kept before this revision goes on from its size (plain SQL: works for `migrate --sql` too)
    op.execute("INSERT INTO log_head (id, size) SELECT 1, COUNT(*) FROM log_leaves")
    op.create_table(
        "objects",
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    op.create_table(
        "object_chunks",
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("offset", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("hash", "offset"),
    )


def downgrade() -> None:
    op.drop_table("object_chunks")
    op.drop_table("objects")
    op.drop_table("log_head")
