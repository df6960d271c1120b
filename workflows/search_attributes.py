"""Typed search attributes, so supervisors can filter incidents in the Temporal Web UI too.

Temporal indexes search attributes in clear (no codec reaches them), so they carry only what
tells nothing about the client (SPEC 10.2): the stage (what needs doing: open work, alarms to
answer) and the program (whose incident). Crisis type and risk are clinical facts (`overdose`
marks a client as in substance-use treatment): they stay in the encrypted state and the API.
"""

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("CrisisDeskStage")
PROGRAM = SearchAttributeKey.for_keyword("CrisisDeskProgram")

# Retired: set only by the frozen IncidentWorkflowV1 and by runs of IncidentWorkflowV2 started
# before the patch below; a newer run clears them. Never registered on a new namespace.
RISK_LEVEL = SearchAttributeKey.for_keyword("CrisisDeskRisk")
CRISIS_TYPE = SearchAttributeKey.for_keyword("CrisisDeskType")
RETIRED_SEARCH_ATTRIBUTES = (RISK_LEVEL, CRISIS_TYPE)

# The workflow.patched id of IncidentWorkflowV2's switch to stage and program only.
STAGE_AND_PROGRAM_ONLY = "search-attributes-stage-and-program-only"

ALL_SEARCH_ATTRIBUTES = (STAGE, PROGRAM)
