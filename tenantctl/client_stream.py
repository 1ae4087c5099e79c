"""``tenantctl invoke --stream``: one prompt streamed through the tenant client library.

The operator acts as one of the tenant's workloads would: from the tenant
profile's credentials the library assumes the tenant's workload role, from that
the tenant's invoker role in the operations account, and streams ConverseStream
through a ``ChatBedrockConverse``. The library writes the call's one usage record
(``source: library``) into the tenant's usage log group with the workload role's
credentials, as it does for any workload; nothing here writes a record.

The figures printed after the answer are the record's own, read back from the
usage log group once the library has delivered it: what the tenant's usage and
cost reports will count, not a second measurement. The call's LangChain run id
is its ``invocation_id``, so the record is found by it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bedrock_tenant_client import TenantBedrock
from langchain_core.utils.uuid import uuid7

from contracts.registry import Tenant
from contracts.usage_record import UsageRecord, parse_record
from tenantctl.usage_reader import LogGroupMissing, UsageReader

# How long to wait for the delivery thread, then for the record to be readable:
# CloudWatch Logs shows an event to FilterLogEvents a moment after PutLogEvents.
DELIVERY_TIMEOUT_S = 10.0
READ_BACK_TIMEOUT_S = 10.0
READ_BACK_POLL_S = 0.5


@dataclass(frozen=True)
class StreamedCall:
    """One streamed prompt: its ``invocation_id`` and when it started (epoch ms)."""

    invocation_id: str
    started_ms: int


def open_tenant_bedrock(registry_path: Path, tenant: Tenant, session: Any) -> TenantBedrock:
    """The library for ``tenant``, its settings from the registry, acting as its workload
    role assumed from ``session`` (the tenant profile's credentials).

    The credentials are fetched here, before any model call: a principal the
    workload role does not admit is refused now, with no half-printed answer and
    no record of a call that never started.
    """
    role_arn = tenant.workload_role_arn
    if role_arn is None:
        raise ValueError(f"tenant {tenant.id} has no workload_role")
    bedrock = TenantBedrock.from_registry(
        registry_path, tenant.id, session=session, workload_role_arn=role_arn, region=tenant.region
    )
    try:
        bedrock.credentials.get_frozen_credentials()
    except BaseException:
        bedrock.close()
        raise
    return bedrock


def stream_prompt(
    bedrock: TenantBedrock,
    *,
    prompt: str,
    model_id: str | None,
    application_id: str,
    user_id: str,
    write: Callable[[str], None],
) -> StreamedCall:
    """Stream ``prompt``'s answer, handing each chunk's text to ``write`` as it arrives.

    An exception from the stream (a refusal, a stream failing midway, Ctrl-C)
    propagates; the library has recorded the call as ``error`` or ``cancelled``.
    """
    model = bedrock.chat_model(model_id, application_id=application_id, user_id=user_id)
    invocation_id = uuid7()  # as LangChain makes its run ids
    started_ms = int(time.time() * 1000)
    for chunk in model.stream(prompt, config={"run_id": invocation_id}):
        if text := chunk.text:
            write(text)
    return StreamedCall(str(invocation_id), started_ms)


def read_record(
    logs_client: Any,
    tenant: Tenant,
    call: StreamedCall,
    *,
    user_id: str,
    timeout_s: float = READ_BACK_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> UsageRecord | None:
    """The call's usage record in the tenant's usage log group, or None when it is not
    readable within ``timeout_s`` (still queued, spooled, or not yet searchable)."""
    reader = UsageReader(logs_client)
    deadline = time.monotonic() + timeout_s
    # The record's timestamp is the call's start; a second's slack covers clock skew.
    start_ms = call.started_ms - 1000
    while True:
        try:
            events = reader.events(tenant.usage_log_group, start_ms=start_ms, user=user_id)
        except LogGroupMissing:
            events = []
        for event in events:
            record = parse_record(event.message)
            if record is not None and record.invocation_id == call.invocation_id:
                return record
        if time.monotonic() >= deadline:
            return None
        sleep(READ_BACK_POLL_S)


def is_spooled(bedrock: TenantBedrock, invocation_id: str) -> bool:
    """Whether the call's record waits in the library's spool file (not delivered yet)."""
    return any(
        record.get("invocation_id") == invocation_id for record in bedrock.delivery.spool.pending()
    )
