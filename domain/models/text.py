"""Constrained strings shared by the record shapes (SQLModel's `regex=` is not enforced)."""

from typing import Annotated

from pydantic import StringConstraints

Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{7,14}$")]  # E.164
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
ZipCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
