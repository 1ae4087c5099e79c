"""``make demo``: the whole product on the embedded AWS, and the checks that prove isolation.

Run as ``python -m tenantctl.local.demo [--registry config/tenants.local.yaml]``:

1. start the embedded AWS with one account per registry entry;
2. ``deploy_registry``: the real CDK CLI bootstraps every account and deploys
   every stack with that account's own credentials;
3. invoke each tenant's *deployed* function through ``lambda.invoke`` (two
   users, two applications, plus one model outside the tenant's allowlist);
4. print each tenant's usage records as read back from its own log group with
   its own credentials;
5. run the isolation checks, print PASS/FAIL with a reason each, and exit 1 if
   any failed. The cloud is stopped in every case, Ctrl-C included.

The checks are plain functions returning ``CheckResult`` so that ``tests/e2e``
runs the very same code against its own deployment.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto.sts.models import sts_backends
from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from tenantctl import naming
from tenantctl.local.cloud import EmbeddedCloud
from tenantctl.local.deploy import DeployError, deploy_registry
from tenantctl.local.iam_policy import Decision, Request, evaluate
from tenantctl.local.identity import (
    PARTITION,
    CallerIdentity,
    identity_policies,
    resolve_access_key,
)
from tenantctl.local.lambda_runner import LAMBDA_SERVICE
from tenantctl.local.trust import (
    ASSUME_ROLE,
    AssumeRoleCall,
    authorize_service_assume_role,
)
from tenantctl.registry import RegistryError, Tenant, TenantRegistry, load_registry
from tenantctl.usage import UsageRecord, filter_events, parse_record

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
class CheckResult:
    """One isolation check: its name, whether it passed, and a one-line reason."""

    name: str
    passed: bool
    reason: str


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
    """``lambda.invoke`` the tenant's deployed function as the tenant account's deployer."""
    answer = cloud.invoke(tenant.account_id, tenant.function_name, event, region=tenant.region)
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
    role_arn = str(config["Role"])
    call = AssumeRoleCall(role_arn=role_arn, role_session_name=tenant.function_name)
    authorize_service_assume_role(LAMBDA_SERVICE, call)
    session = sts_backends[tenant.account_id][PARTITION].assume_role(
        region_name=tenant.region,
        role_session_name=tenant.function_name,
        role_arn=role_arn,
        policy=None,  # type: ignore[arg-type]  # moto accepts None (no session policy)
        duration=900,
        external_id=None,  # type: ignore[arg-type]  # moto accepts None
    )
    return boto3.Session(
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
        region_name=tenant.region,
    )


def _assume(
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
    return _assume(
        cloud,
        lambda_execution_session(cloud, tenant),
        registry.invoker_role_arn(tenant.id),
        tenant.id,
        ExternalId=tenant.external_id,
    )


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# --- checks ----------------------------------------------------------------------------------


def ops_own_log_groups(cloud: EmbeddedCloud, registry: TenantRegistry) -> set[str]:
    """Log groups the operations stack itself declares for its own functions (``/aws/lambda/``).

    The deploy-time invocation-logging guard is a Lambda in the operations
    account with an explicit log group; it holds the guard's own decisions.
    """
    ops = registry.operations
    cfn = cloud.client("cloudformation", ops.account_id, ops.region)
    try:
        pages = cfn.get_paginator("list_stack_resources").paginate(
            StackName=naming.OPERATIONS_STACK_NAME
        )
        return {
            str(r["PhysicalResourceId"])
            for page in pages
            for r in page.get("StackResourceSummaries", [])
            if r.get("ResourceType") == "AWS::Logs::LogGroup"
            and str(r.get("PhysicalResourceId", "")).startswith("/aws/lambda/")
        }
    except ClientError:
        return set()


def check_ops_account_holds_no_logs(
    cloud: EmbeddedCloud, registry: TenantRegistry, user_ids: Sequence[str] = ()
) -> CheckResult:
    """The operations account holds no usage log group and no usage record or user id.

    The only log groups tolerated there are the operations stack's own function
    log groups (the invocation-logging guard's); they are scanned too: not one
    usage record, tenant id field or user id may appear in them.
    """
    name = "operations account holds no tenant logs"
    ops = registry.operations
    groups = log_group_names(cloud, ops.account_id, ops.region)
    own = ops_own_log_groups(cloud, registry)
    problems: list[str] = []
    foreign = [g for g in groups if g not in own]
    if foreign:
        problems.append(f"log group(s) {', '.join(foreign)}")
    records = list(scan_usage_records(cloud, [ops.account_id], ops.region))
    if records:
        tenants = sorted({r.record.tenant_id for r in records})
        problems.append(f"{len(records)} usage record(s) of {', '.join(tenants)}")
    patterns = [re.compile(rf"\b{re.escape(u)}\b") for u in user_ids if u]
    patterns.append(re.compile(r'"(tenant_id|user_id|application_id)"\s*:'))
    logs = cloud.client("logs", ops.account_id, ops.region)
    mentioned = {
        group
        for group in groups
        for event in filter_events(logs, group, start_ms=0)
        if any(p.search(event.message) for p in patterns)
    }
    if mentioned:
        problems.append(f"user or tenant fields in {', '.join(sorted(mentioned))}")
    if problems:
        return CheckResult(name, False, f"{ops.account_id} holds " + "; ".join(problems))
    if not groups:
        return CheckResult(name, True, f"{ops.account_id} has no log group at all, no record")
    return CheckResult(
        name,
        True,
        f"{ops.account_id}: no usage log group, no record; only its own guard log "
        f"({', '.join(sorted(groups))}), free of user ids",
    )


def check_ops_invocation_logging_off(cloud: EmbeddedCloud, registry: TenantRegistry) -> CheckResult:
    """Bedrock's model-invocation logging is off in the operations account and region.

    AWS omits ``loggingConfig`` when it is off; moto 5.2.5 implements the call
    and answers ``"loggingConfig": null`` instead, which botocore parses as an
    empty dict. Both count as off; any configured destination does not.
    """
    name = "Bedrock invocation logging off in operations account"
    ops = registry.operations
    try:
        response = cloud.client(
            "bedrock", ops.account_id, ops.region
        ).get_model_invocation_logging_configuration()
    except ClientError as error:
        return CheckResult(
            name, False, f"cannot read the setting ({_error_code(error)}): not verified"
        )
    config = response.get("loggingConfig")
    if config:
        return CheckResult(name, False, f"loggingConfig is set: {json.dumps(config)[:120]}")
    shape = "absent" if "loggingConfig" not in response else "empty (moto's null)"
    return CheckResult(
        name,
        True,
        f"GetModelInvocationLoggingConfiguration in {ops.account_id}: loggingConfig {shape} "
        "(moto-emulated API)",
    )


def check_records_in_own_accounts(
    cloud: EmbeddedCloud, registry: TenantRegistry, scenario: Scenario
) -> CheckResult:
    """Every usage record sits in its own tenant's account, and none was lost.

    Every log group of every embedded account is scanned: a record whose
    ``tenant_id`` belongs to another account fails the check. Then each
    tenant's usage log group must hold exactly one record per invocation of the
    scenario that should have written one.
    """
    name = "every usage record in its own tenant's account, none lost"
    tenants = registry.resolved_tenants()
    account_of = {t.id: t.account_id for t in tenants}
    all_accounts = [registry.operations.account_id, *account_of.values()]
    misplaced = [
        r
        for r in scan_usage_records(cloud, list(dict.fromkeys(all_accounts)))
        if account_of.get(r.record.tenant_id) != r.account_id
    ]
    if misplaced:
        first = misplaced[0]
        return CheckResult(
            name,
            False,
            f"{len(misplaced)} misplaced record(s), e.g. tenant '{first.record.tenant_id}' "
            f"in {first.account_id} {first.log_group}",
        )
    crashed = [o for o in scenario.outcomes if o.function_error]
    if crashed:
        return CheckResult(name, False, f"{len(crashed)} invocation(s) crashed (Unhandled)")
    problems: list[str] = []
    total = 0
    for tenant in tenants:
        expected = sum(1 for o in scenario.outcomes if o.tenant_id == tenant.id and o.writes_record)
        found = usage_records(
            cloud, tenant, start_ms=scenario.started_ms, end_ms=scenario.finished_ms
        )
        total += len(found)
        if len(found) != expected:
            fallback = [
                r
                for r in scan_usage_records(cloud, [tenant.account_id], tenant.region)
                if r.record.is_fallback
            ]
            problems.append(
                f"{tenant.id}: {len(found)}/{expected} records in {tenant.usage_log_group}"
                + (f", {len(fallback)} only printed as fallback" if fallback else "")
            )
        wrong = [r for r in found if r.record.tenant_id != tenant.id]
        if wrong:
            problems.append(f"{tenant.id}: {len(wrong)} record(s) of another tenant")
    if problems:
        return CheckResult(name, False, "; ".join(problems))
    return CheckResult(
        name,
        True,
        f"{total} records, each in its tenant's account; one per invocation "
        f"({len(scenario.outcomes)} invocations, none lost, none elsewhere)",
    )


def check_bedrock_calls_attributed(
    cloud: EmbeddedCloud, registry: TenantRegistry, user_ids: Sequence[str] = ()
) -> CheckResult:
    """Every Bedrock call came from the operations account as the right tenant's invoker role.

    Each call: account = operations, role = ``bedrock-invoker-<tenant>`` of a
    registered tenant, session name = that tenant id, no user id in the session
    name or the request metadata. Each usage record's request id must match a
    call made as its own tenant's role.
    """
    name = "every Bedrock call from the ops account as the right tenant's invoker role"
    ops = registry.operations.account_id
    tenants = registry.resolved_tenants()
    role_tenant = {registry.invoker_role_arn(t.id): t.id for t in tenants}
    calls = cloud.bedrock.calls()
    if not calls:
        return CheckResult(name, False, "the emulator saw no Bedrock call at all")
    for call in calls:
        tenant_id = role_tenant.get(call.role_arn or "")
        if call.account_id != ops:
            return CheckResult(
                name, False, f"call {call.request_id} from account {call.account_id}"
            )
        if tenant_id is None:
            return CheckResult(name, False, f"call {call.request_id} as {call.principal_arn}")
        if call.session_name != tenant_id:
            return CheckResult(
                name, False, f"call as {tenant_id}'s role with session '{call.session_name}'"
            )
        exposed = json.dumps([call.session_name, call.request_metadata])
        leaked = [u for u in user_ids if u and re.search(rf"\b{re.escape(u)}\b", exposed)]
        if leaked:
            return CheckResult(name, False, f"user id {leaked[0]!r} visible in the ops account")
    by_request = {c.request_id: c for c in calls}
    matched = 0
    for tenant in tenants:
        for found in usage_records(cloud, tenant):
            request_id = found.record.request_id
            if not request_id:
                continue
            served = by_request.get(request_id)
            if served is None:
                return CheckResult(name, False, f"{tenant.id} record {request_id}: no such call")
            if role_tenant.get(served.role_arn or "") != tenant.id:
                return CheckResult(
                    name, False, f"{tenant.id} record {request_id} was served as {served.role_arn}"
                )
            matched += 1
    return CheckResult(
        name,
        True,
        f"{len(calls)} calls, all from {ops} as bedrock-invoker-<tenant> with session = tenant "
        f"id; {matched} records matched to their own tenant's call; no user id seen",
    )


# The inline policy the cross-tenant check puts on a tenant's function role for its duration.
WIDENING_POLICY_NAME = "isolation-check-compromised-admin-widening"


def _caller(session: boto3.Session) -> CallerIdentity:
    """Who the embedded cloud takes a session's credentials for."""
    credentials = session.get_credentials()
    caller = resolve_access_key(credentials.access_key) if credentials is not None else None
    if caller is None:
        raise RuntimeError("the embedded cloud does not know this session's access key")
    return caller


def _identity_allows_assume_role(caller: CallerIdentity, role_arn: str) -> bool:
    """Whether the caller's own identity policies allow ``sts:AssumeRole`` on ``role_arn``.

    Evaluated by the embedded cloud's IAM evaluator, exactly as its STS does
    for a cross-account AssumeRole; the trust policy is not consulted.
    """
    request = Request(ASSUME_ROLE, role_arn, caller.principal, {})
    return evaluate(identity_policies(caller), request).decision is Decision.ALLOW


def check_cross_tenant_assume_role_denied(
    cloud: EmbeddedCloud, registry: TenantRegistry
) -> CheckResult:
    """Only a tenant's own function role can assume its invoker role; its trust alone decides.

    Attacker model: a compromised tenant administrator. With A's deployer
    credentials they give A's function (execution) role an inline policy
    allowing ``sts:AssumeRole`` on every other tenant's invoker role, so A's
    identity policy no longer hides what B's trust policy does. For every
    ordered pair (A, B), A's role then calls AssumeRole on B's invoker role
    with B's ExternalId *and* B's session name (B's tenant id): nothing but B's
    trust policy is left to refuse, and it must (AccessDenied). The widening
    policy is removed afterwards, whatever happens.

    Every tenant has its own account, so B's trust principal (account B)
    already refuses A; what refuses every *other* principal of B's account is
    the ``aws:PrincipalArn`` pin. So B's own administrator (B's deployer user,
    allowed ``*``) makes the same call and must be refused too: a trust policy
    that lost the pin fails this check, one whose principal became ``*``
    without the pin fails it on the cross-tenant calls already.

    Controls, so that neither a cloud that denies everything nor a widening
    that did not take passes: A's role with A's ExternalId and session name
    assumes A's own invoker role, and every refused caller's identity policies
    allow the call it made (as the embedded STS evaluates them).
    """
    name = "only a tenant's own function role can assume its invoker role"
    tenants = registry.resolved_tenants()
    pairs = 0
    for a in tenants:
        source = lambda_execution_session(cloud, a)
        try:
            _assume(cloud, source, registry.invoker_role_arn(a.id), a.id, ExternalId=a.external_id)
        except ClientError as error:
            return CheckResult(name, False, f"{a.id} cannot even assume its own role: {error}")
        targets = [(b, registry.invoker_role_arn(b.id)) for b in tenants if b.id != a.id]
        if not targets:
            continue
        caller = _caller(source)
        role_name = str(caller.role_name)
        iam = cloud.client("iam", a.account_id, a.region)  # A's deployer: the compromised admin
        iam.put_role_policy(
            RoleName=role_name,
            PolicyName=WIDENING_POLICY_NAME,
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ASSUME_ROLE,
                            "Resource": [arn for _, arn in targets],
                        }
                    ],
                }
            ),
        )
        try:
            for b, target in targets:
                if not _identity_allows_assume_role(caller, target):
                    return CheckResult(
                        name, False, f"widening {a.id}'s role did not allow AssumeRole on {target}"
                    )
                try:
                    _assume(cloud, source, target, b.id, ExternalId=b.external_id)
                except ClientError as error:
                    if _error_code(error) not in ACCESS_DENIED:
                        return CheckResult(name, False, f"{a.id}→{b.id}: {_error_code(error)}")
                    pairs += 1
                    continue
                return CheckResult(
                    name,
                    False,
                    f"{a.id}'s widened role assumed bedrock-invoker-{b.id} with {b.id}'s "
                    f"ExternalId and session name: {b.id}'s trust admits another tenant's role",
                )
        finally:
            iam.delete_role_policy(RoleName=role_name, PolicyName=WIDENING_POLICY_NAME)
    admins = 0
    for b in tenants:
        target = registry.invoker_role_arn(b.id)
        admin = cloud.session(b.account_id, b.region)
        if not _identity_allows_assume_role(_caller(admin), target):
            return CheckResult(name, False, f"{b.id}'s admin user may not call AssumeRole at all")
        try:
            _assume(cloud, admin, target, b.id, ExternalId=b.external_id)
        except ClientError as error:
            if _error_code(error) not in ACCESS_DENIED:
                return CheckResult(name, False, f"{b.id}'s admin: {_error_code(error)}")
            admins += 1
            continue
        return CheckResult(
            name,
            False,
            f"{b.id}'s admin user assumed bedrock-invoker-{b.id} with its ExternalId and session "
            f"name: the trust admits any principal of {b.account_id} (no aws:PrincipalArn pin)",
        )
    crossed = (
        f"{pairs} cross-tenant AssumeRole call(s) by a function role widened with its admin's "
        "credentials (identity policy allowing the target; target's ExternalId and session "
        "name) → AccessDenied by the target's trust; widening removed"
        if pairs
        else "one tenant: no cross-tenant call (not exercised)"
    )
    return CheckResult(
        name,
        True,
        f"attacker = compromised tenant admin: {crossed}; {admins} call(s) by the target "
        "account's own admin → AccessDenied (aws:PrincipalArn pin); own roles allowed",
    )


