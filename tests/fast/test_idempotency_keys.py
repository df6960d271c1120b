"""Idempotency keys (SPEC 7 and 10.1) without a server: the same key and body answer the same
incident or decision; the same key with another body, or for another client, never answers the
earlier one, and is refused naming the `Idempotency-Key` header."""

from __future__ import annotations

import uuid

from api.idempotency import (
    decision_id_for,
    decision_update_id,
    incident_id_for,
    is_replay,
    key_reused,
)

PROGRAM = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER_PROGRAM = uuid.UUID("00000000-0000-4000-8000-000000000002")
INCIDENT = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
OTHER_INCIDENT = uuid.UUID("00000000-0000-4000-8000-0000000000a2")
CLINICIAN = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
OTHER_CLINICIAN = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
CLIENT = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER_CLIENT = uuid.UUID("00000000-0000-4000-8000-0000000000c2")
DIGEST = "0123456789abcdef" + "0" * 48
OTHER_DIGEST = "0123456789abcdef" + "1" * 48  # the same first 16 characters


def test_a_key_names_one_incident_of_its_program_and_the_same_one_after_a_deploy() -> None:
    first = incident_id_for(PROGRAM, "6f1c-retry")
    assert incident_id_for(PROGRAM, "6f1c-retry") == first
    # Pinned: a retry sent across a release must find the incident its first try opened.
    assert first == uuid.UUID("71bab0ef-a22e-553f-9b4b-a0af802a2611")
    assert incident_id_for(PROGRAM, "6f1c-other") != first
    assert incident_id_for(OTHER_PROGRAM, "6f1c-retry") != first


def test_without_a_key_every_opening_is_a_new_incident() -> None:
    assert incident_id_for(PROGRAM, None) != incident_id_for(PROGRAM, None)
    assert incident_id_for(PROGRAM, "") != incident_id_for(PROGRAM, "")


def test_a_decision_key_is_the_staff_members_own_on_that_incident() -> None:
    first = decision_id_for(INCIDENT, CLINICIAN, "note-1")
    assert decision_id_for(INCIDENT, CLINICIAN, "note-1") == first
    assert first == uuid.UUID("9935c669-4210-542c-b626-b51d208a7a65")
    assert decision_id_for(INCIDENT, OTHER_CLINICIAN, "note-1") != first
    assert decision_id_for(OTHER_INCIDENT, CLINICIAN, "note-1") != first
    assert decision_id_for(INCIDENT, CLINICIAN, "note-2") != first
    # Not the id an opening with that key would name.
    assert first != incident_id_for(INCIDENT, f"{CLINICIAN}:note-1")


def test_without_a_key_every_decision_is_a_new_one() -> None:
    assert decision_id_for(INCIDENT, CLINICIAN, None) != decision_id_for(INCIDENT, CLINICIAN, None)
    assert decision_id_for(INCIDENT, CLINICIAN, "") != decision_id_for(INCIDENT, CLINICIAN, "")


def test_the_update_id_is_bound_to_the_body() -> None:
    decision = decision_id_for(INCIDENT, CLINICIAN, "note-1")
    assert decision_update_id(decision, DIGEST) == f"{decision}:0123456789abcdef"
    # Another body makes another update, which the workflow refuses as a reused key instead of
    # Temporal answering the first body's result.
    assert decision_update_id(decision, "f" * 64) != decision_update_id(decision, DIGEST)


def test_the_same_key_and_body_is_a_replay() -> None:
    assert is_replay(first_digest=DIGEST, first_client_id=CLIENT, digest=DIGEST, client_id=CLIENT)


def test_the_same_key_with_another_body_is_not_a_replay() -> None:
    assert not is_replay(
        first_digest=DIGEST, first_client_id=CLIENT, digest=OTHER_DIGEST, client_id=CLIENT
    )


def test_the_same_key_for_another_client_never_answers_that_clients_incident() -> None:
    assert not is_replay(
        first_digest=DIGEST, first_client_id=CLIENT, digest=DIGEST, client_id=OTHER_CLIENT
    )
    # An incident opened before digests were kept is matched on its client alone.
    assert is_replay(first_digest=None, first_client_id=CLIENT, digest=DIGEST, client_id=CLIENT)
    assert not is_replay(
        first_digest=None, first_client_id=CLIENT, digest=DIGEST, client_id=OTHER_CLIENT
    )


def test_a_reused_key_is_a_422_naming_the_header() -> None:
    problem = key_reused("incident")
    message = "this Idempotency-Key was already used for a different incident"
    assert (problem.status, problem.title) == (422, "Unprocessable content")
    assert problem.detail == message
    assert problem.extra["errors"] == [{"field": "Idempotency-Key", "message": message}]
