"""Every decision kind's console form, made from the registry, records its kind: filled in as a
clinician fills it (each field from what the form offers), it parses into the same body the JSON
API takes, numbers as numbers; what is wrong is named by its field."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.console.decision_forms import (
    Choices,
    FieldGroup,
    FormField,
    Option,
    decision_from_form,
    field_errors,
    form_for,
)
from domain.decisions import DECISIONS
from domain.vocabulary import DecisionKind

ID = str(uuid.uuid4())
CHOICES = Choices(
    by_field={
        name: [Option(ID, "the one on offer")]
        for name in ("owner_id", "resource_id", "contact_id", "contact_ids", "dispatch_id")
    }
)
# What a clinician types where the form asks for text; numbers within the field's bounds.
TYPED = "Client calmer after grounding; plan reviewed"


def filled(form_field: FormField) -> list[tuple[str, str]]:
    if form_field.widget in ("select", "checkboxes"):
        return [(form_field.name, form_field.options[-1].value)]
    if form_field.widget == "checkbox":
        return []
    if form_field.widget in ("number", "decimal"):
        return [(form_field.name, str(form_field.minimum if form_field.minimum is not None else 1))]
    return [(form_field.name, TYPED)]


def as_clinician_fills(kind: DecisionKind) -> FormData:
    items: list[tuple[str, str]] = []
    for part in form_for(kind, CHOICES):
        fields = part.fields if isinstance(part, FieldGroup) else (part,)
        if isinstance(part, FieldGroup) and not part.required:
            continue
        for form_field in fields:
            items += filled(form_field)
    return FormData(items)


@pytest.mark.parametrize("kind", [k for k in DecisionKind if k is not DecisionKind.ASSESSMENT])
def test_each_kinds_form_records_its_kind(kind: DecisionKind) -> None:
    decision = decision_from_form(kind, as_clinician_fills(kind), CHOICES)
    assert isinstance(decision, DECISIONS[kind].body)
    assert decision.kind == kind


def test_numbers_are_sent_as_numbers() -> None:
    update = decision_from_form(
        DecisionKind.DISPATCH_UPDATE,
        FormData(
            [("dispatch_id", ID), ("status", "en_route"), ("eta_minutes", "8"), ("destination", "")]
        ),
        CHOICES,
    )
    assert update.eta_minutes == 8
    dispatch = decision_from_form(
        DecisionKind.DISPATCH,
        FormData(
            [
                ("service", "911"),
                ("reason", "Not breathing normally"),
                ("location.lat", "45.5231"),
                ("location.lon", "-122.6765"),
            ]
        ),
        CHOICES,
    )
    assert dispatch.location is not None
    assert (dispatch.location.lat, dispatch.location.lon) == (45.5231, -122.6765)


def test_what_is_wrong_is_named_by_its_field() -> None:
    with pytest.raises(ValidationError) as wrong:
        decision_from_form(
            DecisionKind.DISPATCH_UPDATE,
            FormData([("dispatch_id", ID), ("status", "en_route"), ("eta_minutes", "soon")]),
            CHOICES,
        )
    assert set(field_errors(wrong.value)) == {"eta_minutes"}
    with pytest.raises(ValidationError) as half:
        decision_from_form(
            DecisionKind.DISPATCH,
            FormData([("service", "911"), ("reason", "Unresponsive"), ("location.lat", "45.5")]),
            CHOICES,
        )
    assert "location" in " ".join(field_errors(half.value))
    with pytest.raises(ValidationError) as missing:
        decision_from_form(DecisionKind.NOTE, FormData([]), CHOICES)
    assert set(field_errors(missing.value)) == {"text"}


def test_a_safety_plan_is_written_one_item_per_line() -> None:
    sections = [p for p in form_for(DecisionKind.DISPOSITION, CHOICES) if isinstance(p, FieldGroup)]
    assert [s.name for s in sections] == ["safety_plan"]
    plan = [(f.name, "Call my sister\nWalk the dog") for f in sections[0].fields]
    disposition = decision_from_form(
        DecisionKind.DISPOSITION,
        FormData([("outcome", "remained_home_with_safety_plan"), *plan]),
        CHOICES,
    )
    assert disposition.safety_plan is not None
    assert disposition.safety_plan.warning_signs == ["Call my sister", "Walk the dog"]
