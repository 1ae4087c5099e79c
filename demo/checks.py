"""The isolation checks: plain functions returning ``CheckResult``.

``make demo`` runs them after its scenario, and ``tests/e2e`` runs the very same
functions against its own deployment, so a check that can be walked around fails
in both places.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from contracts import usage_metrics
from contracts.registry import Operations, Tenant, TenantRegistry
from contracts.usage_record import parse_record
from demo.scenario import (
    ACCESS_DENIED,
    Scenario,
    assume_role,
    error_code,
    invoke_tenant,
    invoker_session,
    lambda_execution_session,
    log_group_names,
    scan_usage_records,
    usage_records,
)
from embedded_aws import emf
from embedded_aws.cloud import EmbeddedCloud
from embedded_aws.iam_policy import Decision, Request, evaluate
from embedded_aws.identity import (
    CallerIdentity,
    identity_policies,
    resolve_access_key,
)
from embedded_aws.trust import (
    ASSUME_ROLE,
)
from tenantctl import blocks
from tenantctl.usage_reader import filter_events


@dataclass(frozen=True)
class CheckResult:
    """One isolation check: its name, whether it passed, and a one-line reason."""

    name: str
    passed: bool
    reason: str


# --- checks ----------------------------------------------------------------------------------


def ops_own_log_groups(
    cloud: EmbeddedCloud, registry: TenantRegistry, ops: Operations | None = None
) -> set[str]:
    """Log groups an operations account's stacks declare for their own functions.

    The deploy-time invocation-logging guard is a Lambda in each operations
    stack with an explicit ``/aws/lambda/`` log group; it holds the guard's own
    decisions. ``ops`` defaults to the first operations account.
    """
    ops = ops or registry.operations
    cfn = cloud.client("cloudformation", ops.account_id, ops.region)
    groups: set[str] = set()
    for stack in registry.operations_stacks():
        if stack.operations != ops:
            continue
        try:
            pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack.stack_name)
            groups |= {
                str(r["PhysicalResourceId"])
                for page in pages
                for r in page.get("StackResourceSummaries", [])
                if r.get("ResourceType") == "AWS::Logs::LogGroup"
                and str(r.get("PhysicalResourceId", "")).startswith("/aws/lambda/")
            }
        except ClientError:
            continue
    return groups


def check_ops_account_holds_no_logs(
    cloud: EmbeddedCloud, registry: TenantRegistry, user_ids: Sequence[str] = ()
) -> CheckResult:
    """No operations account holds a usage log group, a usage record or a user id.

    The only log groups tolerated there are the operations stacks' own function
    log groups (the invocation-logging guards'); they are scanned too: not one
    usage record, tenant id field or user id may appear in them.
    """
    name = "operations accounts hold no tenant logs"
    results = [
        _ops_account_holds_no_logs(cloud, registry, ops, user_ids)
        for ops in registry.operations_accounts()
    ]
    failed = [reason for passed, reason in results if not passed]
    if failed:
        return CheckResult(name, False, "; ".join(failed))
    return CheckResult(name, True, "; ".join(reason for _, reason in results))


def _ops_account_holds_no_logs(
    cloud: EmbeddedCloud, registry: TenantRegistry, ops: Operations, user_ids: Sequence[str]
) -> tuple[bool, str]:
    groups = log_group_names(cloud, ops.account_id, ops.region)
    own = ops_own_log_groups(cloud, registry, ops)
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
        return False, f"{ops.account_id} holds " + "; ".join(problems)
    if not groups:
        return True, f"{ops.account_id} has no log group at all, no record"
    return True, (
        f"{ops.account_id}: no usage log group, no record; only its own guard log "
        f"({', '.join(sorted(groups))}), free of user ids"
    )


def check_ops_invocation_logging_off(cloud: EmbeddedCloud, registry: TenantRegistry) -> CheckResult:
    """Bedrock's model-invocation logging is off in the operations account and region.

    AWS omits ``loggingConfig`` when it is off; moto 5.2.5 implements the call
    and answers ``"loggingConfig": null`` instead, which botocore parses as an
    empty dict. Both count as off; any configured destination does not.
    """
    name = "Bedrock invocation logging off in every operations account"
    seen: list[str] = []
    for ops in registry.operations_accounts():
        try:
            response = cloud.client(
                "bedrock", ops.account_id, ops.region
            ).get_model_invocation_logging_configuration()
        except ClientError as error:
            return CheckResult(
                name,
                False,
                f"{ops.account_id}: cannot read the setting ({error_code(error)}): not verified",
            )
        config = response.get("loggingConfig")
        if config:
            return CheckResult(
                name, False, f"{ops.account_id}: loggingConfig is set: {json.dumps(config)[:120]}"
            )
        shape = "absent" if "loggingConfig" not in response else "empty (moto's null)"
        seen.append(f"{ops.account_id}: loggingConfig {shape}")
    return CheckResult(
        name,
        True,
        f"GetModelInvocationLoggingConfiguration {'; '.join(seen)} (moto-emulated API)",
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
    all_accounts = [
        *(ops.account_id for ops in registry.operations_accounts()),
        *account_of.values(),
    ]
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


def check_usage_metrics_valid(
    cloud: EmbeddedCloud, registry: TenantRegistry, scenario: Scenario
) -> CheckResult:
    """Every usage record is valid EMF, so CloudWatch extracts its tenant's metrics.

    The records are read raw from each tenant's usage log group. Each must pass
    the EMF specification, carry its own tenant as the ``TenantId`` dimension,
    and the Invocations metric summed over the tenant roll-up must equal the
    invocations the scenario made that write a record.
    """
    name = "usage records carry valid EMF metrics for their own tenant"
    problems: list[str] = []
    counted = 0
    for tenant in registry.resolved_tenants():
        logs = cloud.client("logs", tenant.account_id, tenant.region)
        invocations = 0.0
        for event in filter_events(
            logs, tenant.usage_log_group, start_ms=scenario.started_ms, end_ms=scenario.finished_ms
        ):
            if parse_record(event.message) is None:
                continue  # the function's own log lines, when they share the group
            found = emf.problems(event.message)
            if found:
                problems.append(f"{tenant.id}: {found[0]}")
                continue
            for datum in emf.extract(event.message):
                if dict(datum.dimensions).get(usage_metrics.TENANT_DIMENSION) != tenant.id:
                    problems.append(f"{tenant.id}: a metric for {datum.dimensions}")
                elif datum.name == usage_metrics.INVOCATIONS.name and datum.dimensions == (
                    (usage_metrics.TENANT_DIMENSION, tenant.id),
                ):
                    invocations += datum.value
        expected = sum(1 for o in scenario.outcomes if o.tenant_id == tenant.id and o.writes_record)
        if invocations != expected:
            problems.append(f"{tenant.id}: Invocations {invocations:g}, expected {expected}")
        counted += expected
    if problems:
        return CheckResult(name, False, "; ".join(problems[:3]))
    return CheckResult(
        name,
        True,
        f"every record passes the EMF specification; Invocations add up to {counted}, "
        "each under its own TenantId",
    )


def check_bedrock_calls_attributed(
    cloud: EmbeddedCloud, registry: TenantRegistry, user_ids: Sequence[str] = ()
) -> CheckResult:
    """Every Bedrock call came from a tenant's own operations account as its invoker role.

    Each call: account = the tenant's operations account, role =
    ``bedrock-invoker-<tenant>`` of a registered tenant, session name = that
    tenant id, no user id in the session name or the request metadata. Each usage
    record's request id must match a call made as its own tenant's role.
    """
    name = "every Bedrock call from the tenant's ops account as its invoker role"
    tenants = registry.resolved_tenants()
    role_tenant = {t.invoker_role_arn: t.id for t in tenants}
    ops_of = {t.id: t.operations_account_id for t in tenants}
    calls = cloud.bedrock.calls()
    if not calls:
        return CheckResult(name, False, "the emulator saw no Bedrock call at all")
    for call in calls:
        tenant_id = role_tenant.get(call.role_arn or "")
        if tenant_id is None:
            return CheckResult(name, False, f"call {call.request_id} as {call.principal_arn}")
        if call.account_id != ops_of[tenant_id]:
            return CheckResult(
                name, False, f"call {call.request_id} from account {call.account_id}"
            )
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
        f"{len(calls)} calls, each from its tenant's ops account "
        f"({', '.join(sorted(set(ops_of.values())))}) as bedrock-invoker-<tenant> with session "
        f"= tenant id; {matched} records matched to their own tenant's call; no user id seen",
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
    """Only a tenant's own roles can assume its invoker role; its trust alone decides.

    A tenant's own roles: its function's and, with a registry ``workload_role``,
    its workload role (whose own refusals ``tests/e2e/test_workload_role.py`` checks).

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
    name = "only a tenant's own roles can assume its invoker role"
    tenants = registry.resolved_tenants()
    pairs = 0
    for a in tenants:
        source = lambda_execution_session(cloud, a)
        try:
            assume_role(
                cloud, source, registry.invoker_role_arn(a.id), a.id, ExternalId=a.external_id
            )
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
                    assume_role(cloud, source, target, b.id, ExternalId=b.external_id)
                except ClientError as error:
                    if error_code(error) not in ACCESS_DENIED:
                        return CheckResult(name, False, f"{a.id}→{b.id}: {error_code(error)}")
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
            assume_role(cloud, admin, target, b.id, ExternalId=b.external_id)
        except ClientError as error:
            if error_code(error) not in ACCESS_DENIED:
                return CheckResult(name, False, f"{b.id}'s admin: {error_code(error)}")
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
                assume_role(cloud, source, role_arn, tenant.id, **extra)
            except ClientError as error:
                if error_code(error) not in ACCESS_DENIED:
                    return CheckResult(name, False, f"{tenant.id}: {error_code(error)}")
                attempts += 1
                continue
            what = "a wrong" if extra else "no"
            return CheckResult(name, False, f"{tenant.id} assumed its role with {what} ExternalId")
    return CheckResult(
        name, True, f"{attempts} attempts (wrong / missing ExternalId) → AccessDenied"
    )


def _converse(cloud: EmbeddedCloud, session: boto3.Session, tenant: Tenant, model_id: str) -> str:
    """``success`` or the error code of one Converse call, made as the tenant's function
    makes it: with its service tier and guardrail, which its role's allow requires."""
    client: Any = session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url)
    request: dict[str, Any] = {"serviceTier": {"type": tenant.service_tiers[0].value}}
    if tenant.guardrail is not None:
        request["guardrailConfig"] = {
            "guardrailIdentifier": tenant.guardrail.identifier,
            "guardrailVersion": tenant.guardrail.version,
        }
    try:
        client.converse(
            modelId=model_id,
            messages=[{"role": "user", "content": [{"text": "Which model am I?"}]}],
            inferenceConfig={"maxTokens": 20},
            **request,
        )
    except ClientError as error:
        return error_code(error)
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
        control = _converse(cloud, session, a, a.default_model)
        if control != "success":
            return CheckResult(name, False, f"{a.id}'s own model {a.default_model}: {control}")
        for model in exclusive:
            outcome = _converse(cloud, session, a, model)
            if outcome != "AccessDeniedException":
                return CheckResult(name, False, f"{a.id} calling {model}: {outcome}")
            denied.append(f"{a.id}→{model}")
    if not denied:
        return CheckResult(name, True, "every tenant has the same models (not exercised)")
    return CheckResult(
        name, True, f"AccessDeniedException for {', '.join(denied)}; own models answered"
    )


