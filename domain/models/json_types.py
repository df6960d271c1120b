"""A caller's JSON is taken as the OpenAPI document types it, not as pydantic's lax mode would
read it: `0` is not `false`, `"1.5"` and `true` are not numbers, and a date-time is RFC 3339
text with its zone, never a bare number (`0.5` is not a Unix time). Also what the document says
of the NUL-free rule: a pattern on every string a caller sends."""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AwareDatetime, BeforeValidator, NaiveDatetime
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# ECMA-262 and Python read `\u0000` alike; a string schema that has its own pattern keeps it.
NUL_FREE_PATTERN = r"^[^\u0000]*$"
_DATETIME_TYPES = (datetime, AwareDatetime, NaiveDatetime)
DATETIME_FORMAT = "must be a date-time with its zone (RFC 3339), like 2026-01-31T22:00:00Z"


def lax_coercions(fields: dict[str, FieldInfo], data: Any) -> Iterator[str]:
    """`name: what it must be` for each value in `data` (a model's input) that is not the JSON
    type its field's schema states."""
    if not isinstance(data, dict):
        return
    for name, field in fields.items():
        key = field.alias if field.alias is not None and field.alias in data else name
        if key in data and (problem := _lax_coercion(field.annotation, data[key])) is not None:
            yield f"{key}: {problem}"


def _lax_coercion(annotation: Any, value: Any) -> str | None:
    kinds = _plain_types(annotation) - {type(None)}
    if value is None or not kinds:
        return None
    if kinds == {bool} and not isinstance(value, bool):
        return "must be true or false"
    if kinds <= {int, float} and (isinstance(value, bool) or not isinstance(value, int | float)):
        return "must be a number"
    if kinds <= set(_DATETIME_TYPES) and not isinstance(value, datetime | str):
        return DATETIME_FORMAT
    if kinds <= set(_DATETIME_TYPES) and isinstance(value, str) and not RFC3339.match(value):
        return DATETIME_FORMAT
    return None


def require_rfc3339(value: Any) -> Any:
    """A date-time as text with its zone (RFC 3339); pydantic alone takes `0.5` as a time."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.match(value):
        raise PydanticCustomError("datetime_format", DATETIME_FORMAT)
    return value


# A date-time query parameter (`?due_before=`): documented `format: date-time`, held to it.
DateTimeQuery = Annotated[AwareDatetime, BeforeValidator(require_rfc3339)]


def state_nul_free_text(schema: dict[str, Any]) -> None:
    """Add the NUL-free pattern to each string property of a model's JSON schema (in place)."""
    for field in schema.get("properties", {}).values():
        _add_pattern(field)


def _add_pattern(node: Any) -> None:
    if not isinstance(node, dict):
        return
    if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & node.keys():
        node["pattern"] = NUL_FREE_PATTERN
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(key, []):
            _add_pattern(branch)
    _add_pattern(node.get("items"))
    _add_pattern(node.get("additionalProperties"))


def _plain_types(annotation: Any) -> set[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _plain_types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return {kind for member in get_args(annotation) for kind in _plain_types(member)}
    return {annotation}


def coordinates_or(*places: str) -> Callable[[dict[str, Any]], None]:
    """A model's JSON-schema hook stating its `lat`/`lon` rule as `oneOf`: both coordinates, or
    neither and (when `places` are named) at least one of those (an address, a zip code)."""
    absent = {"lat": {"type": "null"}, "lon": {"type": "null"}}
    without: dict[str, Any] = {"properties": absent}
    if places:
        without["anyOf"] = [
            {"required": [place], "properties": {place: {"type": "string"}}} for place in places
        ]

    def state(schema: dict[str, Any]) -> None:
        schema["oneOf"] = [
            {
                "required": ["lat", "lon"],
                "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
            },
            without,
        ]

    return state
