"""language: search indexes

Revision ID: 0002_language
Revises: 0001_language
Create Date: 2026-12-12
"""
from alembic import op
import sqlalchemy as sa
import cityai.core.db


revision = '0002_language'
down_revision = '0001_language'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lang_search_index',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('doc_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_lang_search_index_agency_id_agency'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_lang_search_index_created_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lang_search_index')),
    sa.UniqueConstraint('agency_id', 'name', name='uq_lang_search_index_agency_name')
    )
    with op.batch_alter_table('lang_search_index', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lang_search_index_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lang_search_index_name'), ['name'], unique=False)


def downgrade() -> None:
    op.drop_table('lang_search_index')
