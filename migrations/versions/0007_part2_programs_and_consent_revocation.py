"""Part 2 programs; consents that can be revoked, by whom and why

A program can be a 42 CFR Part 2 program (`program.part2_program`, false for every program that
exists). A consent's revocation records who revoked it and why, beside `revoked_at`.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's foreign keys have no names: batch mode finds them by this convention.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("program", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("part2_program", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("consent", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column("revoked_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("revocation_reason", sa.String(length=2000), nullable=True))
        batch_op.create_foreign_key("fk_consent_revoked_by_staff", "staff", ["revoked_by"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("consent", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint("fk_consent_revoked_by_staff", type_="foreignkey")
        batch_op.drop_column("revocation_reason")
        batch_op.drop_column("revoked_by")
    with op.batch_alter_table("program", schema=None) as batch_op:
        batch_op.drop_column("part2_program")
