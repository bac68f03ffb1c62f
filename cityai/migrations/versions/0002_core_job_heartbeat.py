"""job heartbeat: a running job's worker touches it, so jobs of a dead worker can be found

Revision ID: 0002_core
Revises: 0001_core
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
import cityai.core.db


revision = '0002_core'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', cityai.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