class _OperationsAccount:
    """An operations account's clients as its operator gets them (``blocks.ClientSource``)."""

    def __init__(self, cloud: EmbeddedCloud, ops: Operations) -> None:
        self._cloud, self._ops = cloud, ops

    def client(self, service: str) -> Any:
        return self._cloud.client(service, self._ops.account_id, self._ops.region)


BLOCK_CHECK_USER = "block-check-user"


def _block_check_call(cloud: EmbeddedCloud, tenant: Tenant) -> str:
    """``answered`` or the error type of one call of the tenant's function."""
    outcome = invoke_tenant(
        cloud,
        tenant,
        {
            "prompt": "Am I blocked?",
            "user_id": BLOCK_CHECK_USER,
            "application_id": "block-check",
            "model_id": tenant.default_model,
            "max_tokens": 20,
        },
    )
    if outcome.function_error:
        return f"function error {outcome.function_error}"
    return outcome.error_type or "answered"


def check_block_and_unblock(cloud: EmbeddedCloud, registry: TenantRegistry) -> CheckResult:
    """A block by hand (``tenantctl.blocks``, as ``tenantctl block`` does it) refuses one
    tenant's calls while another tenant of the same operations account answers; the
    unblock lets it answer again; the block left nothing but its record in the
    operations account, and no tenant content there."""
    name = "a blocked tenant is refused, its neighbour answers, unblock restores it"
    tenants = registry.resolved_tenants()
    # Best shown on two tenants of one operations account: the deny is on one role only.
    blocked = next(
        (
            t
            for t in tenants
            if sum(o.operations_account == t.operations_account for o in tenants) > 1
        ),
        tenants[0],
    )
    ops = registry.operations_account(blocked.operations_account)
    others = sorted(
        (t for t in tenants if t.id != blocked.id),
        key=lambda t: t.operations_account != blocked.operations_account,
    )
    neighbour = others[0] if others else None
    source = _OperationsAccount(cloud, ops)
    steps: list[str] = []
    try:
        blocks.block(source, blocked.id, reason="make demo: a block by hand")
        refused = _block_check_call(cloud, blocked)
        if refused not in ACCESS_DENIED:
            return CheckResult(name, False, f"{blocked.id} blocked, its call: {refused}")
        steps.append(f"{blocked.id} blocked → {refused}")
        if neighbour is not None:
            answer = _block_check_call(cloud, neighbour)
            if answer != "answered":
                return CheckResult(name, False, f"{neighbour.id} (not blocked): {answer}")
            same = neighbour.operations_account == blocked.operations_account
            steps.append(
                f"{neighbour.id} ({'same' if same else 'another'} operations account) answered"
            )
        record = json.loads(
            source.client("ssm").get_parameter(Name=blocks.record_parameter_name(blocked.id))[
                "Parameter"
            ]["Value"]
        )
        if set(record) != {"since", "by", "rule", "reason"}:
            return CheckResult(name, False, f"the block's record holds {sorted(record)}")
    finally:
        blocks.unblock(source, blocked.id)
    answer = _block_check_call(cloud, blocked)
    if answer != "answered":
        return CheckResult(name, False, f"{blocked.id} unblocked, its call: {answer}")
    steps.append(f"unblocked → {blocked.id} answered")
    clean, where = _ops_account_holds_no_logs(cloud, registry, ops, [BLOCK_CHECK_USER])
    if not clean:
        return CheckResult(name, False, where)
    return CheckResult(
        name,
        True,
        "; ".join(steps) + f"; {ops.account_id} kept only the record (since, by, reason)",
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
        (
            "usage metrics",
            lambda: check_usage_metrics_valid(cloud, registry, scenario),
        ),
        ("cross-tenant AssumeRole", lambda: check_cross_tenant_assume_role_denied(cloud, registry)),
        ("ExternalId", lambda: check_wrong_external_id_denied(cloud, registry)),
        ("other tenants' models", lambda: check_other_tenants_models_denied(cloud, registry)),
        # Last: its calls come after the scenario the checks above count.
        ("block and unblock", lambda: check_block_and_unblock(cloud, registry)),
    ]
    results: list[CheckResult] = []
    for label, check in checks:
        try:
            results.append(check())
        except Exception as error:  # a check that cannot run is a failed check
            reason = f"could not run: {type(error).__name__}: {error}"
            results.append(CheckResult(label, False, " ".join(reason.split())[:200]))
    return results
