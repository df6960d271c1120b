"""The interceptors that sign and check every `SignedMessage` crossing Temporal (SPEC 10.2).

What is signed, how, and why the checks are patched is told in `infra/decision_signing.py`, which
holds the signing itself (plain functions, mutation-tested with the fast tests); this module only
puts it on each side of the boundary: the client's outbound calls, a workflow's outbound calls,
and a workflow's inbound start, signals and Updates.
"""

from __future__ import annotations

from typing import Any, NoReturn

from temporalio import client, workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from infra.decision_signing import (
    SIGNED_SIGNALS_PATCH,
    SIGNED_STARTS_PATCH,
    clear_all,
    input_signed,
    sign_all,
    signed_by_api,
    unsigned_refusal,
)


class _SigningClient(client.OutboundInterceptor):
    def __init__(self, next_: client.OutboundInterceptor, key: bytes) -> None:
        super().__init__(next_)
        self._key = key

    async def signal_workflow(self, input: client.SignalWorkflowInput) -> None:
        input.args = sign_all(self._key, input.id, input.signal, input.args)
        await super().signal_workflow(input)

    async def start_workflow_update(
        self, input: client.StartWorkflowUpdateInput
    ) -> client.WorkflowUpdateHandle[Any]:
        input.args = sign_all(self._key, input.id, input.update, input.args)
        return await super().start_workflow_update(input)

    async def start_workflow(
        self, input: client.StartWorkflowInput
    ) -> client.WorkflowHandle[Any, Any]:
        input.args = sign_all(self._key, input.id, input.workflow, input.args)
        return await super().start_workflow(input)


class _SigningWorkflow(WorkflowOutboundInterceptor):
    def __init__(self, next_: WorkflowOutboundInterceptor, key: bytes) -> None:
        super().__init__(next_)
        self._key = key

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        input.args = sign_all(self._key, input.workflow_id, input.signal, input.args)
        await super().signal_external_workflow(input)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        input.args = sign_all(self._key, input.child_workflow_id, input.signal, input.args)
        await super().signal_child_workflow(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        input.args = sign_all(self._key, input.id, input.workflow, input.args)
        return await super().start_child_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        info = workflow.info()
        name = input.workflow or info.workflow_type
        input.args = sign_all(self._key, info.workflow_id, name, input.args)
        super().continue_as_new(input)


class DecisionSigning(client.Interceptor, Interceptor):
    """Signs on the way into Temporal; checks, and clears, before any workflow handler.
    `key` signs; `key` and each of `retired` verify."""

    def __init__(self, key: bytes, *retired: bytes) -> None:
        self._key = key
        self._keys = (key, *retired)

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _SigningClient(next, self._key)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        key, keys = self._key, self._keys

        class _CheckingInbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_SigningWorkflow(outbound, key))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                info = workflow.info()
                if not input_signed(keys, info.workflow_id, info.workflow_type, input.args) and (
                    workflow.patched(SIGNED_STARTS_PATCH)
                ):
                    raise ApplicationError(
                        f"{info.workflow_type} was started without the API's signature",
                        type="UnsignedStart",
                        non_retryable=True,
                    )
                input.args = clear_all(input.args)
                return await super().execute_workflow(input)

            async def handle_signal(self, input: HandleSignalInput) -> None:
                workflow_id = workflow.info().workflow_id
                if not signed_by_api(keys, workflow_id, input.signal, input.args) and (
                    workflow.patched(SIGNED_SIGNALS_PATCH)
                ):
                    workflow.logger.warning(
                        "signal %s dropped: not signed by the CrisisDesk API", input.signal
                    )
                    return
                input.args = clear_all(input.args)
                await super().handle_signal(input)

            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                workflow_id = workflow.info().workflow_id
                if not signed_by_api(keys, workflow_id, input.update, input.args):
                    raise unsigned_refusal(input.update, input.args)
                super().handle_update_validator(
                    HandleUpdateInput(
                        id=input.id,
                        update=input.update,
                        args=clear_all(input.args),
                        headers=input.headers,
                    )
                )

            async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
                input.args = clear_all(input.args)
                return await super().handle_update_handler(input)

        return _CheckingInbound