def check_wrong_external_id_denied(cloud: EmbeddedCloud, registry: TenantRegistry) -> CheckResult:
    """A tenant's function role cannot assume its own invoker role without its ExternalId."""
    name = "wrong or missing ExternalId on a tenant's own invoker role is denied"
    attempts = 0
    for tenant in registry.resolved_tenants():
        source = lambda_execution_session(cloud, tenant)
        role_arn = registry.invoker_role_arn(tenant.id)
        for extra in ({"ExternalId": f"{tenant.external_id}-wrong"}, {}):
            try:
                _assume(cloud, source, role_arn, tenant.id, **extra)
            except ClientError as error:
                if _error_code(error) not in ACCESS_DENIED:
                    return CheckResult(name, False, f"{tenant.id}: {_error_code(error)}")
                attempts += 1
                continue
            what = "a wrong" if extra else "no"
            return CheckResult(name, False, f"{tenant.id} assumed its role with {what} ExternalId")
    return CheckResult(
        name, True, f"{attempts} attempts (wrong / missing ExternalId) → AccessDenied"
    )


def _converse(cloud: EmbeddedCloud, session: boto3.Session, model_id: str) -> str:
    """``success`` or the error code of one Converse call."""
    client: Any = session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url)
    try:
        client.converse(
            modelId=model_id,
            messages=[{"role": "user", "content": [{"text": "Which model am I?"}]}],
            inferenceConfig={"maxTokens": 20},
        )
    except ClientError as error:
        return _error_code(error)
    return "success"


