"""`GET /v1/instruments`: a form is built from it, and a form filled from it is scored (SPEC 10.3:
"items, labels and allowed values come from GET /v1/instruments")."""

from __future__ import annotations

from typing import Any

import httpx

from domain.vocabulary import Instrument, Role
from tests.helpers.incidents import decide, open_incident
from tests.helpers.problems import assert_problem
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack


async def _catalog(http: httpx.AsyncClient, program: DemoProgram, **params: str) -> Any:
    response = await http.get("/v1/instruments", params=params, headers=program.auth(Role.FOLLOWUP))
    assert response.status_code == 200, response.text
    return response.json()


def _filled(entry: dict[str, Any]) -> dict[str, Any]:
    """What a clinician sends having answered the form as the catalog describes it."""
    body: dict[str, Any] = {"kind": "assessment", "instrument": entry["instrument"]}
    items = entry["items"]
    if entry["field"] == "answers":  # every question asked, every answer yes
        body["answers"] = {item["name"]: True for item in items}
    elif entry["field"] == "scores":  # every item at its top score
        body["scores"] = {item["name"]: max(item["allowed"]) for item in items}
    elif entry["field"] == "signs":  # the signs that alone make the risk imminent
        body["signs"] = [item["name"] for item in items if item["imminent"]]
    else:
        body |= {"risk_override": "moderate", "justification": "Calm and future-oriented"}
    return body


async def test_every_staff_role_reads_each_instrument_with_its_items(
    stack: Stack, program: DemoProgram
) -> None:
    for role in Role:
        response = await stack.http.get("/v1/instruments", headers=program.auth(role))
        assert response.status_code == 200, (role, response.text)
    assert_problem(await stack.http.get("/v1/instruments"), 401)
    catalog = await _catalog(stack.http, program)
    by_name = {entry["instrument"]: entry for entry in catalog["data"]}
    assert set(by_name) == set(Instrument) and catalog["count"] == len(Instrument)
    cssrs = {item["name"]: item for item in by_name["cssrs_screener"]["items"]}
    assert cssrs["plan"]["value_type"] == "boolean"
    assert cssrs["plan"]["asked_when"] == "suicidal_thoughts"
    assert cssrs["wish_dead"]["label"].startswith("Have you wished you were dead")
    pulse = by_name["cows"]["items"][0]
    assert (pulse["name"], pulse["label"], pulse["allowed"]) == (
        "resting_pulse",
        "Resting pulse rate",
        [0, 1, 2, 4],
    )
    assert by_name["ciwa_ar"]["bands"][1] == {
        "min_total": 10,
        "label": "moderate",
        "risk": "moderate",
    }
    assert by_name["overdose_signs"]["field"] == "signs"
    assert by_name["clinical_judgement"]["field"] is None


async def test_a_protocol_offers_its_own_instruments(stack: Stack, program: DemoProgram) -> None:
    withdrawal = await _catalog(stack.http, program, crisis_type="withdrawal")
    assert {e["instrument"] for e in withdrawal["data"]} >= {"ciwa_ar", "cows"}
    assert "cssrs_screener" not in {e["instrument"] for e in withdrawal["data"]}
    panic = await _catalog(stack.http, program, crisis_type="panic")
    assert [e["instrument"] for e in panic["data"]] == ["clinical_judgement"]


async def test_a_form_filled_from_the_catalog_is_scored(stack: Stack, program: DemoProgram) -> None:
    expected = {
        "suicidal_ideation": ("cssrs_screener", "high"),
        "withdrawal": ("ciwa_ar", "high"),
        "overdose": ("overdose_signs", "imminent"),
        "panic": ("clinical_judgement", "moderate"),
    }
    for crisis_type, (instrument, risk) in expected.items():
        offered = await _catalog(stack.http, program, crisis_type=crisis_type)
        entry = next(e for e in offered["data"] if e["instrument"] == instrument)
        incident = await open_incident(stack, program, crisis_type)
        state = await decide(stack, program, incident["id"], _filled(entry))
        assert state["risk_level"] == risk, (crisis_type, state["assessments"])


async def test_the_openapi_document_names_each_instruments_items(stack: Stack) -> None:
    schema = (await stack.http.get("/openapi.json")).json()
    assessment = schema["components"]["schemas"]["Assessment"]["properties"]
    answers = assessment["answers"]["anyOf"][0]
    assert answers["additionalProperties"] is False
    assert "behavior_past_3_months" in answers["properties"]
    ciwa, cows = assessment["scores"]["anyOf"][:2]
    assert ciwa["properties"]["orientation"]["enum"] == [0, 1, 2, 3, 4]
    assert cows["properties"]["gooseflesh"]["enum"] == [0, 3, 5]
    assert "faint_pulse" in assessment["signs"]["anyOf"][0]["items"]["enum"]
