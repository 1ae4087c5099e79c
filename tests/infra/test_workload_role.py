"""A tenant's workload role: what it trusts, what it may do, the settings it reads,
and that a tenant without one gets the very templates it had."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from contracts import naming
from contracts.function_environment import CONSTANT_VARIABLES, FunctionEnvironment
from contracts.registry import TenantRegistry, parse_registry
from contracts.registry.loading import parse_registry_yaml
from tests.conftest import EXAMPLE_REGISTRY
from tests.infra.conftest import synth_templates

NOTEBOOK_ROLE = "arn:aws:iam::444444444444:role/ml/notebook-runner"
TRAINING_ROLE = "arn:aws:iam::444444444444:role/training"
BATCH_USER = "arn:aws:iam::222222222222:user/batch"
WORKLOAD_ROLE = {
    "principals": [NOTEBOOK_ROLE, BATCH_USER, TRAINING_ROLE],
    "services": ["ecs-tasks"],
}


def _example() -> dict[str, Any]:
    data = parse_registry_yaml(EXAMPLE_REGISTRY.read_text())
    assert isinstance(data, dict)
    return data


def _with_workload_role(block: dict[str, Any]) -> TenantRegistry:
    data = copy.deepcopy(_example())
    (acme,) = [t for t in data["tenants"] if t["id"] == "acme"]
    acme["workload_role"] = block
    return parse_registry(data)


@pytest.fixture(scope="module")
def before() -> dict[str, dict[str, Any]]:
    return {k: t.to_json() for k, t in synth_templates(parse_registry(_example())).items()}


@pytest.fixture(scope="module")
def after() -> dict[str, dict[str, Any]]:
    templates = synth_templates(_with_workload_role(WORKLOAD_ROLE))
    return {k: t.to_json() for k, t in templates.items()}


def _workload_role(template: dict[str, Any]) -> dict[str, Any]:
    (role,) = (
        Template.from_json(template)
        .find_resources("AWS::IAM::Role", {"Properties": {"RoleName": "bedrock-workload-acme"}})
        .values()
    )
    return role


def test_the_role_trusts_each_listed_principals_account_pinned_to_exactly_them(
    after: dict[str, dict[str, Any]],
) -> None:
    trust = _workload_role(after["BedrockCustomer-acme"])["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": [NOTEBOOK_ROLE, TRAINING_ROLE]}},
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444444444444:root"},
        },
        {
            "Action": "sts:AssumeRole",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": BATCH_USER}},
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
        },
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        },
    ]


def test_an_account_root_admits_the_account_without_a_pin() -> None:
    templates = synth_templates(
        _with_workload_role({"principals": ["arn:aws:iam::222222222222:root"]})
    )
    trust = _workload_role(templates["BedrockCustomer-acme"].to_json())["Properties"]
    assert trust["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
        }
    ]


def test_the_role_has_the_functions_rights_and_reads_only_its_settings(
    after: dict[str, dict[str, Any]],
) -> None:
    template = Template.from_json(after["BedrockCustomer-acme"])
    role_id = next(
        iter(
            template.find_resources(
                "AWS::IAM::Role", {"Properties": {"RoleName": "bedrock-workload-acme"}}
            )
        )
    )
    (policy,) = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    usage = "arn:aws:logs:us-east-1:222222222222:log-group:/aws/bedrock/langchain/logs"
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Resource": "arn:aws:iam::111111111111:role/bedrock-invoker-acme",
            "Sid": "AssumeOwnInvokerRoleOnly",
        },
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": [usage, f"{usage}:log-stream:*"],
            "Sid": "WriteUsageRecords",
        },
        {
            "Action": "ssm:GetParameter",
            "Effect": "Allow",
            "Resource": (
                "arn:aws:ssm:us-east-1:222222222222:parameter/bedrock-invoker/acme/client-settings"
            ),
            "Sid": "ReadOwnClientSettings",
        },
    ]


def test_the_client_settings_are_the_functions_environment(
    after: dict[str, dict[str, Any]],
) -> None:
    template = Template.from_json(after["BedrockCustomer-acme"])
    (parameter,) = template.find_resources("AWS::SSM::Parameter").values()
    props = parameter["Properties"]
    assert props["Name"] == naming.client_settings_parameter_name("acme")
    assert (props["Type"], props["Tier"]) == ("String", "Standard")
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": "bedrock-invoker-acme"}}
    ).values()
    variables = function["Properties"]["Environment"]["Variables"]
    settings = json.loads(props["Value"])
    assert settings == {k: v for k, v in variables.items() if k not in CONSTANT_VARIABLES}
    # What the library does with it: the function's own contract, read back.
    environment = FunctionEnvironment.from_env(settings)
    assert environment.tenant_id == "acme"
    assert environment.ops_role_arn == "arn:aws:iam::111111111111:role/bedrock-invoker-acme"


def test_the_stack_outputs_the_role_and_the_parameter(after: dict[str, dict[str, Any]]) -> None:
    outputs = after["BedrockCustomer-acme"]["Outputs"]
    role_id = next(
        k
        for k, r in after["BedrockCustomer-acme"]["Resources"].items()
        if k.startswith("Workload") and r["Type"] == "AWS::IAM::Role"
    )
    assert outputs["WorkloadRoleArn"] == {"Value": {"Fn::GetAtt": [role_id, "Arn"]}}
    assert outputs["ClientSettingsParameterName"] == {
        "Value": "/bedrock-invoker/acme/client-settings"
    }


def test_the_invoker_role_admits_the_workload_role_with_the_same_pins(
    after: dict[str, dict[str, Any]],
) -> None:
    (role,) = (
        Template.from_json(after[naming.OPERATIONS_STACK_NAME])
        .find_resources("AWS::IAM::Role", {"Properties": {"RoleName": "bedrock-invoker-acme"}})
        .values()
    )
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    assert statement["Condition"] == {
        "StringEquals": {"sts:ExternalId": "acme-5f0c2a9e8b7d4c1e", "sts:RoleSessionName": "acme"},
        "ArnEquals": {
            "aws:PrincipalArn": [
                "arn:aws:iam::222222222222:role/bedrock-caller-acme",
                "arn:aws:iam::222222222222:role/bedrock-workload-acme",
            ]
        },
    }


def test_the_block_adds_the_role_parameter_and_outputs_and_changes_nothing_else(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> None:
    assert set(before) == set(after)
    # Another tenant's templates, byte for byte.
    assert json.dumps(after["BedrockCustomer-globex"]) == json.dumps(
        before["BedrockCustomer-globex"]
    )
    acme, acme_before = after["BedrockCustomer-acme"], before["BedrockCustomer-acme"]
    added = set(acme["Resources"]) - set(acme_before["Resources"])
    assert {acme["Resources"][k]["Type"] for k in added} == {
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::SSM::Parameter",
    }
    unchanged = {k: v for k, v in acme["Resources"].items() if k not in added}
    assert json.dumps(unchanged) == json.dumps(acme_before["Resources"])
    assert set(acme["Outputs"]) - set(acme_before["Outputs"]) == {
        "WorkloadRoleArn",
        "ClientSettingsParameterName",
    }
    # The operations stack: only acme's trust names one ARN more.
    ops, ops_before = after[naming.OPERATIONS_STACK_NAME], before[naming.OPERATIONS_STACK_NAME]
    changed = [k for k in ops["Resources"] if ops["Resources"][k] != ops_before["Resources"].get(k)]
    assert len(changed) == 1 and changed[0].startswith("Invokeracme")
    assert set(ops["Resources"]) == set(ops_before["Resources"])
