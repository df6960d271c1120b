"""Typed search attributes, so supervisors can filter incidents in the Temporal Web UI too."""

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("CrisisDeskStage")
RISK_LEVEL = SearchAttributeKey.for_keyword("CrisisDeskRisk")
CRISIS_TYPE = SearchAttributeKey.for_keyword("CrisisDeskType")
PROGRAM = SearchAttributeKey.for_keyword("CrisisDeskProgram")

ALL_SEARCH_ATTRIBUTES = (STAGE, RISK_LEVEL, CRISIS_TYPE, PROGRAM)
