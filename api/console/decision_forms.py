"""Decision forms, made from the decision registry: each kind's body (domain/decisions/) says its
fields, and this module turns them into form fields and a posted form back into the same body
the JSON API parses. A new decision kind gets its form with no console change.

Ids are chosen, never typed: an owner from the program's clinicians and supervisors, a contact
from the client's contacts, a dispatch from the incident's dispatches, a resource from the
directory (`Choices`)."""

from __future__ import annotations

import re
import types
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from starlette.datastructures import FormData

from domain.decisions import DECISIONS, Decision
from domain.vocabulary import DecisionKind

_DECISION = TypeAdapter(Decision)
# Fields the console leaves to the server: the time a loss of contact was noticed is now.
_LEFT_TO_SERVER = {"kind", "lost_at", "accuracy_m"}
_LONG_TEXT = 300
_NAMED = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.DOTALL)


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass
class Choices:
    """What an id field may name, by field name, for this incident and this program."""

    by_field: dict[str, list[Option]] = field(default_factory=dict)


@dataclass(frozen=True)
class FormField:
    name: str  # the form's name: `safety_plan.warning_signs` for a nested field
    label: str
    widget: Literal[
        "text", "textarea", "lines", "select", "checkbox", "checkboxes", "number", "decimal"
    ]
    required: bool
    options: tuple[Option, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    help: str = ""


@dataclass(frozen=True)
class FieldGroup:
    name: str
    label: str
    fields: tuple[FormField, ...]
    required: bool


FormPart = FormField | FieldGroup


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `None` and `Annotated`, and whether None was allowed."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation, optional
        else:
            return annotation, optional


def _constraint(info: FieldInfo, name: str) -> Any:
    for item in info.metadata:
        if hasattr(item, name):
            return getattr(item, name)
    return None


def _options(annotation: Any) -> tuple[Option, ...] | None:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(Option(str(m.value), str(m.value).replace("_", " ")) for m in annotation)
    if get_origin(annotation) is Literal:
        values = [getattr(v, "value", v) for v in get_args(annotation)]
        return tuple(Option(str(v), str(v).replace("_", " ")) for v in values)
    return None


def _field(name: str, info: FieldInfo, choices: Choices, prefix: str = "") -> FormPart | None:
    if name in _LEFT_TO_SERVER:
        return None
    annotation, optional = _unwrap(info.annotation)
    required = info.is_required() and not optional
    full = f"{prefix}{name}"
    label = _label(name)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        parts = [_field(n, i, choices, f"{full}.") for n, i in annotation.model_fields.items()]
        nested = tuple(p for p in parts if isinstance(p, FormField))
        return FieldGroup(name=full, label=label, fields=nested, required=required)
    options = _options(annotation)
    if options is not None:
        return FormField(full, label, "select", required, options)
    if annotation is bool:
        return FormField(full, label, "checkbox", False)
    if annotation in (int, float):
        low, high = _constraint(info, "ge"), _constraint(info, "le")
        widget: Literal["number", "decimal"] = "number" if annotation is int else "decimal"
        return FormField(full, label, widget, required, minimum=low, maximum=high)
    if annotation is uuid.UUID:
        return FormField(full, label, "select", required, tuple(choices.by_field.get(name, [])))
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        item, _ = _unwrap(item)
        if item is uuid.UUID:
            return FormField(
                full, label, "checkboxes", required, tuple(choices.by_field.get(name, []))
            )
        return FormField(full, label, "lines", required, help="one per line")
    if annotation is datetime:
        return None
    longest = _constraint(info, "max_length")
    text: Literal["text", "textarea"] = (
        "textarea" if longest is None or longest > _LONG_TEXT else "text"
    )
    return FormField(full, label, text, required, max_length=longest)


def form_for(kind: DecisionKind, choices: Choices) -> list[FormPart]:
    """The form of a decision kind, from its body in the registry."""
    body = DECISIONS[kind].body
    parts = [_field(name, info, choices) for name, info in body.model_fields.items()]
    return [p for p in parts if p is not None]


def _value(form_field: FormField, form: FormData) -> Any:
    if form_field.widget == "checkbox":
        return form.get(form_field.name) is not None
    if form_field.widget == "checkboxes":
        return [v for v in form.getlist(form_field.name) if isinstance(v, str) and v]
    raw = form.get(form_field.name)
    text = raw.strip() if isinstance(raw, str) else ""
    if form_field.widget == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()] or None
    if text and form_field.widget in ("number", "decimal"):
        return _number(text, int if form_field.widget == "number" else float)
    return text or None


def _number(text: str, kind: type[int] | type[float]) -> int | float | str:
    """A number field as the number it holds; what is not one is passed on as typed, and the
    body's own rule refuses it naming the field."""
    try:
        return kind(text)
    except ValueError:
        return text


def decision_from_form(kind: DecisionKind, form: FormData, choices: Choices) -> Any:
    """The posted form as the JSON body of `kind`, parsed as the JSON API parses it (raises
    pydantic's ValidationError naming the fields)."""
    body: dict[str, Any] = {"kind": kind.value}
    for part in form_for(kind, choices):
        if isinstance(part, FieldGroup):
            nested = {f.name.split(".")[-1]: _value(f, form) for f in part.fields}
            given = {k: v for k, v in nested.items() if v not in (None, False, [])}
            if given:
                body[part.name] = {k: v for k, v in nested.items() if v is not None}
            continue
        value = _value(part, form)
        if value is not None and value != []:
            body[part.name] = value
    return _DECISION.validate_python(body)


def field_errors(error: ValidationError) -> dict[str, str]:
    """Each refused field (dotted, as the form names it) with a message a clinician reads."""
    found: dict[str, str] = {}
    for item in error.errors():
        location = [str(p) for p in item["loc"] if not isinstance(p, int)]
        # The union's own step (the kind's tag) is not a field the clinician filled.
        tags = {k.value for k in DecisionKind}
        location = location[1:] if location and location[0] in tags else location
        message = str(item["msg"]).removeprefix("Value error, ")
        named = _NAMED.match(message)  # a rule across fields names the one it refuses
        if named and not location:
            location, message = [named.group(1)], named.group(2)
        found.setdefault(".".join(location) or "form", message)
    return found
