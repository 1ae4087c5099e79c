"""Constructs on their own, each in a bare ``Stack()``: what one construct promises,
without the stack that composes it."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from contracts.function_environment import FunctionEnvironment
from contracts.registry import AlarmSettings, Tenant, load_registry
from stacks.customer.invoker_function import InvokerFunction
from stacks.customer.observability.usage_alarms import UsageAlarms
from stacks.customer.observability.usage_dashboard import UsageDashboard
from stacks.customer.usage_log_group import UsageLogGroup
from stacks.shared.lambda_bundling import LambdaPlatform
from tests.conftest import EXAMPLE_REGISTRY
from tests.infra.conftest import NO_BUNDLING

OPS_ROLE = "arn:aws:iam::111111111111:role/bedrock-invoker-acme"


def _stack() -> cdk.Stack:
    app = cdk.App(context=NO_BUNDLING)
    return cdk.Stack(app, "Bare", env=cdk.Environment(account="222222222222", region="us-east-1"))


def _code(stack: cdk.Stack) -> lambda_.Code:
    """Code from a bucket: nothing to bundle, and Python 3.12 takes no inline source."""
    return lambda_.Code.from_bucket(
        s3.Bucket.from_bucket_name(stack, "CodeBucket", "code-bucket"), "invoker.zip"
    )


def _function(stack: cdk.Stack, name: str = "Fn") -> lambda_.Function:
    return lambda_.Function(
        stack,
        name,
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=_code(stack),
        timeout=cdk.Duration.seconds(60),
    )


@pytest.fixture(scope="module")
def acme() -> Tenant:
    return load_registry(EXAMPLE_REGISTRY).tenant("acme")


def _invoker(tenant: Tenant) -> Template:
    stack = _stack()
    key = kms.Key(stack, "Key")
    group = UsageLogGroup(
        stack, "Usage", log_group_name=tenant.usage_log_group, retention_days=90, encryption_key=key
    )
    InvokerFunction(
        stack,
        "Invoker",
        tenant=tenant,
        ops_role_arn=OPS_ROLE,
        bedrock_region="us-east-1",
        usage_log_group=group,
        encryption_key=key,
        platform=LambdaPlatform.aws_lambda(),
        code=_code(stack),
    )
    return Template.from_stack(stack)


def test_the_invoker_function_gets_exactly_the_environment_contract(acme: Tenant) -> None:
    template = _invoker(acme)
    [function] = template.find_resources("AWS::Lambda::Function").values()
    env = function["Properties"]["Environment"]["Variables"]

    parsed = FunctionEnvironment.from_env(env)
    assert (parsed.tenant_id, parsed.ops_role_arn, parsed.models) == ("acme", OPS_ROLE, acme.models)
    assert set(env) == {*FunctionEnvironment.variables(), "POWERTOOLS_SERVICE_NAME"}


def test_the_invoker_role_may_assume_only_its_own_operations_role(acme: Tenant) -> None:
    _invoker(acme).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "sts:AssumeRole", "Resource": OPS_ROLE})]
                )
            }
        },
    )


def test_snap_start_and_the_stdout_sink_change_only_the_function(acme: Tenant) -> None:
    changed = acme.model_copy(update={"snap_start": True, "usage_sink": "stdout"})
    template = _invoker(changed)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "SnapStart": {"ApplyOn": "PublishedVersions"},
            "LoggingConfig": Match.object_like({"LogFormat": "JSON"}),
        },
    )
    template.has_resource_properties("AWS::Lambda::Alias", {"Name": "live"})


def test_alarms_on_their_own_follow_their_settings() -> None:
    stack = _stack()
    UsageAlarms(
        stack,
        "Alarms",
        tenant_id="acme",
        settings=AlarmSettings(monthly_cost_budget_usd=50.0, email="ops@example.com"),
        function=_function(stack),
    )
    template = Template.from_stack(stack)
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    # Error rate, throttles, function errors, duration, and the cost budget's pace.
    assert len(alarms) == 5
    assert all(
        a["Properties"]["AlarmName"].startswith("bedrock-usage-acme-") for a in alarms.values()
    )
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"Subscription": [{"Endpoint": "ops@example.com", "Protocol": "email"}]},
    )


def test_a_dashboard_on_its_own_names_its_tenant_and_log_group() -> None:
    stack = _stack()
    UsageDashboard(
        stack,
        "Dashboard",
        tenant_id="acme",
        usage_log_group_name="/aws/bedrock/langchain/logs",
        function=_function(stack),
        alarm_settings=AlarmSettings(),
    )
    template = Template.from_stack(stack)
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    assert dashboard["Properties"]["DashboardName"] == "bedrock-usage-acme"
    assert "TenantId" in body and "acme" in body
    assert "/aws/bedrock/langchain/logs" in body
