"""An image's study details: an MR series' weighting, plane, description and sequence times, a
label map's convention (JSON, empty for images that need none).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("case_images", schema=None) as batch_op:
        batch_op.drop_column("details")
