"""The schema as `create_all` made it before migrations existed (tree heads' millisecond timestamps
as BIGINT: 32 bits overflow on PostgreSQL; SQLite stores INTEGER and BIGINT alike).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attestations',
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('calculation_id', sa.String(length=64), nullable=False),
    sa.Column('auditor', sa.String(length=63), nullable=False),
    sa.PrimaryKeyConstraint('hash')
    )
    op.create_index(op.f('ix_attestations_calculation_id'), 'attestations', ['calculation_id'], unique=False)
    op.create_table('calc_fallbacks',
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('calculation_id', sa.String(length=64), nullable=False),
    sa.Column('buyer', sa.String(length=63), nullable=False),
    sa.Column('supplier', sa.String(length=63), nullable=False),
    sa.Column('product', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('dead_supplier_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('hash'),
    sa.UniqueConstraint('request_hash')
    )
    op.create_index(op.f('ix_calc_fallbacks_calculation_id'), 'calc_fallbacks', ['calculation_id'], unique=False)
    op.create_table('calc_requests',
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('calculation_id', sa.String(length=64), nullable=False),
    sa.Column('buyer', sa.String(length=63), nullable=False),
    sa.Column('supplier', sa.String(length=63), nullable=False),
    sa.Column('product', sa.String(length=128), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('weight_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('depth_remaining', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('hash')
    )
    op.create_index(op.f('ix_calc_requests_calculation_id'), 'calc_requests', ['calculation_id'], unique=False)
    op.create_table('calculations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('requester', sa.String(length=63), nullable=False),
    sa.Column('key_holder', sa.String(length=63), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('key_announcement_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('key_fingerprint', sa.LargeBinary(length=32), nullable=True),
    sa.Column('params_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('context_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('transit_level', sa.Integer(), nullable=True),
    sa.Column('aggregate_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('result_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('auditors', sa.JSON(), nullable=False),
    sa.Column('min_attestations', sa.Integer(), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure_code', sa.Integer(), nullable=False),
    sa.Column('failure_message', sa.String(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('envelopes',
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('calculation_id', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=48), nullable=False),
    sa.Column('sender', sa.String(length=63), nullable=False),
    sa.Column('receiver', sa.String(length=63), nullable=False),
    sa.Column('message_id', sa.LargeBinary(length=16), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('hash'),
    sa.UniqueConstraint('sender', 'message_id', name='one_message_id_per_sender')
    )
    op.create_index(op.f('ix_envelopes_calculation_id'), 'envelopes', ['calculation_id'], unique=False)
    op.create_table('key_holder_work',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('party', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('calculation_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('sequence')
    )
    op.create_index(op.f('ix_key_holder_work_party'), 'key_holder_work', ['party'], unique=False)
    op.create_table('log_leaves',
    sa.Column('index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('envelope_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('calculation_id', sa.String(length=64), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('index'),
    sa.UniqueConstraint('envelope_hash')
    )
    op.create_index(op.f('ix_log_leaves_calculation_id'), 'log_leaves', ['calculation_id'], unique=False)
    op.create_table('parties',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('registered', sa.Boolean(), nullable=False),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('tree_heads',
    sa.Column('tree_size', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('timestamp_ms', sa.BigInteger(), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
    sa.PrimaryKeyConstraint('tree_size')
    )
    op.create_table('calc_pairs',
    sa.Column('calculation_id', sa.String(length=64), nullable=False),
    sa.Column('org', sa.String(length=63), nullable=False),
    sa.Column('product', sa.String(length=128), nullable=False),
    sa.Column('is_root', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('merged_request_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('declaration_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('contribution_hash', sa.LargeBinary(length=32), nullable=True),
    sa.ForeignKeyConstraint(['calculation_id'], ['calculations.id'], ),
    sa.PrimaryKeyConstraint('calculation_id', 'org', 'product')
    )
    op.create_table('deliveries',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('party', sa.String(length=63), nullable=False),
    sa.Column('envelope_hash', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['envelope_hash'], ['envelopes.hash'], ),
    sa.PrimaryKeyConstraint('sequence')
    )
    op.create_index(op.f('ix_deliveries_party'), 'deliveries', ['party'], unique=False)
    op.create_table('served_products',
    sa.Column('org', sa.String(length=63), nullable=False),
    sa.Column('product', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['org'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('org', 'product')
    )
    op.create_table('supply_edges',
    sa.Column('buyer', sa.String(length=63), nullable=False),
    sa.Column('buyer_product', sa.String(length=128), nullable=False),
    sa.Column('supplier', sa.String(length=63), nullable=False),
    sa.Column('supplier_product', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['buyer'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('buyer', 'buyer_product', 'supplier', 'supplier_product')
    )


def downgrade() -> None:
    op.drop_table('supply_edges')
    op.drop_table('served_products')
    op.drop_index(op.f('ix_deliveries_party'), table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_table('calc_pairs')
    op.drop_table('tree_heads')
    op.drop_table('parties')
    op.drop_index(op.f('ix_log_leaves_calculation_id'), table_name='log_leaves')
    op.drop_table('log_leaves')
    op.drop_index(op.f('ix_key_holder_work_party'), table_name='key_holder_work')
    op.drop_table('key_holder_work')
    op.drop_index(op.f('ix_envelopes_calculation_id'), table_name='envelopes')
    op.drop_table('envelopes')
    op.drop_table('calculations')
    op.drop_index(op.f('ix_calc_requests_calculation_id'), table_name='calc_requests')
    op.drop_table('calc_requests')
    op.drop_index(op.f('ix_calc_fallbacks_calculation_id'), table_name='calc_fallbacks')
    op.drop_table('calc_fallbacks')
    op.drop_index(op.f('ix_attestations_calculation_id'), table_name='attestations')
    op.drop_table('attestations')
