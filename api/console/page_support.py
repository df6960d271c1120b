"""What the task, supervision and admin pages share: a route's refusal shown in the page (its
problem detail, never a 500), a form read into the same model the JSON route validates, and the
names of the staff a page mentions."""

from __future__ import annotations

import types
import uuid
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import FormData

from api.console.session import PageNotFoundError
from api.problems import Problem
from domain.models import Staff

_Value = TypeVar("_Value")
_Model = TypeVar("_Model", bound=BaseModel)

# Fields of a console form that are not the record's own.
_FORM_ONLY = frozenset({"csrf_token"})


@dataclass(frozen=True)
class Attempt(Generic[_Value]):
    """What a route answered, or why it refused (each message is shown in a `.problem` box)."""

    value: _Value | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.problems)


async def attempt(call: Awaitable[_Value]) -> Attempt[_Value]:
    """Run a route function; its problem becomes the page's message instead of an error page."""
    try:
        return Attempt(value=await call)
    except Problem as problem:
        return Attempt(problems=problem_messages(problem))


def problem_messages(problem: Problem) -> list[str]:
    errors = problem.extra.get("errors")
    if isinstance(errors, list) and len(errors) > 1:
        return [f"{e['field']}: {e['message']}" for e in errors]
    return [problem.detail]


async def found_or_missing(call: Awaitable[_Value]) -> _Value:
    """A read for a page: a record that is not there (or not the caller's) is the console's 404."""
    try:
        return await call
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFoundError from None
        raise


def read_form(
    model: type[_Model],
    form: FormData,
    *,
    lists: Iterable[str] = (),
    flags: Iterable[str] = (),
    skip: Iterable[str] = (),
    extra: dict[str, Any] | None = None,
) -> _Model | list[str]:
    """A form as the model the JSON route takes, or the messages saying what is wrong. Blank
    fields are left out (the model's default applies); `lists` are repeated fields (checkboxes
    of one name); `flags` are checkboxes, true when sent; `skip` are the form's own fields that
    the page turned into `extra` ones."""
    left_out = _FORM_ONLY | set(skip)
    data: dict[str, Any] = {
        name: value.strip()
        for name, value in form.items()
        if name not in left_out and isinstance(value, str) and value.strip()
    }
    data = {name: _typed(model, name, value) for name, value in data.items()}
    for name in lists:
        data[name] = [v for v in form.getlist(name) if isinstance(v, str) and v]
    for name in flags:
        data[name] = name in form
    data.update({k: v for k, v in (extra or {}).items() if v is not None})
    try:
        return model.model_validate(data)
    except ValidationError as error:
        return [validation_message(e) for e in error.errors()]


def _typed(model: type[BaseModel], name: str, value: str) -> Any:
    """A form sends text; a field the model takes as a number gets one (text that is not a
    number is left for the model to refuse, naming the field)."""
    field_info = model.model_fields.get(name)
    kinds = _plain_types(field_info.annotation) if field_info else set()
    try:
        if kinds - {type(None)} == {int}:
            return int(value)
        if kinds - {type(None)} <= {int, float} and kinds - {type(None)}:
            return float(value)
    except ValueError:
        return value
    return value


def _plain_types(annotation: Any) -> set[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _plain_types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return {kind for member in get_args(annotation) for kind in _plain_types(member)}
    return {annotation}


def validation_message(error: Any) -> str:
    """One validation error as a person reads it: the field, then what is wrong with it."""
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    named, sep, _ = message.partition(": ")
    if sep and " " not in named:  # a rule that names its own field says so first
        return message
    return f"{where}: {message}" if where else message


async def staff_names(
    session: AsyncSession, program_id: uuid.UUID, ids: Iterable[object]
) -> dict[str, str]:
    """Names of the program's staff among `ids` (any id that is not one is left out)."""
    wanted: set[uuid.UUID] = set()
    for value in ids:
        try:
            wanted.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = await session.exec(
        select(Staff.id, Staff.name)
        .where(col(Staff.program_id) == program_id)
        .where(col(Staff.id).in_(wanted))
    )
    return {str(staff_id): name for staff_id, name in rows.all()}
