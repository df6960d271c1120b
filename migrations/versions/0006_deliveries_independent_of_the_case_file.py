"""Deliveries and follow-up tasks no longer need the incident's case-file row

A page, a contact message or a follow-up task is written by its own effect; when the incident's
own row is refused (a data error in the projection), they must still be recorded and sent. The
foreign keys from notification.incident_id and followup_task.incident_id to incident.id go
(the ids stay indexed).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("notification", "followup_task")
# SQLite's foreign keys have no names: batch mode finds them by this convention.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.drop_constraint(f"{table}_incident_id_fkey", table, type_="foreignkey")
        else:
            with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
                batch_op.drop_constraint(f"fk_{table}_incident_id_incident", type_="foreignkey")


def downgrade() -> None:
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.create_foreign_key(
                f"{table}_incident_id_fkey", table, "incident", ["incident_id"], ["id"]
            )
        else:
            with op.batch_alter_table(table) as batch_op:
                batch_op.create_foreign_key(
                    f"fk_{table}_incident_id_incident", "incident", ["incident_id"], ["id"]
                )
