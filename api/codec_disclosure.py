"""Whose a decoded payload is: the codec server reveals a payload only to its own program.

Temporal's codec protocol does not say which workflow a payload came from, and every program's
incidents share one namespace, so a supervisor browsing the Temporal UI can open another
program's workflow. What a payload is about is read from inside it instead: our sealed payloads
are JSON that name their program (`program_id`: an incident's opening, every decision's actor,
every activity input) or their incident (`incident_id`). A decoded payload is revealed when each
program it names, directly or through its incident, is the caller's; one that names another
program, or none at all (a failure's message, a bare result), stays encrypted: an id the sealed
JSON carries cannot be forged without our key, while a guess about an unnamed payload could leak.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.common.v1 import Payload

from domain.incident.state import workflow_id_for
from domain.models import Incident

_JSON = b"json/plain"
_NULL = b"binary/null"  # `None`: nothing to reveal
_PROGRAM, _INCIDENT = "program_id", "incident_id"


@dataclass(frozen=True)
class Subjects:
    """The programs and incidents one decoded payload names."""

    programs: frozenset[str] = frozenset()
    incidents: frozenset[str] = frozenset()
    empty: bool = False  # a payload with nothing in it (`None`)


def subjects_of(payload: Payload) -> Subjects | None:
    """What `payload` names, or None when it is not JSON we can read."""
    encoding = payload.metadata.get("encoding")
    if encoding == _NULL:
        return Subjects(empty=True)
    if encoding != _JSON:
        return None
    try:
        document = json.loads(payload.data)
    except ValueError:
        return None
    programs: set[str] = set()
    incidents: set[str] = set()
    for key, value in _members(document):
        if key == _PROGRAM:
            programs.add(_normal(value))
        elif key == _INCIDENT:
            incidents.add(_normal(value))
    return Subjects(programs=frozenset(programs), incidents=frozenset(incidents))


def _members(document: Any) -> Iterator[tuple[str, Any]]:
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                yield key, value
                pending.append(value)
        elif isinstance(node, list):
            pending.extend(node)


def _normal(value: Any) -> str:
    """A UUID in one spelling; anything else kept as given (it then matches no program)."""
    found = _as_uuid(str(value))
    return str(found) if found is not None else repr(value)


@dataclass
class Disclosure:
    """Which decoded payloads the caller's program may see, and the incidents they are about."""

    program_id: uuid.UUID
    owners: dict[str, str] = field(default_factory=dict)  # incident id -> its program id

    @classmethod
    async def for_program(
        cls, session: AsyncSession, program_id: uuid.UUID, subjects: Iterable[Subjects | None]
    ) -> Disclosure:
        named = {
            found
            for each in subjects
            if each is not None
            for incident in each.incidents
            if (found := _as_uuid(incident)) is not None
        }
        owners: dict[str, str] = {}
        if named:
            rows = await session.exec(
                select(Incident.id, Incident.program_id).where(col(Incident.id).in_(named))
            )
            owners = {str(incident): str(program) for incident, program in rows.all()}
        return cls(program_id=program_id, owners=owners)

    def allows(self, subjects: Subjects | None) -> bool:
        if subjects is None:
            return False
        if subjects.empty:
            return True
        programs = set(subjects.programs)
        for incident in subjects.incidents:
            owner = self.owners.get(incident)
            if owner is not None:
                programs.add(owner)
            elif not subjects.programs:  # an incident we cannot place, and no program named
                return False
        return programs == {str(self.program_id)}


def workflow_ids(subjects: Iterable[Subjects]) -> list[str]:
    """The incident workflows the revealed payloads are about (an audit event names them)."""
    incidents = {_as_uuid(incident) for each in subjects for incident in each.incidents}
    return sorted(workflow_id_for(incident) for incident in incidents if incident is not None)


def single_incident(subjects: Iterable[Subjects]) -> uuid.UUID | None:
    """The one incident the revealed payloads are about, when there is exactly one."""
    incidents = {_as_uuid(incident) for each in subjects for incident in each.incidents}
    return incidents.pop() if len(incidents) == 1 else None


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
