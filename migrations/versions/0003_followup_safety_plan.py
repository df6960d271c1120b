"""follow-up tasks carry the disposition's safety plan

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("followup_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("safety_plan", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("followup_task", schema=None) as batch_op:
        batch_op.drop_column("safety_plan")
