"""Who is on call, and when the next handoff is: the rule of domain/oncall.py, pinned by exact
cases (boundaries, overlapping overrides, several rotations, a daylight-saving change)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.oncall import (
    Handoff,
    OnCall,
    Override,
    Rotation,
    Schedule,
    next_boundary,
    next_handoff,
    on_call_at,
    shift_member,
)

A, B, C, D = (UUID(int=n) for n in (1, 2, 3, 4))
ROT, ROT2 = UUID(int=100), UUID(int=101)
OV1, OV2 = UUID(int=200), UUID(int=201)
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
H = timedelta(hours=1)
MADE = datetime(2026, 3, 1, tzinfo=UTC)
MONTH = timedelta(days=30)  # the horizon a handoff is looked for in


def rotation(
    members: tuple[UUID, ...] = (A, B, C),
    shift: timedelta = 12 * H,
    first: datetime = T0,
    ident: UUID = ROT,
    created: datetime = MADE,
) -> Rotation:
    return Rotation(id=ident, members=members, shift=shift, first_handoff=first, created_at=created)


def override(
    staff: UUID, start: datetime, end: datetime, ident: UUID = OV1, created: datetime = MADE
) -> Override:
    return Override(id=ident, staff_id=staff, starts_at=start, ends_at=end, created_at=created)


def by_rotation(staff: UUID, ident: UUID = ROT) -> OnCall:
    return OnCall(staff_id=staff, source="rotation", by=ident)


def test_shifts_run_in_member_order_from_the_first_handoff_and_wrap() -> None:
    r = rotation()
    assert shift_member(r, T0 - timedelta(microseconds=1)) is None
    assert shift_member(r, T0) == A
    assert shift_member(r, T0 + 12 * H - timedelta(microseconds=1)) == A
    assert shift_member(r, T0 + 12 * H) == B
    assert shift_member(r, T0 + 24 * H) == C
    assert shift_member(r, T0 + 36 * H) == A
    assert shift_member(r, T0 + 47 * H) == A
    assert shift_member(r, T0 + 48 * H) == B


def test_the_rotation_puts_its_shift_member_on_call_and_nobody_before_it_starts() -> None:
    schedule = Schedule(rotations=(rotation(),))
    assert on_call_at(schedule, T0 - H) is None
    assert on_call_at(schedule, T0) == by_rotation(A)
    assert on_call_at(schedule, T0 + 13 * H) == by_rotation(B)
    assert on_call_at(Schedule(), T0) is None


def test_an_override_wins_while_it_runs_from_its_start_to_just_before_its_end() -> None:
    schedule = Schedule(rotations=(rotation(),), overrides=(override(D, T0 + H, T0 + 3 * H),))
    assert on_call_at(schedule, T0 + H - timedelta(microseconds=1)) == by_rotation(A)
    assert on_call_at(schedule, T0 + H) == OnCall(staff_id=D, source="override", by=OV1)
    assert on_call_at(schedule, T0 + 3 * H - timedelta(microseconds=1)) == OnCall(
        staff_id=D, source="override", by=OV1
    )
    assert on_call_at(schedule, T0 + 3 * H) == by_rotation(A)


def test_an_override_covers_even_without_a_rotation() -> None:
    schedule = Schedule(overrides=(override(D, T0, T0 + H),))
    assert on_call_at(schedule, T0) == OnCall(staff_id=D, source="override", by=OV1)
    assert on_call_at(schedule, T0 + H) is None


def test_of_overlapping_overrides_the_one_created_last_wins_whatever_the_order_given() -> None:
    older = override(C, T0, T0 + 10 * H, OV1, created=MADE)
    newer = override(D, T0 + 2 * H, T0 + 4 * H, OV2, created=MADE + H)
    for overrides in ((older, newer), (newer, older)):
        schedule = Schedule(rotations=(rotation(),), overrides=overrides)
        assert on_call_at(schedule, T0 + H).staff_id == C  # type: ignore[union-attr]
        assert on_call_at(schedule, T0 + 2 * H) == OnCall(staff_id=D, source="override", by=OV2)
        assert on_call_at(schedule, T0 + 4 * H) == OnCall(staff_id=C, source="override", by=OV1)


def test_of_overrides_made_at_the_same_instant_the_greater_id_wins() -> None:
    low = override(C, T0, T0 + H, OV1)
    high = override(D, T0, T0 + H, OV2)
    for overrides in ((low, high), (high, low)):
        found = on_call_at(Schedule(overrides=overrides), T0)
        assert found == OnCall(staff_id=D, source="override", by=OV2)


def test_of_started_rotations_the_one_created_last_governs() -> None:
    old = rotation(members=(A, B), ident=ROT, created=MADE)
    new = rotation(members=(C, D), first=T0 + 24 * H, ident=ROT2, created=MADE + H)
    schedule = Schedule(rotations=(new, old))
    assert on_call_at(schedule, T0 + 23 * H) == by_rotation(B)
    assert on_call_at(schedule, T0 + 24 * H) == by_rotation(C, ROT2)
    # Created earlier, started later: the newer one still governs once both run.
    late_old = rotation(members=(A, B), first=T0 + 48 * H, ident=ROT, created=MADE)
    schedule = Schedule(rotations=(late_old, new))
    assert on_call_at(schedule, T0 + 60 * H) == by_rotation(D, ROT2)


def test_next_boundary_is_the_earliest_shift_end_first_handoff_or_override_edge() -> None:
    r = rotation()
    assert next_boundary(Schedule(rotations=(r,)), T0 - H) == T0
    assert next_boundary(Schedule(rotations=(r,)), T0) == T0 + 12 * H
    assert next_boundary(Schedule(rotations=(r,)), T0 + 11 * H) == T0 + 12 * H
    assert next_boundary(Schedule(rotations=(r,)), T0 + 12 * H) == T0 + 24 * H
    with_override = Schedule(rotations=(r,), overrides=(override(D, T0 + 2 * H, T0 + 5 * H),))
    assert next_boundary(with_override, T0) == T0 + 2 * H
    assert next_boundary(with_override, T0 + 2 * H) == T0 + 5 * H
    assert next_boundary(with_override, T0 + 5 * H) == T0 + 12 * H
    assert next_boundary(Schedule(), T0) is None


def test_next_handoff_names_the_instant_and_who_comes_in_and_goes_out() -> None:
    schedule = Schedule(rotations=(rotation(),))
    assert next_handoff(schedule, T0 - H) == Handoff(at=T0, incoming=by_rotation(A), outgoing=None)
    assert next_handoff(schedule, T0) == Handoff(
        at=T0 + 12 * H, incoming=by_rotation(B), outgoing=by_rotation(A)
    )
    assert next_handoff(schedule, T0 + 12 * H) == Handoff(
        at=T0 + 24 * H, incoming=by_rotation(C), outgoing=by_rotation(B)
    )


def test_an_override_starting_and_ending_are_handoffs() -> None:
    schedule = Schedule(rotations=(rotation(),), overrides=(override(D, T0 + 2 * H, T0 + 5 * H),))
    into = next_handoff(schedule, T0)
    assert into == Handoff(
        at=T0 + 2 * H,
        incoming=OnCall(staff_id=D, source="override", by=OV1),
        outgoing=by_rotation(A),
    )
    back = next_handoff(schedule, T0 + 2 * H)
    assert back is not None and (back.at, back.incoming) == (T0 + 5 * H, by_rotation(A))


def test_a_boundary_that_keeps_the_same_person_is_no_handoff() -> None:
    # A covers by override across the shift change that brings A on by rotation anyway.
    schedule = Schedule(
        rotations=(rotation(members=(B, A)),), overrides=(override(A, T0 + 10 * H, T0 + 14 * H),)
    )
    found = next_handoff(schedule, T0 + 9 * H)
    assert found is not None
    assert (found.at, found.incoming) == (
        T0 + 10 * H,
        OnCall(staff_id=A, source="override", by=OV1),
    )
    # At 12 h the rotation hands to A (already on), at 14 h the override ends (A stays): the next
    # change is B's shift at 24 h.
    later = next_handoff(schedule, T0 + 10 * H)
    assert later is not None
    assert (later.at, later.incoming) == (T0 + 24 * H, by_rotation(B))


def test_a_one_member_rotation_never_hands_off_within_the_30_day_horizon() -> None:
    schedule = Schedule(rotations=(rotation(members=(A,)),))
    assert next_handoff(schedule, T0) is None
    # An override 30 days on, at the horizon's edge, is found; one beyond it is not.
    inside = override(B, T0 + timedelta(days=30), T0 + timedelta(days=30) + H)
    assert next_handoff(Schedule(schedule.rotations, (inside,)), T0) == Handoff(
        at=T0 + MONTH,
        incoming=OnCall(staff_id=B, source="override", by=OV1),
        outgoing=by_rotation(A),
    )
    beyond = override(B, T0 + MONTH + H, T0 + MONTH + 2 * H)
    assert next_handoff(Schedule(schedule.rotations, (beyond,)), T0) is None
    assert next_handoff(Schedule(schedule.rotations, (beyond,)), T0, MONTH + H) == (
        Handoff(
            at=T0 + MONTH + H,
            incoming=OnCall(staff_id=B, source="override", by=OV1),
            outgoing=by_rotation(A),
        )
    )


def test_twelve_hour_shifts_stay_twelve_elapsed_hours_across_the_autumn_dst_change() -> None:
    pacific = ZoneInfo("America/Los_Angeles")
    # 19:00 PDT on Oct 31, 2026; the clocks fall back at 02:00 on Nov 1.
    first = datetime(2026, 10, 31, 19, 0, tzinfo=pacific)
    schedule = Schedule(rotations=(rotation(first=first.astimezone(UTC)),))
    handoff = next_handoff(schedule, first.astimezone(UTC))
    assert handoff is not None
    assert handoff.at == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert handoff.at - first == 12 * H
    # 12 elapsed hours: the morning handoff is at 06:00 PST on the wall clock, not 07:00.
    assert handoff.at.astimezone(pacific).hour == 6
    assert on_call_at(schedule, datetime(2026, 11, 1, 6, 30, tzinfo=pacific)) == by_rotation(B)
    assert on_call_at(schedule, datetime(2026, 11, 1, 5, 59, tzinfo=pacific)) == by_rotation(A)


def test_across_the_spring_dst_change_the_handoff_moves_an_hour_later_on_the_wall() -> None:
    pacific = ZoneInfo("America/Los_Angeles")
    # 19:00 PST on Mar 7, 2026; the clocks spring forward at 02:00 on Mar 8.
    first = datetime(2026, 3, 7, 19, 0, tzinfo=pacific).astimezone(UTC)
    schedule = Schedule(rotations=(rotation(first=first),))
    handoff = next_handoff(schedule, first)
    assert handoff is not None
    assert handoff.at == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)
    assert handoff.at.astimezone(pacific).hour == 8
