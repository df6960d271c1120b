"""The API's signature on a decision (SPEC 10.2, Temporal is a trust boundary): what it covers, and
what the worker refuses. Pure: no Temporal server; the end-to-end refusal is in
tests/infra/test_temporal_trust_boundary.py."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from domain.decisions import Actor
from domain.vocabulary import Role
from infra.decision_signing import (
    DEV_DECISION_KEY_FILE,
    decision_key_for,
    decision_signature,
    signature_valid,
    unsigned_refusal,
)
from infra.settings import Settings
from tests.helpers.domain_builders import CLINICIAN, PROGRAM, decision_request

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
WORKFLOW = "incident-0b5e"
NOTE: dict[str, Any] = {"kind": "note", "text": "client calmer, talking"}


def signed(
    request: Any, key: bytes = KEY, workflow_id: str = WORKFLOW, update: str = "note"
) -> Any:
    return request.model_copy(
        update={"signature": decision_signature(key, workflow_id, update, request)}
    )


def test_the_apis_own_signature_is_accepted() -> None:
    request = signed(decision_request(NOTE))
    assert signature_valid(KEY, WORKFLOW, "note", request)
    assert request.signature.startswith("v1=")


def test_a_decision_without_a_signature_is_refused_as_forbidden() -> None:
    request = decision_request(NOTE)
    assert not signature_valid(KEY, WORKFLOW, "note", request)
    refusal = unsigned_refusal(request)
    assert refusal.non_retryable
    assert refusal.type == "DecisionRefused"
    assert refusal.details[0] == {
        "status": 403,
        "code": "unsigned_decision",
        "detail": "the decision is not signed",
    }
    assert "missing" in refusal.message


def test_a_signature_under_another_key_is_refused_and_named_not_the_apis() -> None:
    request = signed(decision_request(NOTE), key=OTHER_KEY)
    assert not signature_valid(KEY, WORKFLOW, "note", request)
    assert "not the API's" in unsigned_refusal(request).message


@pytest.mark.parametrize(
    "forged",
    [
        {"actor": Actor(staff_id="attacker", role=Role.CLINICIAN, program_id=PROGRAM)},
        {"actor": CLINICIAN.model_copy(update={"role": Role.SUPERVISOR})},
        {"actor": CLINICIAN.model_copy(update={"program_id": uuid4()})},
        {"decision_id": uuid4()},
        {"request_digest": "another body"},
        {"callback_event_id": "evt-1"},
    ],
    ids=["staff", "role", "program", "decision id", "digest", "callback"],
)
def test_a_signed_decision_changed_in_any_field_is_refused(forged: dict[str, Any]) -> None:
    request = signed(decision_request(NOTE))
    assert not signature_valid(KEY, WORKFLOW, "note", request.model_copy(update=forged))


def test_a_signed_decision_with_another_body_is_refused() -> None:
    request = signed(decision_request(NOTE))
    other = decision_request({"kind": "note", "text": "all fine"}, decision_id=request.decision_id)
    assert not signature_valid(
        KEY, WORKFLOW, "note", other.model_copy(update={"signature": request.signature})
    )


def test_a_signature_is_bound_to_its_incident_and_its_update() -> None:
    request = signed(decision_request(NOTE))
    assert not signature_valid(KEY, "incident-other", "note", request)
    assert not signature_valid(KEY, WORKFLOW, "close", request)


def test_the_development_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = decision_key_for(settings)
    assert len(first) == 32
    assert decision_key_for(settings) == first
    key_file = tmp_path / DEV_DECISION_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*"))  # the staging file is gone


def test_a_configured_key_wins_over_the_development_file(tmp_path: Path) -> None:
    configured = base64.b64encode(OTHER_KEY).decode()
    settings = Settings(data_dir=tmp_path, decision_key=f" {configured}\n")
    assert decision_key_for(settings) == OTHER_KEY
    assert not (tmp_path / DEV_DECISION_KEY_FILE).exists()
