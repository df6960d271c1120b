"""client devices for the SOS button; staff phone and email for pages

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import domain.models.columns

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "client_device",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", domain.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", domain.models.columns.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["program.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("client_device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_device_client_id"), ["client_id"])
        batch_op.create_index(batch_op.f("ix_client_device_program_id"), ["program_id"])
        batch_op.create_index(
            batch_op.f("ix_client_device_token_hash"), ["token_hash"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("client_device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_device_token_hash"))
        batch_op.drop_index(batch_op.f("ix_client_device_program_id"))
        batch_op.drop_index(batch_op.f("ix_client_device_client_id"))
    op.drop_table("client_device")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("email")
        batch_op.drop_column("phone")
