"""SOS presses counted per device and window in the database: one rate limit for every API process

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sos_press_count",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("presses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["client_device.id"]),
        sa.PrimaryKeyConstraint("device_id", "window_start"),
    )


def downgrade() -> None:
    op.drop_table("sos_press_count")