def check_other_tenants_models_denied(
    cloud: EmbeddedCloud, registry: TenantRegistry
) -> CheckResult:
    """A tenant's invoker role cannot call a model only another tenant may use.

    For every ordered pair (A, B) and every model B may use and A may not, A's
    invoker credentials call Converse on it and must get AccessDeniedException
    from the emulator's identity-policy check; A's own default model must work.
    """
    name = "a tenant cannot use a model only another tenant may use"
    tenants = registry.resolved_tenants()
    denied: list[str] = []
    for a in tenants:
        exclusive = sorted({m for b in tenants if b.id != a.id for m in b.models} - set(a.models))
        if not exclusive:
            continue
        session = invoker_session(cloud, registry, a)
        control = _converse(cloud, session, a.default_model)
        if control != "success":
            return CheckResult(name, False, f"{a.id}'s own model {a.default_model}: {control}")
        for model in exclusive:
            outcome = _converse(cloud, session, model)
            if outcome != "AccessDeniedException":
                return CheckResult(name, False, f"{a.id} calling {model}: {outcome}")
            denied.append(f"{a.id}→{model}")
    if not denied:
        return CheckResult(name, True, "every tenant has the same models (not exercised)")
    return CheckResult(
        name, True, f"AccessDeniedException for {', '.join(denied)}; own models answered"
    )


