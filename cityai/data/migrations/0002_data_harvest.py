"""data harvest sources and runs

Revision ID: 0002_data
Revises: 0001_data
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
import cityai.core.db


revision = '0002_data'
down_revision = '0001_data'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('data_harvest_source',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('filter_organization', sa.String(length=100), nullable=True),
    sa.Column('filter_fq', sa.String(length=1000), nullable=True),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('interval_minutes', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_run_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.String(length=16), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_data_harvest_source_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['agency.id'], name=op.f('fk_data_harvest_source_owner_id_agency'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_harvest_source')),
    sa.UniqueConstraint('name', name=op.f('uq_data_harvest_source_name'))
    )
    with op.batch_alter_table('data_harvest_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_harvest_source_owner_id'), ['owner_id'], unique=False)

    op.create_table('data_harvest_run',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source_id', sa.String(length=36), nullable=False),
    sa.Column('job_id', sa.String(length=32), nullable=True),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_data_harvest_run_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['data_harvest_source.id'], name=op.f('fk_data_harvest_run_source_id_data_harvest_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_harvest_run'))
    )
    with op.batch_alter_table('data_harvest_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_harvest_run_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_harvest_run_source_id'), ['source_id'], unique=False)
        batch_op.create_index('ix_data_harvest_run_source_created', ['source_id', 'created_at'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('data_harvest_run', schema=None) as batch_op:
        batch_op.drop_index('ix_data_harvest_run_source_created')
        batch_op.drop_index(batch_op.f('ix_data_harvest_run_source_id'))
        batch_op.drop_index(batch_op.f('ix_data_harvest_run_job_id'))

    op.drop_table('data_harvest_run')
    with op.batch_alter_table('data_harvest_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_harvest_source_owner_id'))

    op.drop_table('data_harvest_source')
