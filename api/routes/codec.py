"""The codec server (SPEC 10.4): Temporal's remote codec protocol over our payload codec, so a
signed-in supervisor reads decrypted histories in the Temporal Web UI and nobody else does.

`POST /codec/decode` and `POST /codec/encode` take and answer `{"payloads": [...]}` (base64
`metadata` values and `data`, as in a JSON history). The caller is a supervisor, by bearer token
or by the console's session cookie; the cookie only from the Temporal UI's origin or the
console's own (a page of another origin on the same site would carry the cookie too). `X-Namespace`,
sent by the UI, must be ours. Each decode is an audit event of the supervisor's program naming
the incident workflows it revealed and how many payloads it kept encrypted.

What stays encrypted: a payload our keys did not seal comes back exactly as sent (SPEC 10.2:
never passed through as if it were ours), and one of another program, or one that names no
program, is left sealed (api/codec_disclosure.py says why).
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload

from api.codec_disclosure import (
    Disclosure,
    Subjects,
    single_incident,
    subjects_of,
    workflow_ids,
)
from api.console.session import NotSignedInError, signed_in_browser
from api.deps import Now, RuntimeDep, SessionDep, audit_read, get_current_staff
from api.problems import Problem
from domain.models import Staff
from domain.vocabulary import Role, with_article
from infra.codec import REFUSED_ENCODING, EncryptionCodec
from infra.settings import Settings
from infra.temporal import keyring_for

router = APIRouter(prefix="/codec", tags=["codec"])
_bearer = HTTPBearer(auto_error=False, scheme_name="StaffToken", description="Staff bearer token")

MAX_PAYLOADS = 500
_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
Base64 = Annotated[str, Field(pattern=_BASE64, max_length=262_144)]


class CodecPayload(BaseModel):
    """One Temporal payload as JSON: metadata values and data in base64."""

    model_config = ConfigDict(extra="forbid")

    metadata: dict[Annotated[str, Field(max_length=200)], Base64] = Field(
        default_factory=dict, max_length=32
    )
    data: Base64 = ""
    # References to payloads kept outside the history; sent back as they came.
    externalPayloads: list[dict[str, Any]] = Field(  # noqa: N815 (the protocol's own name)
        default_factory=list, max_length=16
    )


class CodecPayloads(BaseModel):
    """The codec protocol's body, both ways."""

    model_config = ConfigDict(extra="forbid")

    payloads: list[CodecPayload] = Field(max_length=MAX_PAYLOADS)


