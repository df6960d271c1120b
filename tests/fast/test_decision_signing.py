"""The API's signature on every message that changes an incident (SPEC 10.2, Temporal is a trust
boundary): what it covers, and what the worker refuses. Pure: no Temporal server; the end-to-end
refusal is in tests/infra/test_temporal_trust_boundary.py."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from temporalio import workflow

from domain.decisions import Actor
from domain.followup import CancelFollowUp
from domain.vocabulary import Role
from infra.decision_signing import (
    DEV_DECISION_KEY_FILE,
    clear_all,
    decision_keys_for,
    message_signature,
    sign_all,
    signature_valid,
    signed_by_api,
    unsigned_refusal,
)
from infra.settings import Settings
from tests.helpers.domain_builders import CLINICIAN, PROGRAM, decision_request
from worker import WORKFLOWS

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
WORKFLOW = "incident-0b5e"
NOTE: dict[str, Any] = {"kind": "note", "text": "client calmer, talking"}


def signed(
    request: Any, key: bytes = KEY, workflow_id: str = WORKFLOW, update: str = "note"
) -> Any:
    return request.model_copy(
        update={"signature": message_signature(key, workflow_id, update, request)}
    )


def test_the_apis_own_signature_is_accepted() -> None:
    request = signed(decision_request(NOTE))
    assert signature_valid([KEY], WORKFLOW, "note", request)
    assert request.signature.startswith("v1=")


def test_a_decision_without_a_signature_is_refused_as_forbidden() -> None:
    request = decision_request(NOTE)
    assert not signature_valid([KEY], WORKFLOW, "note", request)
    refusal = unsigned_refusal("note", [request])
    assert refusal.non_retryable
    assert refusal.type == "DecisionRefused"
    assert refusal.details[0] == {
        "status": 403,
        "code": "unsigned_decision",
        "detail": "the request is not signed",
    }
    assert "missing" in refusal.message


def test_a_signature_under_another_key_is_refused_and_named_not_the_apis() -> None:
    request = signed(decision_request(NOTE), key=OTHER_KEY)
    assert not signature_valid([KEY], WORKFLOW, "note", request)
    assert "not the API's" in unsigned_refusal("note", [request]).message


def test_a_retired_key_still_verifies_so_older_histories_replay() -> None:
    request = signed(decision_request(NOTE), key=OTHER_KEY)
    assert signature_valid([KEY, OTHER_KEY], WORKFLOW, "note", request)


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
    assert not signature_valid([KEY], WORKFLOW, "note", request.model_copy(update=forged))


def test_a_signed_decision_with_another_body_is_refused() -> None:
    request = signed(decision_request(NOTE))
    other = decision_request({"kind": "note", "text": "all fine"}, decision_id=request.decision_id)
    assert not signature_valid(
        [KEY], WORKFLOW, "note", other.model_copy(update={"signature": request.signature})
    )


def test_a_signature_is_bound_to_its_incident_and_its_update() -> None:
    request = signed(decision_request(NOTE))
    assert not signature_valid([KEY], "incident-other", "note", request)
    assert not signature_valid([KEY], WORKFLOW, "close", request)


def test_every_message_argument_is_signed_and_a_signal_without_one_is_unsigned() -> None:
    cancel = CancelFollowUp(reason="closed", incident_id=uuid4())
    args = sign_all(KEY, WORKFLOW, "cancel_all", [cancel, "not a message"])
    assert signed_by_api([KEY], WORKFLOW, "cancel_all", args)
    assert not signed_by_api([KEY], "incident-other", "cancel_all", args)
    assert not signed_by_api([KEY], WORKFLOW, "cancel_all", [cancel])
    assert not signed_by_api([KEY], WORKFLOW, "stop", [])  # a bare signal cannot be signed
    assert clear_all(args) == [cancel, "not a message"]  # handlers never see a signature


def test_the_development_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    (first,) = decision_keys_for(settings)
    assert len(first) == 32
    assert decision_keys_for(settings) == (first,)
    key_file = tmp_path / DEV_DECISION_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*"))  # the staging file is gone


def test_a_configured_key_wins_over_the_development_file(tmp_path: Path) -> None:
    configured = base64.b64encode(OTHER_KEY).decode()
    settings = Settings(data_dir=tmp_path, decision_key=f" {configured}\n")
    assert decision_keys_for(settings) == (OTHER_KEY,)
    assert not (tmp_path / DEV_DECISION_KEY_FILE).exists()


def test_a_rotated_key_list_signs_with_the_first_and_verifies_with_all(tmp_path: Path) -> None:
    listed = ",".join(base64.b64encode(k).decode() for k in (KEY, OTHER_KEY))
    assert decision_keys_for(Settings(data_dir=tmp_path, decision_key=listed)) == (KEY, OTHER_KEY)


def test_a_short_key_in_the_list_is_refused(tmp_path: Path) -> None:
    listed = f"{base64.b64encode(KEY).decode()},{base64.b64encode(b'short').decode()}"
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Settings(data_dir=tmp_path, decision_key=listed)


def test_every_update_of_every_workflow_has_a_validator_so_its_signature_is_checked() -> None:
    """The worker checks a signature in the validator chain, which Temporal runs only for an
    Update that has a validator: one without would take unsigned requests."""
    unchecked = [
        f"{cls.__name__}.{name}"
        for cls in WORKFLOWS
        for name, update in workflow._Definition.must_from_class(cls).updates.items()
        if update.validator is None
    ]
    assert unchecked == []
