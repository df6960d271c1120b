"""The decision registry is the one list of decision kinds: each kind is in every layer (its
module, the API's body union and schema, the workflow's Updates, a protocol stage), so a kind
missing a piece fails here (SPEC 10.1 "Every decision kind works")."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.workflow import _Definition

from api.app import create_app
from domain.decisions import DECISIONS
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, DecisionKind, Role
from infra.settings import Settings
from workflows.incident import DECISION_UPDATES, IncidentWorkflow

KINDS = list(DecisionKind)


def test_every_kind_of_the_vocabulary_is_registered() -> None:
    assert set(DECISIONS) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_the_workflow_has_an_update_for_the_kind(kind: DecisionKind) -> None:
    updates = _Definition.must_from_class(IncidentWorkflow).updates
    assert kind.value in updates
    assert updates[kind.value].validator is not None  # refused before it reaches history
    assert DECISION_UPDATES[kind] is getattr(IncidentWorkflow, kind.value)


@pytest.fixture(scope="module")
def decision_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(
        database_url="sqlite:///unused.db", data_dir=tmp_path_factory.mktemp("registry")
    )
    schema = create_app(settings).openapi()
    body = schema["paths"]["/v1/incidents/{incident_id}/decisions"]["post"]["requestBody"]
    parsed: dict[str, Any] = body["content"]["application/json"]["schema"]
    return parsed


@pytest.mark.parametrize("kind", KINDS)
def test_the_api_parses_and_documents_the_kind(
    kind: DecisionKind, decision_schema: dict[str, Any]
) -> None:
    assert kind.value in decision_schema["discriminator"]["mapping"]


@pytest.mark.parametrize("kind", KINDS)
def test_some_stage_of_every_protocol_allows_the_kind(kind: DecisionKind) -> None:
    for crisis_type in CrisisType:
        stages = protocol_for(crisis_type).stage_decisions
        assert any(kind in allowed for allowed in stages.values()), (crisis_type, kind)


def test_roles_are_the_contracts() -> None:
    """SPEC section 1: supervisors alone reassign and close; no decision for follow-up staff
    or admins; clinicians and supervisors record the clinical ones."""
    clinical = {Role.CLINICIAN, Role.SUPERVISOR}
    for kind, spec in DECISIONS.items():
        expected = (
            {Role.SUPERVISOR} if kind in (DecisionKind.REASSIGN, DecisionKind.CLOSE) else clinical
        )
        assert spec.roles == expected, kind