def run_checks(
    cloud: EmbeddedCloud, registry: TenantRegistry, scenario: Scenario
) -> list[CheckResult]:
    """Every isolation check, in the order the demo prints them."""
    users = scenario.user_ids
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        (
            "operations account holds no tenant logs",
            lambda: check_ops_account_holds_no_logs(cloud, registry, users),
        ),
        (
            "Bedrock invocation logging off",
            lambda: check_ops_invocation_logging_off(cloud, registry),
        ),
        (
            "usage records placement",
            lambda: check_records_in_own_accounts(cloud, registry, scenario),
        ),
        (
            "Bedrock call attribution",
            lambda: check_bedrock_calls_attributed(cloud, registry, users),
        ),
        ("cross-tenant AssumeRole", lambda: check_cross_tenant_assume_role_denied(cloud, registry)),
        ("ExternalId", lambda: check_wrong_external_id_denied(cloud, registry)),
        ("other tenants' models", lambda: check_other_tenants_models_denied(cloud, registry)),
    ]
    results: list[CheckResult] = []
    for label, check in checks:
        try:
            results.append(check())
        except Exception as error:  # a check that cannot run is a failed check
            reason = f"could not run: {type(error).__name__}: {error}"
            results.append(CheckResult(label, False, " ".join(reason.split())[:200]))
    return results


