"""Who is on call (SPEC 10.4): the rule over a program's rotations and overrides, with no I/O.

- A rotation hands the role from member to member every `shift`, counted from `first_handoff`:
  shift k runs [first_handoff + k*shift, first_handoff + (k+1)*shift) and belongs to
  members[k mod len(members)]. Before its first handoff a rotation covers nobody.
- Shifts are absolute elapsed time, not wall-clock: a 12 h shift is 12 real hours even on the
  night the clocks change, so nobody covers 11 or 13 hours, and no handoff falls on a local time
  that does not exist or happens twice. The cost: across a DST change the handoff moves by an
  hour on the wall clock (07:00 becomes 06:00 in autumn, 08:00 in spring). The rotation's time
  zone is where its people read the handoffs (the API shows them in it); it moves no instant.
- Several rotations of one role: the one created last among those already started governs (a
  new rotation replaces the schedule from its first handoff on).
- An override covers [starts_at, ends_at) and wins over the rotation while it runs; of several
  overlapping, the one created last wins.
- Nobody on the schedule (no rotation started, no override running): the caller falls back to
  the staff `on_call` flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

# How far ahead a handoff is looked for; past it the caller asks again (a one-member rotation
# never hands off).
HANDOFF_HORIZON = timedelta(days=30)


@dataclass(frozen=True)
class Rotation:
    id: UUID
    members: tuple[UUID, ...]
    shift: timedelta
    first_handoff: datetime
    created_at: datetime


@dataclass(frozen=True)
class Override:
    id: UUID
    staff_id: UUID
    starts_at: datetime
    ends_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class Schedule:
    """One role's rotations and overrides in one program."""

    rotations: tuple[Rotation, ...] = ()
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class OnCall:
    staff_id: UUID
    source: Literal["rotation", "override"]
    # The rotation or the override that puts them on call.
    by: UUID


@dataclass(frozen=True)
class Handoff:
    at: datetime
    incoming: OnCall | None
    outgoing: OnCall | None


def shift_member(rotation: Rotation, at: datetime) -> UUID | None:
    """The member whose shift runs at `at`; None before the first handoff."""
    if at < rotation.first_handoff:
        return None
    shift = (at - rotation.first_handoff) // rotation.shift
    return rotation.members[shift % len(rotation.members)]


def on_call_at(schedule: Schedule, at: datetime) -> OnCall | None:
    """Who the schedule puts on call at `at` (boundaries belong to what starts there)."""
    running = [o for o in schedule.overrides if o.starts_at <= at < o.ends_at]
    if running:
        override = max(running, key=lambda o: (o.created_at, str(o.id)))
        return OnCall(staff_id=override.staff_id, source="override", by=override.id)
    started = [r for r in schedule.rotations if r.first_handoff <= at]
    if not started:
        return None
    rotation = max(started, key=lambda r: (r.created_at, str(r.id)))
    member = shift_member(rotation, at)
    assert member is not None  # the rotation has started
    return OnCall(staff_id=member, source="rotation", by=rotation.id)


def next_boundary(schedule: Schedule, after: datetime) -> datetime | None:
    """The first instant after `after` at which the schedule may change hands: a shift
    boundary, a first handoff, an override's start or end."""
    candidates = [t for o in schedule.overrides for t in (o.starts_at, o.ends_at) if t > after]
    for rotation in schedule.rotations:
        if rotation.first_handoff > after:
            candidates.append(rotation.first_handoff)
        else:
            shifts = (after - rotation.first_handoff) // rotation.shift + 1
            candidates.append(rotation.first_handoff + shifts * rotation.shift)
    return min(candidates, default=None)


def next_handoff(
    schedule: Schedule, after: datetime, horizon: timedelta = HANDOFF_HORIZON
) -> Handoff | None:
    """The first instant after `after`, within the horizon, at which the person on call changes;
    None when nobody changes within it."""
    outgoing = on_call_at(schedule, after)
    at = after
    while True:  # boundaries only move forward, and the horizon ends them
        boundary = next_boundary(schedule, at)
        if boundary is None or boundary > after + horizon:
            return None
        incoming = on_call_at(schedule, boundary)
        if _person(incoming) != _person(outgoing):
            return Handoff(at=boundary, incoming=incoming, outgoing=outgoing)
        at = boundary


def _person(on_call: OnCall | None) -> UUID | None:
    return on_call.staff_id if on_call is not None else None
