"""language: text classifiers and their versions

Revision ID: 0001_language
Revises:
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa
import cityai.core.db


revision = '0001_language'
down_revision = None
branch_labels = ('language',)
depends_on = '0001_core'


def upgrade() -> None:
    op.create_table('lang_classifier',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('published_version', sa.Integer(), nullable=True),
    sa.Column('published_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_lang_classifier_agency_id_agency'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_lang_classifier_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['published_by'], ['user_account.id'], name=op.f('fk_lang_classifier_published_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lang_classifier')),
    sa.UniqueConstraint('agency_id', 'name', name='uq_lang_classifier_agency_name')
    )
    with op.batch_alter_table('lang_classifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lang_classifier_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lang_classifier_name'), ['name'], unique=False)

    op.create_table('lang_classifier_version',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('classifier_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('algorithm', sa.String(length=32), nullable=True),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('source', sa.JSON(), nullable=False),
    sa.Column('trained_on', sa.Integer(), nullable=False),
    sa.Column('data_key', sa.String(length=1000), nullable=True),
    sa.Column('model_key', sa.String(length=1000), nullable=True),
    sa.Column('job_id', sa.String(length=32), nullable=True),
    sa.Column('auto_publish', sa.Boolean(), nullable=False),
    sa.Column('trained_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['classifier_id'], ['lang_classifier.id'], name=op.f('fk_lang_classifier_version_classifier_id_lang_classifier'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trained_by'], ['user_account.id'], name=op.f('fk_lang_classifier_version_trained_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lang_classifier_version')),
    sa.UniqueConstraint('classifier_id', 'version', name='uq_lang_classifier_version')
    )
    with op.batch_alter_table('lang_classifier_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lang_classifier_version_classifier_id'), ['classifier_id'], unique=False)


def downgrade() -> None:
    op.drop_table('lang_classifier_version')
    op.drop_table('lang_classifier')