# --- presentation ----------------------------------------------------------------------------


class _Steps:
    """Prints one line per finished step with its duration; a spinner while it runs."""

    def __init__(self, console: Console, started: float) -> None:
        self.console = console
        self.started = started
        self._status: Status | None = None
        self._step: str | None = None
        self._step_started = 0.0

    def _stamp(self) -> str:
        return f"[dim]\\[{time.perf_counter() - self.started:6.1f}s][/dim]"

    def begin(self, step: str) -> None:
        self.end()
        self._step, self._step_started = step, time.perf_counter()
        self._status = self.console.status(escape(step))
        self._status.start()

    def update(self, detail: str) -> None:
        if self._status is not None and self._step is not None:
            self._status.update(f"{escape(self._step)} [dim]{escape(detail[:90])}[/dim]")

    def end(self, note: str = "") -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._step is not None:
            took = time.perf_counter() - self._step_started
            self.console.print(
                f"{self._stamp()} [green]✓[/green] {escape(self._step)} [dim]({took:.1f}s)"
                f"{' ' + escape(note) if note else ''}[/dim]"
            )
            self._step = None

    def fail(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._step is not None:
            self.console.print(f"{self._stamp()} [red]✗[/red] {escape(self._step)}")
            self._step = None

    def deploy_progress(self, line: str) -> None:
        """The ``progress`` callback of ``deploy_registry``: one step per ``==>`` line."""
        if line.startswith("==> "):
            step = line.removeprefix("==> ")
            self.begin(f"cdk {step}")
        elif line.strip():
            self.update(line.strip())


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_outcome(console: Console, outcome: Outcome) -> None:
    event = outcome.event
    who = f"{outcome.tenant_id:<7} {event.get('user_id')}/{event.get('application_id')}"
    if outcome.function_error:
        console.print(f"  [red]{escape(who)} → crashed: {escape(str(outcome.payload))[:100]}")
        return
    if outcome.error is not None:
        console.print(
            f"  {escape(who):<26} [yellow]→ {escape(str(outcome.error_type))}:[/yellow] "
            f"{escape(_short(str(outcome.error.get('message')), 80))}"
        )
        return
    usage = outcome.payload.get("usage", {})
    console.print(
        f"  {escape(who):<26} → {escape(_short(str(outcome.payload.get('output')), 60))!r} "
        f"[dim]({usage.get('input_tokens')}→{usage.get('output_tokens')} tokens, "
        f"{outcome.payload.get('latency_ms')} ms)[/dim]"
    )


def _content_preview(record: UsageRecord) -> str:
    prompt = record.prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        prompt = prompt[-1].get("content")
    return _short(str(prompt), 60) if prompt else "—"


def usage_table(tenant: Tenant, records: Sequence[FoundRecord]) -> Table:
    """A tenant's usage records as a rich table."""
    table = Table(
        title=(
            f"{tenant.id} ({tenant.account_id}): {tenant.usage_log_group}, "
            f"log_content={tenant.log_content.value}"
        ),
        title_justify="left",
    )
    streams = Counter(found.stream for found in records)
    table.caption = "log streams (one per user): " + ", ".join(
        f"{stream} ({count})" for stream, count in sorted(streams.items())
    )
    table.caption_justify = "left"
    for column in ("user", "application", "model", "in", "out", "latency", "status"):
        table.add_column(
            column, justify="right" if column in {"in", "out", "latency"} else "left", no_wrap=True
        )
    table.add_column("prompt as logged", no_wrap=True, max_width=34, overflow="ellipsis")
    for found in records:
        r = found.record
        status = "[green]success[/green]" if not r.is_error else f"[red]{escape(str(r.error_type))}"
        latency = f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "—"
        table.add_row(
            escape(r.user_id),
            escape(r.application_id),
            escape(r.model_id),
            str(r.input_tokens),
            str(r.output_tokens),
            latency,
            status,
            escape(_content_preview(r)),
        )
    return table


def _quiet_moto() -> None:
    # moto logs a warning per template resource it skips (CDK metadata, bucket and
    # topic policies); that is the embedded cloud's business, not the demo's.
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)


