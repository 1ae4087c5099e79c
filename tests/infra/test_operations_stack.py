"""The operations stack: one invoker role per tenant, trusted only by that tenant."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from contracts.registry import TenantRegistry, parse_registry
from stacks.bedrock_model_access import model_access_statements
from stacks.invocation_logging_guard import (
    GUARD_RESOURCE_TYPE,
    READ_LOGGING_CONFIG,
    READ_LOGGING_CONFIG_SID,
)
from tests.infra.conftest import synth_templates


def _roles(template: Template) -> dict[str, dict[str, Any]]:
    return template.find_resources("AWS::IAM::Role")


def _policy_of_role(template: Template, role_name: str) -> dict[str, Any]:
    roles = _roles(template)
    logical = next(k for k, v in roles.items() if v["Properties"]["RoleName"] == role_name)
    policies = template.find_resources("AWS::IAM::Policy")
    attached = [p for p in policies.values() if {"Ref": logical} in p["Properties"]["Roles"]]
    assert len(attached) == 1
    return attached[0]["Properties"]["PolicyDocument"]


def test_one_invoker_role_per_tenant(templates: dict[str, Template]) -> None:
    names = sorted(
        r["Properties"]["RoleName"]
        for r in _roles(templates["BedrockOperations"]).values()
        if r["Properties"].get("RoleName", "").startswith("bedrock-invoker-")
    )
    assert names == ["bedrock-invoker-acme", "bedrock-invoker-globex"]


def test_trust_admits_only_the_tenants_assuming_role_with_its_external_id(
    templates: dict[str, Template],
) -> None:
    templates["BedrockOperations"].has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "bedrock-invoker-acme",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                        "Condition": {
                            "StringEquals": {
                                "sts:ExternalId": "acme-5f0c2a9e8b7d4c1e",
                                "sts:RoleSessionName": "acme",
                            },
                            "ArnEquals": {
                                "aws:PrincipalArn": "arn:aws:iam::222222222222:role/bedrock-caller-acme"
                            },
                        },
                    }
                ],
            },
        },
    )


def test_invoker_role_may_call_only_the_tenants_models(templates: dict[str, Template]) -> None:
    doc = _policy_of_role(templates["BedrockOperations"], "bedrock-invoker-globex")
    assert doc["Statement"] == [
        {
            "Sid": "FoundationModels",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        }
    ]


def test_inference_profile_grants_profile_and_every_destination_region(
    templates: dict[str, Template],
) -> None:
    doc = _policy_of_role(templates["BedrockOperations"], "bedrock-invoker-acme")
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    profile = "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert by_sid["InferenceProfiles"]["Resource"] == profile
    routed = by_sid["ModelsRoutedByInferenceProfiles"]
    assert routed["Resource"] == [
        f"arn:aws:bedrock:{r}::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"
        for r in ("us-east-1", "us-east-2", "us-west-2")
    ]
    # Destination-region models are reachable only through the profile.
    assert routed["Condition"] == {"StringEquals": {"bedrock:InferenceProfileArn": [profile]}}


def test_global_profile_needs_region_less_model_arn_with_unspecified_region() -> None:
    statements = model_access_statements(
        ["global.anthropic.claude-sonnet-4-20250514-v1:0"],
        partition="aws",
        account="111111111111",
        region="us-east-1",
        profile_regions=lambda p: (),
    )
    docs = {s.sid: s.to_statement_json() for s in statements}
    assert docs["ModelsRoutedByGlobalProfiles"]["Resource"] == (
        "arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"
    )
    assert (
        docs["ModelsRoutedByGlobalProfiles"]["Condition"]["StringEquals"]["aws:RequestedRegion"]
        == "unspecified"
    )


def test_no_wildcard_in_bedrock_or_sts_actions_or_resources(templates: dict[str, Template]) -> None:
    for name, template in templates.items():
        for policy in template.find_resources("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"]
                    if isinstance(statement["Action"], list)
                    else [statement["Action"]]
                )
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                for action in actions:
                    assert "*" not in action, f"{name}: wildcard action {action}"
                # The guard's account-level read has no resource type (see test_least_privilege).
                if statement.get("Sid") == READ_LOGGING_CONFIG_SID and actions == [
                    READ_LOGGING_CONFIG
                ]:
                    continue
                if any(a.startswith(("bedrock:", "sts:")) for a in actions):
                    for resource in resources:
                        assert "*" not in str(resource), f"{name}: wildcard resource {resource}"


def test_stack_outputs_every_invoker_role_arn(templates: dict[str, Template]) -> None:
    outputs = templates["BedrockOperations"].find_outputs("*")
    assert {k for k in outputs if k.startswith("InvokerRoleArn")} == {
        "InvokerRoleArnacme",
        "InvokerRoleArnglobex",
    }


def test_adding_a_tenant_leaves_other_tenants_resources_untouched(
    registry: TenantRegistry, templates: dict[str, Template]
) -> None:
    data = registry.model_dump(mode="json", exclude_none=True)
    data["tenants"].insert(
        0,
        {
            "id": "initech",
            "account_id": "444444444444",
            "region": "eu-west-1",
            "external_id": "initech-0123456789",
        },
    )
    bigger = synth_templates(parse_registry(data))["BedrockOperations"].to_json()["Resources"]
    before = templates["BedrockOperations"].to_json()["Resources"]
    guard = next(k for k, v in before.items() if v["Type"] == GUARD_RESOURCE_TYPE)
    # Only the guard changes, on purpose: a new tenant set re-runs its check.
    assert (
        bigger[guard]["Properties"]["RecheckToken"] != before[guard]["Properties"]["RecheckToken"]
    )
    assert {k: v for k, v in bigger.items() if k in before and k != guard} == {
        k: v for k, v in before.items() if k != guard
    }
    new_roles = [
        v["Properties"]["RoleName"]
        for k, v in bigger.items()
        if k not in before and v["Type"] == "AWS::IAM::Role"
    ]
    assert new_roles == ["bedrock-invoker-initech"]
    assert len(bigger) == len(before) + 2
