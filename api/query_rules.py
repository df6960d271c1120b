"""Query-string rules that FastAPI's per-parameter documentation cannot state, stated in the
OpenAPI document and enforced alike: the search origin's alternatives (a zip code, or `lat` and
`lon` together) and the refusal of a query parameter the operation does not take."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.problems import Problem

_ZIP = {"type": "string", "pattern": "^[0-9]{5}$", "description": "a US zip code (its centroid)"}
_LAT = {"type": "number", "minimum": -90, "maximum": 90}
_LON = {"type": "number", "minimum": -180, "maximum": 180}

# One object parameter, serialized as its members (`?zip=97201` or `?lat=45.5&lon=-122.6`).
SEARCH_ORIGIN: dict[str, Any] = {
    "name": "origin",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "description": "Where to search from: `zip`, or `lat` and `lon` together; not both.",
    "schema": {
        "oneOf": [
            {
                "type": "object",
                "properties": {"zip": _ZIP},
                "required": ["zip"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"lat": _LAT, "lon": _LON},
                "required": ["lat", "lon"],
                "additionalProperties": False,
            },
        ]
    },
}


async def refuse_undocumented_query(request: Request) -> None:
    """422 for a query parameter a documented operation does not take (a filter that does not
    exist must not be silently ignored)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return  # a vendor's webhook is not held to a document it never read
    known = set(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        detail = f"{unknown[0]}: not a query parameter here; use one of {', '.join(sorted(known))}"
        raise Problem(
            422,
            "Unprocessable content",
            detail,
            errors=[{"field": name, "message": "not a query parameter here"} for name in unknown],
        )


def _query_names(dependant: Dependant) -> Iterator[str]:
    yield from (param.alias for param in dependant.query_params)
    for dependency in dependant.dependencies:
        yield from _query_names(dependency)
