"""The limit enforcer's template: schedule, least privilege, alarms; cfn-lint and cdk-nag clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from app import build_app
from contracts import naming
from contracts.registry import TenantRegistry
from tests.infra.conftest import NO_BUNDLING
from tests.infra.test_nag import run_nag

OPS = "111111111111"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def limited_registry() -> TenantRegistry:
    def tenant(tenant_id: str, account: str, **settings: Any) -> dict[str, Any]:
        return {
            "id": tenant_id,
            "account_id": account,
            "region": "us-east-1",
            "external_id": f"ext-{tenant_id}-0001",
            "application_inference_profiles": True,
            "models": [HAIKU, SONNET],
            **settings,
        }

    return TenantRegistry.model_validate(
        {
            "operations": {
                "account_id": OPS,
                "region": "us-east-1",
                "alert_email": "ops@example.com",
                "enforcer": {"enabled": True, "fail_closed_on_meter_outage": True},
            },
            "tenants": [
                tenant("acme", "222222222222", limits={"usd": 50.0}),
                tenant(
                    "globex",
                    "333333333333",
                    limits={"tokens": 10**6, "action": "downgrade", "downgrade_models": [HAIKU]},
                ),
                tenant("initech", "444444444444"),
            ],
        }
    )


@pytest.fixture(scope="module")
def app_and_ops() -> tuple[Any, Template]:
    app = build_app(limited_registry(), context=NO_BUNDLING)
    stack = app.node.find_child(naming.OPERATIONS_STACK_NAME)
    return app, Template.from_stack(stack)


def test_the_enforcer_runs_every_minute_with_one_pass_at_a_time(
    app_and_ops: tuple[Any, Template],
) -> None:
    _, ops = app_and_ops
    ops.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)", "State": "ENABLED"}
    )
    ops.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "bedrock-limit-enforcer",
            "ReservedConcurrentExecutions": 1,
            "Environment": {
                "Variables": Match.object_like(
                    {"LIMITED_TENANTS": "acme,globex", "FAIL_CLOSED_ON_METER_OUTAGE": "true"}
                )
            },
        },
    )
    plans = ops.find_resources(
        "AWS::SSM::Parameter", {"Properties": {"Name": "/bedrock-invoker/acme/limits"}}
    )
    assert len(plans) == 1
    assert not ops.find_resources(
        "AWS::SSM::Parameter", {"Properties": {"Name": "/bedrock-invoker/initech/limits"}}
    )


def test_the_enforcer_may_touch_only_the_limited_tenants_roles_and_records(
    app_and_ops: tuple[Any, Template],
) -> None:
    _, ops = app_and_ops
    statements = [
        s
        for policy in ops.find_resources("AWS::IAM::ManagedPolicy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    by_sid = {s["Sid"]: s for s in statements}
    roles = by_sid["BlockAndDowngradeTheseTenants"]["Resource"]
    assert [json.dumps(r) for r in roles] == [
        json.dumps(r) for r in roles if "bedrock-invoker-acme" in json.dumps(r)
    ] + [json.dumps(r) for r in roles if "bedrock-invoker-globex" in json.dumps(r)]
    assert len(roles) == 2
    for statement in statements:
        assert all("*" not in json.dumps(r) for r in statement["Resource"]), statement
    # The one "*": GetMetricData, which IAM accepts only on "*".
    policies = ops.find_resources("AWS::IAM::Policy")
    wildcards = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Resource"] == "*"
    ]
    assert [s["Action"] for s in wildcards if s.get("Sid") == "ReadBedrockMetrics"] == [
        "cloudwatch:GetMetricData"
    ]


def test_the_enforcers_failures_and_a_fail_closed_meter_outage_alarm(
    app_and_ops: tuple[Any, Template],
) -> None:
    _, ops = app_and_ops
    ops.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"AlarmName": "bedrock-limit-enforcer-errors", "MetricName": "Errors"},
    )
    ops.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "bedrock-limit-enforcer-meter-unavailable",
            "Namespace": "BedrockLimitEnforcer",
            "MetricName": "MeterUnavailable",
        },
    )


def test_the_operations_template_passes_cfn_lint_and_cdk_nag(
    app_and_ops: tuple[Any, Template], tmp_path: Path
) -> None:
    _, ops = app_and_ops
    path = tmp_path / "ops.template.json"
    path.write_text(json.dumps(ops.to_json()))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.stdout == "" and result.returncode == 0, result.stdout + result.stderr
    left = [
        f"{f.rule} at {f.path}"
        for f in run_nag(limited_registry(), apply_acknowledgments=True).enforced()
    ]
    assert left == []