def run_demo(registry_path: Path, console: Console) -> int:
    """The whole demo; returns the process exit code."""
    started = time.perf_counter()
    try:
        registry = load_registry(registry_path)
    except RegistryError as error:
        for issue in error.issues:
            console.print(f"error: {registry_path}: {issue}")
        return 2
    _quiet_moto()
    steps = _Steps(console, started)
    console.rule("Centralized Bedrock, tenant-isolated usage logs: embedded AWS demo")
    ok = False
    try:
        steps.begin("start the embedded AWS")
        with EmbeddedCloud(registry=registry) as cloud:
            accounts = [f"{registry.operations.account_id} (operations)"] + [
                f"{t.account_id} ({t.id})" for t in registry.resolved_tenants()
            ]
            steps.end(f"{cloud.endpoint_url}; accounts {', '.join(accounts)}")
            try:
                deploy_registry(cloud, registry_path, progress=steps.deploy_progress)
            except DeployError as error:
                steps.fail()
                console.print(f"[red]deploy failed:[/red] {escape(str(error))}")
                return 1
            steps.end()
            ok = _after_deploy(cloud, registry, console, steps)
    except KeyboardInterrupt:
        steps.fail()
        console.print("[red]interrupted: the embedded cloud was stopped[/red]")
        return 130
    finally:
        total = time.perf_counter() - started
        console.print(f"total wall time: {total:.1f}s ({int(total // 60)}m{total % 60:04.1f}s)")
    return 0 if ok else 1


