"""Console sessions: a staff token exchanged for a browser session cookie (SPEC 10.3)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import domain.models.columns

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cookie_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", domain.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", domain.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", domain.models.columns.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_console_session_cookie_hash", "console_session", ["cookie_hash"], unique=True
    )
    op.create_index("ix_console_session_staff_id", "console_session", ["staff_id"])


def downgrade() -> None:
    op.drop_table("console_session")