async def codec_supervisor(
    request: Request,
    session: SessionDep,
    now: Now,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Staff:
    """A supervisor by bearer token, or by the console's session from an origin of ours."""
    if credentials is not None:
        staff = await get_current_staff(session, credentials, now)
    else:
        try:
            staff = (await signed_in_browser(request, session, now)).staff
        except NotSignedInError:
            raise Problem(
                401,
                "Unauthorized",
                "sign in to the console as a supervisor, or send a bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        if request.headers.get("origin") not in _session_origins(runtime.settings):
            raise Problem(403, "Forbidden", "a console session decodes only from the Temporal UI")
    if staff.role != Role.SUPERVISOR:
        raise Problem(
            403,
            "Forbidden",
            f"{with_article(staff.role)} may not use the codec server; it needs a supervisor",
        )
    return staff


CodecSupervisor = Annotated[Staff, Depends(codec_supervisor)]


def _session_origins(settings: Settings) -> set[str]:
    public = urlsplit(settings.public_url)
    return {settings.temporal_ui_origin, f"{public.scheme}://{public.netloc}".lower()}


def _our_namespace(
    runtime: RuntimeDep,
    namespace: Annotated[
        str | None,
        Header(
            alias="X-Namespace",
            max_length=1000,
            description="the Temporal namespace of the payloads (the UI sends it); ours only",
        ),
    ] = None,
) -> str:
    ours = runtime.settings.temporal_namespace
    if namespace is not None and namespace != ours:
        raise Problem(403, "Forbidden", "this codec server serves another namespace")
    return ours


Namespace = Annotated[str, Depends(_our_namespace)]
# The UI asks to keep references to externally stored payloads; ours are all inline.
PreserveStorageRefs = Annotated[
    bool,
    Query(
        alias="preserveStorageRefs",
        description="sent by the Temporal UI; payloads here are never stored externally",
    ),
]


@functools.cache
def _codec_for(settings: Settings) -> EncryptionCodec:
    """The worker's codec: the same keys, read once per process."""
    return EncryptionCodec(keyring_for(settings))


def _to_proto(payload: CodecPayload) -> Payload:
    try:
        return Payload(
            metadata={
                key: base64.b64decode(value, validate=True)
                for key, value in payload.metadata.items()
            },
            data=base64.b64decode(payload.data, validate=True),
        )
    except binascii.Error:
        raise Problem(422, "Unprocessable content", "a payload is not valid base64") from None


def _to_json(payload: Payload, external: list[dict[str, Any]]) -> CodecPayload:
    return CodecPayload(
        metadata={key: base64.b64encode(value).decode() for key, value in payload.metadata.items()},
        data=base64.b64encode(payload.data).decode(),
        **({"externalPayloads": external} if external else {}),
    )


@router.post(
    "/decode",
    response_model_exclude_unset=True,
    responses={
        401: {"description": "neither a console session nor a bearer token"},
        403: {"description": "not a supervisor, another namespace, or a session from elsewhere"},
    },
)
async def decode(
    body: CodecPayloads,
    supervisor: CodecSupervisor,
    namespace: Namespace,
    session: SessionDep,
    runtime: RuntimeDep,
    preserve_storage_refs: PreserveStorageRefs = False,
) -> CodecPayloads:
    """Decrypt payloads for the Temporal UI (a supervisor: bearer token, or the console's
    session cookie sent by the UI): those of the supervisor's own program; anything
    else (another program's, one that names no program, one we did not seal) comes back as
    sent. Audited: who, which incident workflows, how many stayed encrypted."""
    sent = [_to_proto(each) for each in body.payloads]
    opened = await _codec_for(runtime.settings).decode(sent)
    sealed_by_us = [each.metadata.get("encoding") != REFUSED_ENCODING for each in opened]
    subjects = [
        subjects_of(plain) if ours else None
        for plain, ours in zip(opened, sealed_by_us, strict=True)
    ]
    disclosure = await Disclosure.for_program(session, supervisor.program_id, subjects)
    answers: list[CodecPayload] = []
    revealed: list[Subjects] = []
    for original, plain, about, given in zip(sent, opened, subjects, body.payloads, strict=True):
        shown = about is not None and disclosure.allows(about)
        if shown and about is not None:
            revealed.append(about)
        answers.append(_to_json(plain if shown else original, given.externalPayloads))
    workflows = workflow_ids(revealed)
    await audit_read(
        session,
        supervisor,
        "codec_decode",
        incident_id=single_incident(revealed),
        detail={
            "namespace": namespace,
            "workflow_ids": workflows,
            "payloads": len(sent),
            "revealed": len(revealed),
            "not_ours": sealed_by_us.count(False),
            "kept_encrypted": len(sent) - len(revealed),
        },
    )
    return CodecPayloads(payloads=answers)


@router.post(
    "/encode",
    response_model_exclude_unset=True,
    responses={
        401: {"description": "neither a console session nor a bearer token"},
        403: {"description": "not a supervisor, another namespace, or a session from elsewhere"},
    },
)
async def encode(
    body: CodecPayloads,
    supervisor: CodecSupervisor,
    namespace: Namespace,
    runtime: RuntimeDep,
    session: SessionDep,
    preserve_storage_refs: PreserveStorageRefs = False,
) -> CodecPayloads:
    """Encrypt payloads under the active key, as the API and the worker do. A sealed payload
    drives nothing by itself: every decision also needs the API's signature (SPEC 10.2). Audited
    as a decode is: who sealed how many, in which namespace."""
    sent = [_to_proto(each) for each in body.payloads]
    sealed = await _codec_for(runtime.settings).encode(sent)
    await audit_read(
        session,
        supervisor,
        "codec_encode",
        detail={"namespace": namespace, "payloads": len(sent)},
    )
    return CodecPayloads(
        payloads=[
            _to_json(each, given.externalPayloads)
            for each, given in zip(sealed, body.payloads, strict=True)
        ]
    )
