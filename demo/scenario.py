"""The demo's scenario: what each tenant's deployed function is asked, and what it answered.

Also the readers the checks and the presentation share: a tenant's usage records
read back with its own credentials, and the sessions a function really gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from contracts.naming import INVOKER_ALIAS
from contracts.registry import Tenant, TenantRegistry
from contracts.usage_record import UsageRecord, parse_record
from embedded_aws.cloud import EmbeddedCloud
from embedded_aws.lambda_runner import LAMBDA_SERVICE
from embedded_aws.trust import assume_role_as_service
from tenantctl.usage_reader import filter_events

DEFAULT_REGISTRY = Path("config/tenants.local.yaml")
# (user, application) pairs each tenant's function is invoked with.
DEMO_CALLS: tuple[tuple[str, str], ...] = (
    ("alice", "chat-app"),
    ("bob", "search-app"),
    ("alice", "search-app"),
    ("bob", "chat-app"),
)
DEMO_PROMPTS: tuple[str, ...] = (
    "Reply to jane.doe@example.com: summarise her support ticket in one line.",
    "Which regions does our Bedrock quota cover?",
    "Suggest three search keywords for invoice disputes.",
    "Draft a two-sentence greeting for a new customer.",
)
# Valid in form, on no tenant's allowlist: the function must refuse it cleanly.
OFF_LIST_MODEL = "anthropic.claude-3-opus-20240229-v1:0"
VALIDATION_ERROR = "ValidationError"
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException"}


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One ``lambda.invoke`` of a tenant's deployed function and what it answered."""

    tenant_id: str
    account_id: str
    event: Mapping[str, Any]
    payload: Any
    function_error: str | None

    @property
    def error(self) -> Mapping[str, Any] | None:
        """The function's ``{"type", "message"}`` error result, if it returned one."""
        if isinstance(self.payload, dict) and isinstance(self.payload.get("error"), dict):
            error: Mapping[str, Any] = self.payload["error"]
            return error
        return None

    @property
    def error_type(self) -> str | None:
        """The error result's type (None for an answer)."""
        return None if self.error is None else str(self.error.get("type"))

    @property
    def writes_record(self) -> bool:
        """Whether the function must have logged a usage record for this invocation.

        Answers and model errors (refused, throttled ...) are the tenant's
        business and are logged; an event rejected by validation never reached
        a model and writes nothing; an unhandled crash is a bug, counted apart.
        """
        return self.function_error is None and self.error_type != VALIDATION_ERROR


@dataclass(frozen=True)
class FoundRecord:
    """A usage record and where it was found."""

    account_id: str
    log_group: str
    stream: str
    record: UsageRecord


@dataclass
class Scenario:
    """The invocations of one demo run and the time window they were made in."""

    outcomes: list[Outcome] = field(default_factory=list)
    started_ms: int = 0
    finished_ms: int = 0

    @property
    def user_ids(self) -> tuple[str, ...]:
        """Every user id that was sent to a function."""
        return tuple(dict.fromkeys(str(o.event.get("user_id", "")) for o in self.outcomes))


# --- invoking and reading --------------------------------------------------------------------


def demo_events(tenant: Tenant) -> list[dict[str, Any]]:
    """The events the demo sends to one tenant's function."""
    # Cycle through the tenant's allowed models, so each of them is exercised.
    events: list[dict[str, Any]] = [
        {
            "prompt": prompt,
            "user_id": user,
            "application_id": app,
            "model_id": tenant.models[i % len(tenant.models)],
            "max_tokens": 200,
        }
        for i, ((user, app), prompt) in enumerate(zip(DEMO_CALLS, DEMO_PROMPTS, strict=True))
    ]
    off_list = OFF_LIST_MODEL
    if off_list in tenant.models:  # pragma: no cover - only for an unusual registry
        off_list = "anthropic.claude-instant-v1"
    events.append(
        {
            "prompt": "Use a model this tenant was never given.",
            "user_id": "alice",
            "application_id": "chat-app",
            "model_id": off_list,
        }
    )
    return events


