"""Constrained strings shared by the record shapes (SQLModel's `regex=` is not enforced), and
the rule every shape a caller sends keeps: no NUL characters."""

from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints, field_validator

Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{7,14}$")]  # E.164
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
ZipCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]


class NulFreeText(BaseModel, extra="forbid"):
    """A shape callers send: none of its text holds a NUL character. PostgreSQL's text cannot
    store one (a write would fail, or an activity retry forever) and no name or note needs one.
    An unknown field is refused (422), not silently dropped (SPEC 10.2)."""

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
