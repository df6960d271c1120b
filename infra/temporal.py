"""The one way to reach Temporal: pydantic payloads, encrypted by the codec, for API and worker.

Temporal is a trust boundary (SPEC 10.2): the connection is mutual TLS when the settings name a
client certificate, every payload and failure message is encrypted (and only encrypted payloads
are read back), and every message that changes an incident carries the API's signature
(infra/decision_signing.py).
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from domain.incident import IncidentOpening, workflow_id_for
from infra.codec import Keyring, sealed_data_converter
from infra.decision_signing import decision_keys_for
from infra.settings import Settings
from infra.signing_interceptors import DecisionSigning
from workflows.incident import IncidentWorkflow
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES


def keyring_for(settings: Settings) -> Keyring:
    if settings.encryption_keys:
        return Keyring.parse(settings.encryption_keys)
    return Keyring.development(settings.data_dir)


def data_converter_for(keyring: Keyring) -> DataConverter:
    return sealed_data_converter(keyring)


def tls_for(settings: Settings) -> TLSConfig | bool:
    """Mutual TLS when a client certificate is configured; plaintext otherwise (development)."""
    if settings.temporal_tls_cert is None or settings.temporal_tls_key is None:
        return False
    return TLSConfig(
        client_cert=settings.temporal_tls_cert.read_bytes(),
        client_private_key=settings.temporal_tls_key.read_bytes(),
        server_root_ca_cert=(
            settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None
        ),
        domain=settings.temporal_tls_server_name,
    )


async def connect_temporal(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """The API's and the worker's client; a worker built on it also checks decision
    signatures, since a worker takes its client's interceptors. The worker passes the runtime
    that serves its SDK metrics (infra/metrics_runtime.py)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter_for(keyring_for(settings)),
        interceptors=[DecisionSigning(*decision_keys_for(settings))],
        tls=tls_for(settings),
        runtime=runtime,
    )


async def ensure_search_attributes(client: Client) -> None:
    """Register the incident search attributes if the namespace lacks them (idempotent)."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as error:
        if error.status is not RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in ALL_SEARCH_ATTRIBUTES
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )


async def start_incident(client: Client, opening: IncidentOpening, *, task_queue: str) -> None:
    """Start an incident's workflow under its one id; a second start of that id (running or
    ended) raises `WorkflowAlreadyStartedError`, so a retried opening never opens two."""
    await client.start_workflow(
        IncidentWorkflow.run,
        opening,
        id=workflow_id_for(opening.incident_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