def invoke_tenant(cloud: EmbeddedCloud, tenant: Tenant, event: Mapping[str, Any]) -> Outcome:
    """``lambda.invoke`` the tenant's deployed function (its alias, as every caller does)
    as the tenant account's deployer."""
    target = f"{tenant.function_name}:{INVOKER_ALIAS}"
    answer = cloud.invoke(tenant.account_id, target, event, region=tenant.region)
    return Outcome(
        tenant_id=tenant.id,
        account_id=tenant.account_id,
        event=dict(event),
        payload=answer["payload"],
        function_error=answer["function_error"],
    )


def now_ms() -> int:
    """Wall-clock milliseconds, the unit of CloudWatch Logs timestamps."""
    return int(time.time() * 1000)


def run_scenario(
    cloud: EmbeddedCloud,
    registry: TenantRegistry,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Scenario:
    """Invoke every tenant's function with ``demo_events``; return what each answered."""
    scenario = Scenario(started_ms=now_ms() - 1)
    for tenant in registry.resolved_tenants():
        for event in demo_events(tenant):
            outcome = invoke_tenant(cloud, tenant, event)
            scenario.outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    scenario.finished_ms = now_ms() + 1
    return scenario


def _log_group_names(logs: Any) -> list[str]:
    names: list[str] = []
    for page in logs.get_paginator("describe_log_groups").paginate():
        names += [g["logGroupName"] for g in page.get("logGroups", [])]
    return names


def log_group_names(cloud: EmbeddedCloud, account_id: str, region: str | None = None) -> list[str]:
    """Every log group of an account, listed with its deployer's credentials."""
    return _log_group_names(cloud.client("logs", account_id, region))


def usage_records(
    cloud: EmbeddedCloud,
    tenant: Tenant,
    *,
    start_ms: int = 0,
    end_ms: int | None = None,
) -> list[FoundRecord]:
    """The usage records in a tenant's usage log group, read with the tenant's credentials."""
    logs = cloud.client("logs", tenant.account_id, tenant.region)
    return [
        FoundRecord(tenant.account_id, tenant.usage_log_group, event.stream, record)
        for event in filter_events(logs, tenant.usage_log_group, start_ms=start_ms, end_ms=end_ms)
        if (record := parse_record(event.message)) is not None
    ]


def scan_usage_records(
    cloud: EmbeddedCloud, account_ids: Sequence[str], region: str | None = None
) -> Iterator[FoundRecord]:
    """Every usage record in every log group of the given accounts (fallback prints too)."""
    for account_id in account_ids:
        logs = cloud.client("logs", account_id, region)
        for group in _log_group_names(logs):
            for event in filter_events(logs, group, start_ms=0):
                record = parse_record(event.message)
                if record is not None:
                    yield FoundRecord(account_id, group, event.stream, record)


def lambda_execution_session(cloud: EmbeddedCloud, tenant: Tenant) -> boto3.Session:
    """A session on the tenant function's execution role, obtained as Lambda obtains it.

    The role trusts only ``lambda.amazonaws.com``, so no user can assume it. The
    embedded Lambda runner gets a function's credentials by checking the role's
    trust policy for the Lambda service and having the role's account's STS
    issue a session; this does exactly that, for the role the deployed function
    is configured with.
    """
    config = cloud.client("lambda", tenant.account_id, tenant.region).get_function_configuration(
        FunctionName=tenant.function_name
    )
    credentials = assume_role_as_service(
        LAMBDA_SERVICE,
        str(config["Role"]),
        session_name=tenant.function_name,
        region=tenant.region,
        duration_seconds=900,
    )
    return boto3.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=tenant.region,
    )


def assume_role(
    cloud: EmbeddedCloud, source: boto3.Session, role_arn: str, session_name: str, **extra: str
) -> boto3.Session:
    sts: Any = source.client("sts", endpoint_url=cloud.endpoint_url)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, **extra)["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=source.region_name,
    )


def invoker_session(
    cloud: EmbeddedCloud, registry: TenantRegistry, tenant: Tenant
) -> boto3.Session:
    """The tenant's invoker-role session in the operations account, as its function gets it."""
    return assume_role(
        cloud,
        lambda_execution_session(cloud, tenant),
        registry.invoker_role_arn(tenant.id),
        tenant.id,
        ExternalId=tenant.external_id,
    )


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
