"""Break-glass grants, expiring staff tokens, and the audit chain keyed (HMAC-SHA256)

- `break_glass_grant`: a supervisor of another program reading one incident until `expires_at`.
- `staff.token_expires_at` (tokens issued before this revision get 90 days from now) and
  `staff.last_used_at`.
- The audit chain is re-keyed: every event's hash becomes the HMAC-SHA256 under the audit key
  (`CRISISDESK_AUDIT_KEY`, or the development key under the data dir) of its predecessor's hash
  and its stored form. The old unkeyed chain is verified first: a chain already broken is not
  re-keyed (that would make its tampering pass), the upgrade stops naming the first bad event.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import domain.models.columns
from domain.audit import GENESIS_HASH, chain_hash, keyed_chain_hash

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_LIFETIME = timedelta(days=90)

_audit_event = sa.table(
    "audit_event",
    sa.column("id", sa.Uuid()),
    sa.column("program_id", sa.Uuid()),
    sa.column("seq", sa.Integer()),
    sa.column("event_key", sa.String()),
    sa.column("at", domain.models.columns.UTCDateTime(timezone=True)),
    sa.column("action", sa.String()),
    sa.column("actor_id", sa.String()),
    sa.column("actor_role", sa.String()),
    sa.column("incident_id", sa.Uuid()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_staff = sa.table(
    "staff",
    sa.column("token_expires_at", domain.models.columns.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "break_glass_grant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("granted_at", domain.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", domain.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["program.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("break_glass_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_break_glass_grant_incident_id"), ["incident_id"])
        batch_op.create_index(batch_op.f("ix_break_glass_grant_program_id"), ["program_id"])
        batch_op.create_index(batch_op.f("ix_break_glass_grant_staff_id"), ["staff_id"])

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "token_expires_at",
                domain.models.columns.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "last_used_at", domain.models.columns.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.execute(_staff.update().values(token_expires_at=datetime.now(UTC) + TOKEN_LIFETIME))
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.alter_column(
            "token_expires_at",
            existing_type=domain.models.columns.UTCDateTime(timezone=True),
            nullable=False,
        )
    _rekey_audit_chain()


def _rekey_audit_chain() -> None:
    bind = op.get_bind()
    events = bind.execute(
        sa.select(_audit_event).order_by(_audit_event.c.program_id, _audit_event.c.seq)
    ).all()
    if not events:
        return
    from infra.audit_log import audit_key_for  # only a database holding events needs the key
    from infra.settings import load_settings

    key = audit_key_for(load_settings())
    legacy_prev: dict[object, str] = {}
    keyed_prev: dict[object, str] = {}
    for event in events:
        fields = {
            "seq": event.seq,
            "event_key": event.event_key,
            "at": event.at,
            "action": event.action,
            "actor_id": event.actor_id,
            "actor_role": event.actor_role,
            "incident_id": event.incident_id,
            "detail": event.detail,
        }
        expected_prev = legacy_prev.get(event.program_id, GENESIS_HASH)
        if event.prev_hash != expected_prev or chain_hash(event.prev_hash, **fields) != event.hash:
            raise RuntimeError(
                f"audit event {event.id} (program {event.program_id}, seq {event.seq}) does not "
                "verify under the unkeyed chain: not re-keying a chain that was altered; "
                "investigate it (crisisdesk audit verify on the previous release) first"
            )
        legacy_prev[event.program_id] = event.hash
        prev = keyed_prev.get(event.program_id, GENESIS_HASH)
        keyed = keyed_chain_hash(key, prev, **fields)
        bind.execute(
            _audit_event.update()
            .where(_audit_event.c.id == event.id)
            .values(prev_hash=prev, hash=keyed)
        )
        keyed_prev[event.program_id] = keyed


def downgrade() -> None:
    # The keyed hashes stay: an unkeyed chain cannot be rebuilt without weakening it again.
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("token_expires_at")
    with op.batch_alter_table("break_glass_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_break_glass_grant_staff_id"))
        batch_op.drop_index(batch_op.f("ix_break_glass_grant_program_id"))
        batch_op.drop_index(batch_op.f("ix_break_glass_grant_incident_id"))
    op.drop_table("break_glass_grant")
