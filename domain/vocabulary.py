"""The words of the crisis domain: roles, stages, crisis types, risk levels, decision kinds."""

from enum import StrEnum


def with_article(word: str) -> str:
    """A word of the vocabulary in a sentence: "an admin", "a clinician", "an urgent_care"."""
    return f"{'an' if word[:1].lower() in tuple('aeiou') else 'a'} {word}"


class Role(StrEnum):
    CLINICIAN = "clinician"
    SUPERVISOR = "supervisor"
    FOLLOWUP = "followup"
    ADMIN = "admin"


class Stage(StrEnum):
    OPEN = "open"
    ASSESSING = "assessing"
    DEESCALATING = "deescalating"
    RESPONDING = "responding"
    STABILIZED = "stabilized"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (Stage.CLOSED, Stage.CANCELLED)


class CrisisType(StrEnum):
    SUICIDAL_IDEATION = "suicidal_ideation"
    SELF_HARM = "self_harm"
    PANIC = "panic"
    PSYCHOSIS = "psychosis"
    MEDICAL = "medical"
    INTOXICATION = "intoxication"
    WITHDRAWAL = "withdrawal"
    OVERDOSE = "overdose"
    OTHER = "other"

    @property
    def is_substance_use(self) -> bool:
        """42 CFR Part 2 covers these: disclosure to family needs written consent."""
        return self in (CrisisType.INTOXICATION, CrisisType.WITHDRAWAL, CrisisType.OVERDOSE)


class RiskLevel(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    IMMINENT = "imminent"

    @property
    def rank(self) -> int:
        return _RISK_ORDER.index(self)

    def at_least(self, other: "RiskLevel") -> bool:
        return self.rank >= other.rank


_RISK_ORDER = [RiskLevel.LOW, RiskLevel.MODERATE, RiskLevel.HIGH, RiskLevel.IMMINENT]


class DecisionKind(StrEnum):
    ASSESSMENT = "assessment"
    DEESCALATION = "deescalation"
    NOTIFY_CONTACTS = "notify_contacts"
    DISPATCH = "dispatch"
    DISPATCH_UPDATE = "dispatch_update"
    DISPOSITION = "disposition"
    CONTACT_LOST = "contact_lost"
    CONTACT_RESTORED = "contact_restored"
    CONTACT_REACHED = "contact_reached"
    NOTE = "note"
    REASSIGN = "reassign"
    ESCALATE = "escalate"
    CLOSE = "close"
    CANCEL = "cancel"
    RECLASSIFY = "reclassify"


class Instrument(StrEnum):
    CSSRS_SCREENER = "cssrs_screener"
    CIWA_AR = "ciwa_ar"
    COWS = "cows"
    OVERDOSE_SIGNS = "overdose_signs"
    CLINICAL_JUDGEMENT = "clinical_judgement"


class ContactKind(StrEnum):
    PERSONAL = "personal"
    MEDICAL = "medical"


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    WEBHOOK = "webhook"
    CONSOLE = "console"


class ConsentKind(StrEnum):
    CONTACT_DISCLOSURE = "contact_disclosure"
    PART2 = "part2"


class DisclosureBasis(StrEnum):
    CONSENT = "consent"
    SERIOUS_IMMINENT_THREAT = "serious_imminent_threat"
    INCAPACITY = "incapacity"
    MEDICAL_EMERGENCY = "medical_emergency"


class DeescalationOutcome(StrEnum):
    RESOLVED = "resolved"
    PARTIAL = "partial"
    FAILED = "failed"


class DispatchService(StrEnum):
    EMERGENCY_911 = "911"
    CRISIS_988 = "988"
    MOBILE_CRISIS = "mobile_crisis"
    HOSPITAL = "hospital"
    DETOX = "detox"
    URGENT_CARE = "urgent_care"


class DispatchStatus(StrEnum):
    REQUESTED = "requested"
    EN_ROUTE = "en_route"
    ARRIVED = "arrived"
    TRANSPORTED = "transported"
    CANCELLED = "cancelled"


class DispositionOutcome(StrEnum):
    REMAINED_HOME_WITH_SAFETY_PLAN = "remained_home_with_safety_plan"
    TRANSPORTED_ER = "transported_er"
    ADMITTED = "admitted"
    DETOX = "detox"
    DECLINED_SERVICES = "declined_services"
    REFERRED_OUTPATIENT = "referred_outpatient"
    OTHER = "other"


class ResourceKind(StrEnum):
    EMERGENCY_ROOM = "emergency_room"
    URGENT_CARE = "urgent_care"
    CRISIS_CENTER = "crisis_center"
    MOBILE_CRISIS = "mobile_crisis"
    DETOX = "detox"
    RESIDENTIAL = "residential"
    CRISIS_LINE = "crisis_line"
    EMERGENCY_NUMBER = "emergency_number"


class TaskStatus(StrEnum):
    """FHIR Task-like status of a follow-up task."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FollowUpOutcome(StrEnum):
    REACHED_SAFE = "reached_safe"
    REACHED_NEEDS_CARE = "reached_needs_care"
    NO_ANSWER = "no_answer"
    DECLINED = "declined"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    ACKNOWLEDGED = "acknowledged"
    # Not sent: the consent the disclosure rested on was revoked or has expired.
    STOPPED = "stopped"
