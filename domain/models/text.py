"""Constrained strings shared by the record shapes (SQLModel's `regex=` is not enforced), and
the rule every shape a caller sends keeps: no NUL characters."""

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    GetJsonSchemaHandler,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from domain.models.json_types import lax_coercions, state_nul_free_text

Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{7,14}$")]  # E.164
# No space or control character, spelled out: `\s` differs between Python, ECMA-262 and Rust.
_NOT_IN_EMAIL = r"@\u0000-\u0020\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
Email = Annotated[
    str,
    StringConstraints(pattern=rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+\.[^{_NOT_IN_EMAIL}]+$"),
]
ZipCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]


class NulFreeText(BaseModel, extra="forbid"):
    """A shape callers send: none of its text holds a NUL character. PostgreSQL's text cannot
    store one (a write would fail, or an activity retry forever) and no name or note needs one.
    An unknown field is refused (422), not silently dropped (SPEC 10.2). Its JSON is taken as
    the OpenAPI document types it (`json_types`), and the document states the NUL rule."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Here, not in `json_schema_extra`, which stays free for a shape's own rules.
        schema = handler(core_schema)
        state_nul_free_text(handler.resolve_ref_schema(schema))
        return schema

    @model_validator(mode="before")
    @classmethod
    def _json_types_as_documented(cls, data: Any) -> Any:
        for problem in lax_coercions(cls.model_fields, data):
            raise ValueError(problem)
        return data

    @field_validator("*")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return value


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    return False
