"""Every template stays deployable by the embedded cloud (moto 5.2.5's CloudFormation).

moto silently skips resource types it has no model for, and runs Lambda code
only through the project's Python runner, so a new resource type, a Node.js
helper (``log_retention=``, ``AwsCustomResource``, ``autoDeleteObjects``) or a
custom resource backed by anything but a Python function in the same stack
would deploy "successfully" locally and do nothing. These tests fail first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Template
from moto.cloudformation.parsing import get_model_map

from contracts.registry import load_registry
from embedded_aws.moto_patches.bedrock import APPLICATION_INFERENCE_PROFILE_TYPE
from embedded_aws.moto_patches.bedrock_guardrails import (
    ENFORCED_GUARDRAIL_TYPE,
    GUARDRAIL_TYPE,
    GUARDRAIL_VERSION_TYPE,
)
from stacks.shared.lambda_bundling import LambdaPlatform
from tests.conftest import EXAMPLE_REGISTRY, LOCAL_REGISTRY
from tests.infra.conftest import NO_BUNDLING
from tests.infra.security_registries import wide_registry

# Types moto's CloudFormation creates (checked against moto below).
DEPLOYED_BY_MOTO = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::Logs::LogGroup",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Version",
    "AWS::SNS::Topic",
    "AWS::Events::Rule",
    "AWS::CloudWatch::Dashboard",
    "AWS::SSM::Parameter",
}
# Types moto skips, each harmless locally for the reason given.
# Types moto lacks that the embedded cloud models itself (embedded_aws.moto_patches).
# (The alias is modelled by moto_patches.lambda_, which also invokes through it.)
DEPLOYED_BY_EMBEDDED_CLOUD = {
    APPLICATION_INFERENCE_PROFILE_TYPE,
    GUARDRAIL_TYPE,
    GUARDRAIL_VERSION_TYPE,
    ENFORCED_GUARDRAIL_TYPE,
    "AWS::Lambda::Alias",
}
SKIPPED_BY_MOTO = {
    "AWS::CDK::Metadata": "CDK's usage metadata; the embedded cloud maps it to no model",
    "AWS::SNS::TopicPolicy": (
        "the alert topic's policy (SSL only, the alert rule may publish); moto does not "
        "enforce SNS resource policies, so skipping it changes nothing locally"
    ),
    "AWS::CloudWatch::Alarm": (
        "the tenant's usage alarms; the embedded cloud evaluates no alarm and nothing "
        "references one (the dashboard names them), so the rest deploys the same"
    ),
    "AWS::Logs::QueryDefinition": (
        "saved Logs Insights queries, a console convenience; the embedded cloud has no "
        "Logs Insights console and nothing references them"
    ),
}
CUSTOM_RESOURCE_TYPES = {"Custom::OpsInvocationLoggingGuard"}


def _templates() -> Iterator[tuple[str, dict[str, Any]]]:
    from app import build_app

    registries = {
        "example": load_registry(EXAMPLE_REGISTRY),
        "local": load_registry(LOCAL_REGISTRY),
        "wide": wide_registry(),
    }
    for registry_name, registry in registries.items():
        # The embedded deploy builds for the host (lambda_platform=host).
        app = build_app(registry, context=NO_BUNDLING, platform=LambdaPlatform.host())
        for stack in app.synth().stacks:
            yield (
                f"{registry_name}/{stack.stack_name}",
                Template.from_json(stack.template).to_json(),
            )


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return dict(_templates())


def test_every_resource_type_is_one_the_embedded_cloud_deploys(
    templates: dict[str, dict[str, Any]],
) -> None:
    allowed = (
        DEPLOYED_BY_MOTO | DEPLOYED_BY_EMBEDDED_CLOUD | set(SKIPPED_BY_MOTO) | CUSTOM_RESOURCE_TYPES
    )
    for where, template in templates.items():
        for logical, resource in template["Resources"].items():
            assert resource["Type"] in allowed, (
                f"{where}: {logical} is {resource['Type']}, which moto's CloudFormation would "
                "skip; make it deployable locally or list it with a reason"
            )


def test_the_allowlist_matches_what_moto_really_models() -> None:
    modelled = set(get_model_map())
    assert modelled >= DEPLOYED_BY_MOTO, DEPLOYED_BY_MOTO - modelled
    assert not modelled & set(SKIPPED_BY_MOTO), "moto models it now: move it to DEPLOYED_BY_MOTO"


def test_every_function_is_python(templates: dict[str, dict[str, Any]]) -> None:
    for where, template in templates.items():
        for logical, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Function":
                props = resource["Properties"]
                assert str(props.get("Runtime", "")).startswith("python"), f"{where} {logical}"
                assert "Layers" not in props and "ImageUri" not in props.get("Code", {})


def test_custom_resources_are_served_by_a_python_function_in_the_same_stack(
    templates: dict[str, dict[str, Any]],
) -> None:
    served = 0
    operations_stacks = 0
    for where, template in templates.items():
        operations_stacks += "BedrockOperations" in where
        resources = template["Resources"]
        for logical, resource in resources.items():
            kind = resource["Type"]
            if not (kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource"):
                continue
            token = resource["Properties"]["ServiceToken"]
            assert isinstance(token, dict) and list(token) == ["Fn::GetAtt"], (where, token)
            target, attribute = token["Fn::GetAtt"]
            assert attribute == "Arn"
            function = resources[target]
            assert function["Type"] == "AWS::Lambda::Function", f"{where} {logical}"
            assert function["Properties"]["Runtime"].startswith("python")
            served += 1
    assert served == operations_stacks == 4, "one guard per operations stack"
