"""data tables

Revision ID: 0001_data
Revises: 
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import cityai.core.db


revision = '0001_data'
down_revision = None
branch_labels = ('data',)
depends_on = '0001_core'


def upgrade() -> None:

    op.create_table('data_dataset',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('title_en', sa.String(length=500), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('notes_en', sa.Text(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('theme', sa.String(length=100), nullable=True),
    sa.Column('license_id', sa.String(length=100), nullable=True),
    sa.Column('frequency', sa.String(length=32), nullable=True),
    sa.Column('spatial', sa.JSON(), nullable=False),
    sa.Column('temporal_start', sa.String(length=32), nullable=True),
    sa.Column('temporal_end', sa.String(length=32), nullable=True),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('contact_email', sa.String(length=320), nullable=True),
    sa.Column('extras', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_data_dataset_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['agency.id'], name=op.f('fk_data_dataset_owner_id_agency'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_dataset')),
    sa.UniqueConstraint('name', name=op.f('uq_data_dataset_name'))
    )
    with op.batch_alter_table('data_dataset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_dataset_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_dataset_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_dataset_theme'), ['theme'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_dataset_visibility'), ['visibility'], unique=False)

    op.create_table('data_grant',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('dataset_id', sa.String(length=36), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resource_ids', sa.JSON(), nullable=True),
    sa.Column('expires_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_data_grant_agency_id_agency'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dataset_id'], ['data_dataset.id'], name=op.f('fk_data_grant_dataset_id_data_dataset'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by'], ['user_account.id'], name=op.f('fk_data_grant_decided_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by'], ['user_account.id'], name=op.f('fk_data_grant_requested_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_grant'))
    )
    with op.batch_alter_table('data_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_grant_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_grant_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index('ix_data_grant_lookup', ['dataset_id', 'agency_id', 'status'], unique=False)

    op.create_table('data_resource',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('dataset_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('format', sa.String(length=32), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('url_type', sa.String(length=16), nullable=True),
    sa.Column('current_version_id', sa.String(length=36), nullable=True),
    sa.Column('schema_overrides', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['data_dataset.id'], name=op.f('fk_data_resource_dataset_id_data_dataset'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_resource'))
    )
    with op.batch_alter_table('data_resource', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_resource_dataset_id'), ['dataset_id'], unique=False)

    op.create_table('data_resource_version',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('original_key', sa.String(length=1000), nullable=True),
    sa.Column('original_name', sa.String(length=300), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('format', sa.String(length=16), nullable=True),
    sa.Column('tables', sa.JSON(), nullable=False),
    sa.Column('encoding', sa.String(length=32), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('job_id', sa.String(length=32), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_data_resource_version_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resource_id'], ['data_resource.id'], name=op.f('fk_data_resource_version_resource_id_data_resource'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_resource_version')),
    sa.UniqueConstraint('resource_id', 'number', name='uq_data_resource_version_number')
    )
    with op.batch_alter_table('data_resource_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_resource_version_resource_id'), ['resource_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('data_resource_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_resource_version_resource_id'))

    op.drop_table('data_resource_version')
    with op.batch_alter_table('data_resource', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_resource_dataset_id'))

    op.drop_table('data_resource')
    with op.batch_alter_table('data_grant', schema=None) as batch_op:
        batch_op.drop_index('ix_data_grant_lookup')
        batch_op.drop_index(batch_op.f('ix_data_grant_dataset_id'))
        batch_op.drop_index(batch_op.f('ix_data_grant_agency_id'))

    op.drop_table('data_grant')
    with op.batch_alter_table('data_dataset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_dataset_visibility'))
        batch_op.drop_index(batch_op.f('ix_data_dataset_theme'))
        batch_op.drop_index(batch_op.f('ix_data_dataset_state'))
        batch_op.drop_index(batch_op.f('ix_data_dataset_owner_id'))

    op.drop_table('data_dataset')

