"""Assertions on RFC 9457 problem details, the body of every error the API answers."""

from __future__ import annotations

import httpx


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == status
    assert str(problem["type"]).startswith("https://")
    return problem


def assert_invalid(response: httpx.Response, *names: str, status: int = 422) -> dict[str, object]:
    """A 422 problem (or `status`: 409 for a body that is wrong for the record as it is now)
    that names (one of) the field(s) the caller got wrong.

    A field is named by its dotted path, e.g. `limit` as `query.limit`, `channels` as `channels.0`.
    """
    problem = assert_problem(response, status)
    fields = [str(e["field"]) for e in problem["errors"]]  # type: ignore[attr-defined]
    assert any(name in f.split(".") for f in fields for name in names), (names, fields)
    assert any(name in str(problem["detail"]) for name in names), problem["detail"]
    return problem
