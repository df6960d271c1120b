"""What a message to a contact or a client says: the minimum necessary (45 CFR 164.502(b)).

No diagnosis, no substance, no crisis type: who is asking, a number to call back, and a link
to acknowledge. Everything else is said by a person on the phone.
"""

from __future__ import annotations

from pydantic import BaseModel

from domain.notification import LadderPurpose


class MessageText(BaseModel):
    subject: str
    body: str


def ladder_message(
    purpose: LadderPurpose,
    *,
    client_first_name: str,
    program_name: str,
    callback_number: str,
) -> MessageText:
    """The text; each channel adds the signed acknowledgement link its own way."""
    if purpose is LadderPurpose.LOST_CONTACT:
        return MessageText(
            subject=f"{program_name}: are you safe?",
            body=(
                f"Hi {client_first_name}, this is your care team at {program_name}. We lost our "
                f"connection with you. Please call us at {callback_number}, or confirm you are "
                f"safe with the link below. If you are in danger, call 911 or 988."
            ),
        )
    return MessageText(
        subject=f"{program_name}: please call us about {client_first_name}",
        body=(
            f"{program_name} is trying to reach you as {client_first_name}'s emergency contact. "
            f"Please call {callback_number} as soon as you can, and use the link below to let "
            f"us know you got this."
        ),
    )
