"""End to end on the embedded AWS: one real CDK deploy, then the product as a tenant sees it.

The module deploys ``config/tenants.local.yaml`` once with the real CDK CLI and
runs the demo's scenario (``demo.run_scenario``) before any
test, so the demo's checks are asserted on exactly the invocations the demo
makes. Tests that add invocations of their own look only at what they added.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest

from contracts.registry import Tenant, TenantRegistry, load_registry
from contracts.usage_record import UsageSink
from demo.checks import (
    WIDENING_POLICY_NAME,
    check_bedrock_calls_attributed,
    check_block_and_unblock,
    check_cross_tenant_assume_role_denied,
    check_ops_account_holds_no_logs,
    check_ops_invocation_logging_off,
    check_other_tenants_models_denied,
    check_records_in_own_accounts,
    check_usage_metrics_valid,
    check_wrong_external_id_denied,
    ops_own_log_groups,
)
from demo.scenario import (
    Outcome,
    Scenario,
    invoke_tenant,
    invoker_session,
    lambda_execution_session,
    log_group_names,
    now_ms,
    run_scenario,
    usage_records,
)
from embedded_aws import EmbeddedCloud
from tenantctl.fleet import deploy_registry
from tenantctl.usage_reader import filter_events
from tests.conftest import LOCAL_REGISTRY

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    # moto skips CDK metadata and bucket/topic policies; the deploy helper's tests own that.
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]

ACME_ONLY_MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


@dataclass(frozen=True)
class Deployment:
    """The deployed embedded cloud and the demo scenario that already ran in it."""

    cloud: EmbeddedCloud
    registry: TenantRegistry
    scenario: Scenario

    def tenant(self, tenant_id: str) -> Tenant:
        return self.registry.tenant(tenant_id)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    registry = load_registry(LOCAL_REGISTRY)
    with EmbeddedCloud(registry=registry) as cloud:
        report = deploy_registry(cloud, LOCAL_REGISTRY)
        assert not report.failed, report.failed
        scenario = run_scenario(cloud, registry)
        yield Deployment(cloud, registry, scenario)


def _outcomes(deployment: Deployment, tenant_id: str) -> list[Outcome]:
    return [o for o in deployment.scenario.outcomes if o.tenant_id == tenant_id]


def _invoke_and_read(
    deployment: Deployment, tenant: Tenant, event: dict[str, Any]
) -> tuple[Outcome, list[Any]]:
    """Invoke once; return the outcome and the usage records written during that call."""
    started = now_ms() - 1
    outcome = invoke_tenant(deployment.cloud, tenant, event)
    records = usage_records(deployment.cloud, tenant, start_ms=started, end_ms=now_ms() + 1)
    return outcome, [found.record for found in records]


# --- usage records -----------------------------------------------------------------------------


@pytest.mark.parametrize("tenant_id", ["acme", "globex"])
def test_each_invocation_leaves_one_record_with_its_fields_in_the_tenants_log_group(
    deployment: Deployment, tenant_id: str
) -> None:
    tenant = deployment.tenant(tenant_id)
    scenario = deployment.scenario
    found = usage_records(
        deployment.cloud, tenant, start_ms=scenario.started_ms, end_ms=scenario.finished_ms
    )
    outcomes = _outcomes(deployment, tenant_id)

    def key(user: Any, app: Any, model: Any, ok: bool) -> tuple[str, str, str, bool]:
        return (str(user), str(app), str(model), ok)

    sent = Counter(
        key(
            o.event["user_id"],
            o.event["application_id"],
            o.event.get("model_id", tenant.default_model),
            o.error is None,
        )
        for o in outcomes
    )
    logged = Counter(
        key(f.record.user_id, f.record.application_id, f.record.model_id, not f.record.is_error)
        for f in found
    )
    assert logged == sent
    for f in found:
        record = f.record
        assert record.tenant_id == tenant_id
        assert record.event == "bedrock.invocation"
        assert record.timestamp is not None
        if record.is_error:
            assert record.error_type == "AccessDenied"
            continue
        assert record.status == "success"
        assert record.input_tokens > 0 and record.output_tokens > 0
        assert record.total_tokens == record.input_tokens + record.output_tokens
        assert record.latency_ms is not None and record.latency_ms > 0
        assert record.request_id


def test_each_user_has_their_own_stream_with_the_api_sink(deployment: Deployment) -> None:
    tenant = deployment.tenant("acme")
    assert tenant.usage_sink == UsageSink.API
    found = usage_records(deployment.cloud, tenant)
    assert {f.stream for f in found} >= {"alice", "bob"}
    assert all(f.stream == f.record.user_id for f in found)


def test_stdout_sink_records_reach_the_usage_log_group_through_lambdas_log_delivery(
    deployment: Deployment,
) -> None:
    stdout = [t for t in deployment.registry.resolved_tenants() if t.usage_sink == UsageSink.STDOUT]
    assert stdout, "config/tenants.local.yaml has a tenant with usage_sink: stdout"
    for tenant in stdout:
        found = usage_records(deployment.cloud, tenant)
        assert {f.record.user_id for f in found} >= {"alice", "bob"}
        # Lambda's streams (one per execution environment of the alias's version),
        # not per user; the records say which user, and none claims a fallback.
        pattern = rf"\d{{4}}/\d{{2}}/\d{{2}}/{tenant.function_name}\[\d+\][0-9a-f]{{32}}"
        assert all(re.fullmatch(pattern, f.stream) for f in found), {f.stream for f in found}
        assert not any(f.record.is_fallback for f in found)
        # The function's own lines share the group; readers skip them (parse_record).
        logs = deployment.cloud.client("logs", tenant.account_id, tenant.region)
        messages = [e.message for e in filter_events(logs, tenant.usage_log_group, start_ms=0)]
        assert any('"platform.report"' in m for m in messages)
        assert len(found) < len(messages)


def test_answer_reports_the_same_usage_as_the_record(deployment: Deployment) -> None:
    tenant = deployment.tenant("acme")
    outcome, records = _invoke_and_read(
        deployment,
        tenant,
        {"prompt": "How many tokens was that?", "user_id": "dave", "application_id": "billing"},
    )
    assert outcome.error is None, outcome.payload
    (record,) = records
    assert outcome.payload["request_id"] == record.request_id
    assert outcome.payload["usage"] == {
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "total_tokens": record.total_tokens,
    }
    assert outcome.payload["model_id"] == record.model_id == tenant.default_model


def test_content_is_logged_in_full_for_acme_and_redacted_for_globex(
    deployment: Deployment,
) -> None:
    event = {
        "prompt": "Reply to carol.smith@example.com about her refund.",
        "user_id": "carol",
        "application_id": "support",
    }
    _, (acme_record,) = _invoke_and_read(deployment, deployment.tenant("acme"), event)
    _, (globex_record,) = _invoke_and_read(deployment, deployment.tenant("globex"), event)

    acme_prompt = json.dumps(acme_record.prompt)
    globex_prompt = json.dumps(globex_record.prompt)
    assert "carol.smith@example.com" in acme_prompt
    assert acme_record.response
    assert "carol.smith@example.com" not in globex_prompt
    assert "[EMAIL]" in globex_prompt and "about her refund" in globex_prompt
    assert globex_record.response


# --- the demo's isolation checks, on the demo's own scenario -------------------------------------


def test_operations_account_holds_no_usage_log_group_and_no_record(deployment: Deployment) -> None:
    result = check_ops_account_holds_no_logs(
        deployment.cloud, deployment.registry, deployment.scenario.user_ids
    )
    assert result.passed, result.reason
    for ops in deployment.registry.operations_accounts():
        groups = log_group_names(deployment.cloud, ops.account_id)
        assert "/aws/bedrock/langchain/logs" not in groups
        # Only the operations stacks' own function logs (the invocation-logging guards).
        assert set(groups) <= ops_own_log_groups(deployment.cloud, deployment.registry, ops)


def test_bedrock_invocation_logging_is_off_in_the_operations_account(
    deployment: Deployment,
) -> None:
    result = check_ops_invocation_logging_off(deployment.cloud, deployment.registry)
    assert result.passed, result.reason


def test_every_usage_record_is_in_its_own_tenants_account_and_none_is_lost(
    deployment: Deployment,
) -> None:
    result = check_records_in_own_accounts(
        deployment.cloud, deployment.registry, deployment.scenario
    )
    assert result.passed, result.reason


def test_every_usage_record_is_valid_emf_for_its_own_tenant(deployment: Deployment) -> None:
    result = check_usage_metrics_valid(deployment.cloud, deployment.registry, deployment.scenario)
    assert result.passed, result.reason


def test_the_emf_check_fails_on_a_record_cloudwatch_would_extract_nothing_from(
    deployment: Deployment,
) -> None:
    """The check is not vacuous: a usage record without its EMF block fails it."""
    acme = deployment.tenant("acme")
    logs = deployment.cloud.client("logs", acme.account_id, acme.region)
    stream = "emf-check-negative"
    logs.create_log_stream(logGroupName=acme.usage_log_group, logStreamName=stream)
    written = now_ms()
    record = {"event": "bedrock.invocation", "status": "success", "tenant_id": "acme"}
    logs.put_log_events(
        logGroupName=acme.usage_log_group,
        logStreamName=stream,
        logEvents=[{"timestamp": written, "message": json.dumps(record)}],
    )
    window = Scenario(outcomes=[], started_ms=written, finished_ms=written + 1)
    try:
        result = check_usage_metrics_valid(deployment.cloud, deployment.registry, window)
    finally:
        logs.delete_log_stream(logGroupName=acme.usage_log_group, logStreamName=stream)
    assert not result.passed
    assert "acme: root: '_aws' is a required property" in result.reason, result.reason


def test_every_bedrock_call_is_made_as_the_right_tenants_invoker_role(
    deployment: Deployment,
) -> None:
    result = check_bedrock_calls_attributed(
        deployment.cloud, deployment.registry, deployment.scenario.user_ids
    )
    assert result.passed, result.reason
    sessions = Counter(c.session_name for c in deployment.cloud.bedrock.calls())
    for tenant_id in ("acme", "globex"):
        answered = sum(1 for o in _outcomes(deployment, tenant_id) if o.error is None)
        assert sessions[tenant_id] >= answered


def _inline_policies(deployment: Deployment, tenant: Tenant) -> list[str]:
    iam = deployment.cloud.client("iam", tenant.account_id)
    role_name = tenant.caller_role_arn.rsplit("/", 1)[-1]
    return sorted(iam.list_role_policies(RoleName=role_name)["PolicyNames"])


def test_tenant_cannot_assume_another_tenants_invoker_role(deployment: Deployment) -> None:
    tenants = deployment.registry.resolved_tenants()
    before = {t.id: _inline_policies(deployment, t) for t in tenants}
    decisions_before = len(deployment.cloud.assume_role_decisions())

    result = check_cross_tenant_assume_role_denied(deployment.cloud, deployment.registry)

    assert result.passed, result.reason
    assert "2 cross-tenant AssumeRole call(s)" in result.reason
    assert "2 call(s) by the target account's own admin" in result.reason
    decisions = deployment.cloud.assume_role_decisions()[decisions_before:]
    globex = deployment.tenant("globex")
    to_globex = [
        d for d in decisions if d.role_arn == deployment.registry.invoker_role_arn("globex")
    ]
    # acme's widened function role, with globex's ExternalId and session name: only
    # globex's trust policy refused it (acme's identity policy allowed the call).
    from_acme = [d for d in to_globex if ":assumed-role/bedrock-caller-acme/" in d.caller_arn]
    assert from_acme and all(not d.allowed and d.external_id_given for d in from_acme)
    assert all(d.reason.startswith("trust policy") for d in from_acme)
    # globex's own administrator is refused by the aws:PrincipalArn pin alone.
    from_admin = [
        d for d in to_globex if d.caller_arn.startswith(f"arn:aws:iam::{globex.account_id}:user/")
    ]
    assert from_admin and all(
        not d.allowed and d.reason.startswith("trust policy") for d in from_admin
    )
    # The widening is gone: every function role has exactly the policies it was deployed with.
    assert {t.id: _inline_policies(deployment, t) for t in tenants} == before
    assert all(WIDENING_POLICY_NAME not in names for names in before.values())


def _pin_dropped(statement: dict[str, Any]) -> dict[str, Any]:
    condition = {
        op: {k: v for k, v in keys.items() if k.lower() != "aws:principalarn"}
        for op, keys in statement.get("Condition", {}).items()
    }
    return {**statement, "Condition": {op: keys for op, keys in condition.items() if keys}}


def _any_principal(statement: dict[str, Any]) -> dict[str, Any]:
    return {**statement, "Principal": {"AWS": "*"}}


@pytest.mark.parametrize(
    ("regressions", "failure"),
    [
        # The tenants' accounts differ, so the trust principal (globex's account)
        # still refuses acme; the pin is what refuses globex's own admin.
        (
            [_pin_dropped],
            "globex's admin user assumed bedrock-invoker-globex with its ExternalId and session "
            "name: the trust admits any principal of 333333333333",
        ),
        # Principal widened to anyone and no pin: acme's widened role gets in.
        (
            [_any_principal, _pin_dropped],
            "acme's widened role assumed bedrock-invoker-globex with globex's ExternalId and "
            "session name",
        ),
        # Principal widened to anyone but the pin kept: still only globex's function role.
        ([_any_principal], None),
    ],
    ids=["pin-dropped", "any-principal-and-pin-dropped", "any-principal-pin-kept"],
)
def test_cross_tenant_check_fails_when_the_invoker_trust_policy_regresses(
    deployment: Deployment,
    regressions: list[Callable[[dict[str, Any]], dict[str, Any]]],
    failure: str | None,
) -> None:
    """The check is not vacuous: a trust policy that admits more than its function role fails it."""
    # globex's invoker role lives in its own operations account (the demo's second).
    ops = deployment.tenant("globex").operations_account_id
    iam = deployment.cloud.client("iam", ops)
    role_name = deployment.registry.invoker_role_arn("globex").rsplit("/", 1)[-1]
    original = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    if isinstance(original, str):  # pragma: no cover - botocore usually decodes it
        original = json.loads(unquote(original))
    broken = copy.deepcopy(original)
    for regress in regressions:
        broken["Statement"] = [regress(st) for st in broken["Statement"]]
    assert broken != original
    tenants = deployment.registry.resolved_tenants()
    before = {t.id: _inline_policies(deployment, t) for t in tenants}
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(broken))
    try:
        result = check_cross_tenant_assume_role_denied(deployment.cloud, deployment.registry)
    finally:
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(original))
    if failure is None:
        assert result.passed, result.reason
    else:
        assert not result.passed
        assert failure in result.reason, result.reason
    # Failing or not, the check took its widening policy back.
    assert {t.id: _inline_policies(deployment, t) for t in tenants} == before


def test_wrong_or_missing_external_id_is_denied(deployment: Deployment) -> None:
    result = check_wrong_external_id_denied(deployment.cloud, deployment.registry)
    assert result.passed, result.reason


def test_tenant_cannot_use_a_model_only_another_tenant_may_use(deployment: Deployment) -> None:
    result = check_other_tenants_models_denied(deployment.cloud, deployment.registry)
    assert result.passed, result.reason
    assert "globex→" + ACME_ONLY_MODEL in result.reason
    # The same model through globex's own function is refused before any call.
    outcome, records = _invoke_and_read(
        deployment,
        deployment.tenant("globex"),
        {"prompt": "hi", "user_id": "erin", "application_id": "chat", "model_id": ACME_ONLY_MODEL},
    )
    assert outcome.error_type == "AccessDenied"
    assert [r.error_type for r in records] == ["AccessDenied"]


def test_acme_role_reaches_its_cross_region_profile_model(deployment: Deployment) -> None:
    from botocore.exceptions import ClientError

    session = invoker_session(deployment.cloud, deployment.registry, deployment.tenant("acme"))
    client: Any = session.client("bedrock-runtime", endpoint_url=deployment.cloud.endpoint_url)
    try:
        answer = client.converse(
            modelId=ACME_ONLY_MODEL,
            messages=[{"role": "user", "content": [{"text": "hello"}]}],
            # As acme's function calls: in its tier, which its role requires.
            serviceTier={"type": deployment.tenant("acme").service_tiers[0].value},
        )
    except ClientError as error:  # pragma: no cover - the failure message is the point
        pytest.fail(f"acme's own profile model was refused: {error}")
    assert answer["usage"]["outputTokens"] > 0


def test_model_outside_the_allowlist_gives_a_clean_error_result(deployment: Deployment) -> None:
    refused = [o for o in deployment.scenario.outcomes if o.error is not None]
    assert {o.tenant_id for o in refused} == {"acme", "globex"}
    for outcome in refused:
        assert outcome.function_error is None
        assert outcome.error_type == "AccessDenied"
        assert "model_id" in str(outcome.payload["error"]["message"])


# --- faults and bad input ------------------------------------------------------------------------


def test_throttling_returns_an_error_result_and_logs_an_error_record(
    deployment: Deployment,
) -> None:
    tenant = deployment.tenant("globex")
    calls_before = len(deployment.cloud.bedrock.calls())
    deployment.cloud.bedrock.throttle(50, model_id=tenant.default_model)
    try:
        outcome, records = _invoke_and_read(
            deployment,
            tenant,
            {"prompt": "Busy?", "user_id": "frank", "application_id": "batch"},
        )
    finally:
        deployment.cloud.bedrock.clear_faults()
    assert outcome.function_error is None
    assert outcome.payload["error"]["type"] == "ThrottlingException"
    assert outcome.payload["error"]["message"]
    (record,) = records
    assert record.status == "error"
    assert record.error_type == "ThrottlingException"
    assert (record.tenant_id, record.user_id, record.application_id) == (
        "globex",
        "frank",
        "batch",
    )
    throttled = deployment.cloud.bedrock.calls()[calls_before:]
    assert throttled and all(c.outcome == "ThrottlingException" for c in throttled)
    assert all(c.session_name == "globex" for c in throttled)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"prompt": "hi", "application_id": "chat"}, "user_id"),
        (
            {"prompt": "hi", "user_id": "alice", "application_id": "chat", "max_tokens": 0},
            "max_tokens",
        ),
        ({"user_id": "alice", "application_id": "chat"}, "prompt"),
    ],
)
def test_bad_event_returns_a_validation_error_naming_the_field_and_writes_nothing(
    deployment: Deployment, event: dict[str, Any], field: str
) -> None:
    tenant = deployment.tenant("acme")
    calls_before = len(deployment.cloud.bedrock.calls())
    outcome, records = _invoke_and_read(deployment, tenant, event)
    assert outcome.function_error is None
    assert outcome.error_type == "ValidationError"
    assert str(outcome.payload["error"]["message"]).startswith(f"{field}:")
    assert records == []
    assert len(deployment.cloud.bedrock.calls()) == calls_before


def test_tenant_function_role_is_only_assumable_by_the_lambda_service(
    deployment: Deployment,
) -> None:
    from botocore.exceptions import ClientError

    tenant = deployment.tenant("acme")
    # The check helpers get the role's credentials the way Lambda does ...
    session = lambda_execution_session(deployment.cloud, tenant)
    assert session.get_credentials() is not None
    # ... because the tenant's own administrator cannot assume it.
    sts = deployment.cloud.client("sts", tenant.account_id)
    with pytest.raises(ClientError) as denied:
        sts.assume_role(RoleArn=tenant.caller_role_arn, RoleSessionName="admin")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_isolation_checks_fail_when_a_usage_record_reaches_the_operations_account(
    deployment: Deployment,
) -> None:
    """The checks are not vacuous: a record written where it must never be is caught."""
    ops = deployment.registry.operations.account_id
    group = deployment.tenant("acme").usage_log_group
    logs = deployment.cloud.client("logs", ops)
    logs.create_log_group(logGroupName=group)
    try:
        logs.create_log_stream(logGroupName=group, logStreamName="alice")
        record = {
            "event": "bedrock.invocation",
            "status": "success",
            "tenant_id": "acme",
            "user_id": "alice",
            "application_id": "chat-app",
        }
        logs.put_log_events(
            logGroupName=group,
            logStreamName="alice",
            logEvents=[{"timestamp": now_ms(), "message": json.dumps(record)}],
        )
        ops_check = check_ops_account_holds_no_logs(
            deployment.cloud, deployment.registry, deployment.scenario.user_ids
        )
        placement = check_records_in_own_accounts(
            deployment.cloud, deployment.registry, deployment.scenario
        )
    finally:
        logs.delete_log_group(logGroupName=group)
    assert not ops_check.passed
    assert "1 usage record(s) of acme" in ops_check.reason
    assert not placement.passed
    assert "tenant 'acme' in 111111111111" in placement.reason


def test_the_demos_block_check_refuses_the_blocked_tenant_only(deployment: Deployment) -> None:
    result = check_block_and_unblock(deployment.cloud, deployment.registry)
    assert result.passed, result.reason
    assert result.reason.startswith(
        "acme blocked → AccessDeniedException; globex (another operations account) answered; "
        "unblocked → acme answered"
    )