def _after_deploy(
    cloud: EmbeddedCloud, registry: TenantRegistry, console: Console, steps: _Steps
) -> bool:
    console.rule(f"lambda.invoke on {cloud.endpoint_url}, each tenant's deployed function")
    steps.begin("invoke every tenant's function")
    outcomes: list[Outcome] = []

    def on_outcome(outcome: Outcome) -> None:
        outcomes.append(outcome)
        steps.update(f"{outcome.tenant_id}: {len(outcomes)} invocation(s)")

    scenario = run_scenario(cloud, registry, on_outcome=on_outcome)
    steps.end(f"{len(scenario.outcomes)} invocations")
    for outcome in scenario.outcomes:
        _print_outcome(console, outcome)

    console.rule("usage records, read from each tenant's own log group with its own credentials")
    for tenant in registry.resolved_tenants():
        records = usage_records(cloud, tenant)
        if records:
            console.print(usage_table(tenant, records))
        else:
            console.print(
                f"[red]{escape(tenant.id)} ({tenant.account_id}): no usage record in "
                f"{escape(tenant.usage_log_group)}[/red]"
            )

    console.rule("isolation checks")
    steps.begin("run the checks")
    results = run_checks(cloud, registry, scenario)
    steps.end()
    for result in results:
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {escape(result.name)}: [dim]{escape(result.reason)}[/dim]")
    failed = [r for r in results if not r.passed]
    if failed:
        console.print(f"[red]{len(failed)} of {len(results)} checks FAILED[/red]")
        return False
    console.print(f"[green]all {len(results)} checks passed[/green]")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tenantctl.local.demo``: parse arguments, run, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m tenantctl.local.demo", description=__doc__)
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY)
    args = parser.parse_args(argv)
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or logged: wide enough for the tables
        console = Console(highlight=False, width=150)
    return run_demo(args.registry, console)


if __name__ == "__main__":
    sys.exit(main())
