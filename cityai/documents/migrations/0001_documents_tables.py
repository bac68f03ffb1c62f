"""documents tables

Revision ID: 0001_documents
Revises:
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
import cityai.core.db


revision = '0001_documents'
down_revision = None
branch_labels = ('documents',)
depends_on = '0001_core'


def upgrade() -> None:
    op.create_table('doc_document',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('batch_id', sa.String(length=36), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('original_key', sa.String(length=1000), nullable=True),
    sa.Column('pdf_key', sa.String(length=1000), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('job_id', sa.String(length=32), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('text_folded', sa.Text(), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('corrected', sa.JSON(), nullable=False),
    sa.Column('doc_type', sa.String(length=100), nullable=True),
    sa.Column('doc_type_code', sa.String(length=16), nullable=True),
    sa.Column('number', sa.String(length=32), nullable=True),
    sa.Column('symbol', sa.String(length=100), nullable=True),
    sa.Column('issuer', sa.String(length=500), nullable=True),
    sa.Column('issued_date', sa.Date(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_doc_document_agency_id_agency'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['user_account.id'], name=op.f('fk_doc_document_uploaded_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doc_document'))
    )
    with op.batch_alter_table('doc_document', schema=None) as batch_op:
        for col in ('agency_id', 'batch_id', 'sha256', 'status', 'doc_type', 'doc_type_code', 'symbol', 'issuer',
                    'issued_date', 'created_at'):
            batch_op.create_index(batch_op.f(f'ix_doc_document_{col}'), [col], unique=False)

    op.create_table('doc_page',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('rotation', sa.Float(), nullable=True),
    sa.Column('skew', sa.Float(), nullable=True),
    sa.Column('blank', sa.Boolean(), nullable=False),
    sa.Column('image_key', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['doc_document.id'], name=op.f('fk_doc_page_document_id_doc_document'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doc_page')),
    sa.UniqueConstraint('document_id', 'number', name='uq_doc_page_number')
    )
    with op.batch_alter_table('doc_page', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doc_page_document_id'), ['document_id'], unique=False)

    op.create_table('doc_correction',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('field', sa.String(length=100), nullable=False),
    sa.Column('old_value', sa.JSON(), nullable=True),
    sa.Column('new_value', sa.JSON(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', cityai.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['doc_document.id'], name=op.f('fk_doc_correction_document_id_doc_document'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_doc_correction_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doc_correction'))
    )
    with op.batch_alter_table('doc_correction', schema=None) as batch_op:
        batch_op.create_index('ix_doc_correction_doc', ['document_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('doc_correction')
    op.drop_table('doc_page')
    op.drop_table('doc_document')
