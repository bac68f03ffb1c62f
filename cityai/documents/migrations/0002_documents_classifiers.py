"""documents classifiers and labels

Revision ID: 0002_documents
Revises: 0001_documents
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import cityai.core.db


revision = '0002_documents'
down_revision = '0001_documents'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('doc_classifier',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('algorithm', sa.String(length=32), nullable=True),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('model_key', sa.String(length=1000), nullable=True),
    sa.Column('data_key', sa.String(length=1000), nullable=True),
    sa.Column('job_id', sa.String(length=32), nullable=True),
    sa.Column('trained_on', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_doc_classifier_agency_id_agency'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_doc_classifier_created_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doc_classifier')),
    sa.UniqueConstraint('agency_id', 'name', 'version', name='uq_doc_classifier_version')
    )
    with op.batch_alter_table('doc_classifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doc_classifier_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_doc_classifier_name'), ['name'], unique=False)

    op.create_table('doc_label',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('classifier', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('labelled_by', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['doc_document.id'], name=op.f('fk_doc_label_document_id_doc_document'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['labelled_by'], ['user_account.id'], name=op.f('fk_doc_label_labelled_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doc_label')),
    sa.UniqueConstraint('document_id', 'classifier', name='uq_doc_label_document_classifier')
    )
    with op.batch_alter_table('doc_label', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doc_label_classifier'), ['classifier'], unique=False)
        batch_op.create_index(batch_op.f('ix_doc_label_document_id'), ['document_id'], unique=False)


def downgrade() -> None:
    op.drop_table('doc_label')
    op.drop_table('doc_classifier')
