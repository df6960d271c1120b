"""The API's signature on every message that changes an incident (SPEC 10.2, Temporal is a trust
boundary): what it covers, and what the worker refuses. Pure: no Temporal server; the end-to-end
refusal is in tests/infra/test_temporal_trust_boundary.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from temporalio import workflow

from domain.decisions import Actor
from domain.followup import CancelFollowUp
from domain.signed import SignedMessage
from domain.vocabulary import Role
from infra.decision_signing import (
    DEV_DECISION_KEY_FILE,
    clear_all,
    decision_keys_for,
    input_signed,
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
    assert refusal.message == (
        "the note request's signature is missing: only the CrisisDesk API may change an incident"
    )


def test_a_signature_under_another_key_is_refused_and_named_not_the_apis() -> None:
    request = signed(decision_request(NOTE), key=OTHER_KEY)
    assert not signature_valid([KEY], WORKFLOW, "note", request)
    assert unsigned_refusal("note", [request]).message == (
        "the note request's signature is not the API's: only the CrisisDesk API may change an"
        " incident"
    )


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


class _Press(SignedMessage):
    """A message of two fields, to pin the signature's exact form."""

    device: str
    at: int


def test_the_signature_is_pinned_to_its_documented_form() -> None:
    """The worker and the API (and histories recorded by older releases) agree only while the
    signed text stays byte for byte the same: typed out here by hand."""
    body = '{"at":3,"device":"d1"}'
    digest = hashlib.sha256(body.encode()).hexdigest()
    text = f"crisisdesk-message\nv1\n{WORKFLOW}\nsos_pressed\n{digest}"
    expected = "v1=" + hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()
    press = _Press(device="d1", at=3)
    assert message_signature(KEY, WORKFLOW, "sos_pressed", press) == expected
    # The signature itself is never part of what is signed.
    signed_press = press.model_copy(update={"signature": expected})
    assert message_signature(KEY, WORKFLOW, "sos_pressed", signed_press) == expected


def test_a_workflow_input_is_signed_only_when_every_message_of_it_is() -> None:
    press = _Press(device="d1", at=3)
    [signed_press] = sign_all(KEY, WORKFLOW, "IncidentWorkflowV2", [press])
    assert input_signed((KEY,), WORKFLOW, "IncidentWorkflowV2", [signed_press])
    assert input_signed((KEY,), WORKFLOW, "IncidentWorkflowV2", ["not a message", 3])
    assert not input_signed((KEY,), WORKFLOW, "IncidentWorkflowV2", [press])
    assert not input_signed((KEY,), WORKFLOW, "IncidentWorkflowV2", [signed_press, press])
    assert not input_signed((KEY,), "incident-other", "IncidentWorkflowV2", [signed_press])
    assert not input_signed((OTHER_KEY,), WORKFLOW, "IncidentWorkflowV2", [signed_press])


def test_the_development_key_is_made_in_a_data_dir_that_does_not_exist_yet(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data" / "crisisdesk"
    [key] = decision_keys_for(Settings(data_dir=data_dir))
    stored = (data_dir / DEV_DECISION_KEY_FILE).read_text()
    assert base64.b64decode(stored) == key
    assert sorted(p.name for p in data_dir.iterdir()) == [DEV_DECISION_KEY_FILE]


def test_a_development_key_already_there_is_kept_whole(tmp_path: Path) -> None:
    kept = base64.b64encode(OTHER_KEY).decode()
    (tmp_path / DEV_DECISION_KEY_FILE).write_text(kept + "\n")
    assert decision_keys_for(Settings(data_dir=tmp_path)) == (OTHER_KEY,)
    assert (tmp_path / DEV_DECISION_KEY_FILE).read_text() == kept + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEV_DECISION_KEY_FILE]


def test_a_key_list_with_spaces_is_read_key_by_key(tmp_path: Path) -> None:
    listed = f" {base64.b64encode(KEY).decode()} , {base64.b64encode(OTHER_KEY).decode()} "
    assert decision_keys_for(Settings(data_dir=tmp_path, decision_key=listed)) == (
        KEY,
        OTHER_KEY,
    )
