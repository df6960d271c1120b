"""SOS presses the workflow engine could not take, kept until the drain opens them

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import domain.models.columns

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sos_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("joins", sa.Boolean(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("location", sa.JSON(), nullable=True),
        sa.Column("pressed_at", domain.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", domain.models.columns.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("opened_at", domain.models.columns.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["device_id"], ["client_device.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["program.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sos_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sos_outbox_client_id"), ["client_id"])
        batch_op.create_index(batch_op.f("ix_sos_outbox_incident_id"), ["incident_id"])
        batch_op.create_index(batch_op.f("ix_sos_outbox_opened_at"), ["opened_at"])


def downgrade() -> None:
    with op.batch_alter_table("sos_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sos_outbox_opened_at"))
        batch_op.drop_index(batch_op.f("ix_sos_outbox_incident_id"))
        batch_op.drop_index(batch_op.f("ix_sos_outbox_client_id"))
    op.drop_table("sos_outbox")
