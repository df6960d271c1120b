"""Database tables (SQLModel) and the API shapes of each entity, one family per module."""

from domain.models.access import BreakGlassGrant
from domain.models.audit import AuditEvent
from domain.models.clients import Client, ClientDevice, Consent, EmergencyContact
from domain.models.console import ConsoleSession
from domain.models.incidents import DecisionRecord, Dispatch, FollowUpTask, Incident, Notification
from domain.models.oncall import OnCallOverride, OnCallRotation
from domain.models.programs import Program, Staff
from domain.models.resources import Resource
from domain.models.sos import SosOutboxPress, SosPressCount

__all__ = [
    "AuditEvent",
    "BreakGlassGrant",
    "Client",
    "ClientDevice",
    "Consent",
    "ConsoleSession",
    "DecisionRecord",
    "Dispatch",
    "EmergencyContact",
    "FollowUpTask",
    "Incident",
    "Notification",
    "OnCallOverride",
    "OnCallRotation",
    "Program",
    "Resource",
    "SosOutboxPress",
    "SosPressCount",
    "Staff",
]
