"""The operations stack: one invoker role per tenant, trusted only by that tenant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import build_app
from contracts import naming
from contracts.registry import MAX_SHARD_CAPACITY, RegistryError, TenantRegistry, parse_registry
from stacks.operations.bedrock_model_access import model_access_statements
from stacks.operations.invocation_logging_guard import (
    GUARD_RESOURCE_TYPE,
    READ_LOGGING_CONFIG,
    READ_LOGGING_CONFIG_SID,
)
from stacks.shared.limits import check_templates
from tests.infra.conftest import NO_BUNDLING, synth_templates


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
            # Only in the tenant's service tiers (the default one unless the registry says).
            "Condition": {"StringEquals": {"bedrock:ServiceTier": ["default"]}},
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
    assert routed["Condition"] == {
        "StringEquals": {
            "bedrock:InferenceProfileArn": [profile],
            "bedrock:ServiceTier": ["default"],
        }
    }


def test_global_profile_needs_region_less_model_arn_with_unspecified_region() -> None:
    statements = model_access_statements(
        ["global.anthropic.claude-sonnet-4-20250514-v1:0"],
        partition="aws",
        account="111111111111",
        region="us-east-1",
        profile_regions=lambda p: (),
    )
    docs = {s["Sid"]: s for s in statements}
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


# --- cost allocation: tags and application inference profiles ------------------------------

ACME_MODELS = (
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
)


def _with_profiles(registry: TenantRegistry, **acme: Any) -> TenantRegistry:
    """The example registry with acme's profiles on (and ``acme``'s other fields)."""
    data = registry.model_dump(mode="json", exclude_none=True)
    data["tenants"][0].update({"application_inference_profiles": True, **acme})
    return parse_registry(data)


@pytest.fixture(scope="module")
def profile_templates(registry: TenantRegistry) -> dict[str, Template]:
    return synth_templates(_with_profiles(registry, cost_centre="CC-4711"))


def _profiles(template: Template) -> dict[str, dict[str, Any]]:
    return template.find_resources("AWS::Bedrock::ApplicationInferenceProfile")


def test_invoker_roles_carry_the_tenant_id_tag_and_the_cost_centre_when_set(
    profile_templates: dict[str, Template], templates: dict[str, Template]
) -> None:
    ops = profile_templates["BedrockOperations"]
    ops.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "bedrock-invoker-acme",
            "Tags": [
                {"Key": naming.COST_CENTRE_TAG_KEY, "Value": "CC-4711"},
                {"Key": naming.TENANT_TAG_KEY, "Value": "acme"},
            ],
        },
    )
    # No cost centre in the registry: only the tenant id.
    for tmpl in (ops, templates["BedrockOperations"]):
        tmpl.has_resource_properties(
            "AWS::IAM::Role",
            {
                "RoleName": "bedrock-invoker-globex",
                "Tags": [{"Key": "tenant-id", "Value": "globex"}],
            },
        )


def test_a_tenant_with_profiles_gets_one_tagged_profile_per_model_copying_what_the_id_calls(
    profile_templates: dict[str, Template], templates: dict[str, Template]
) -> None:
    profiles = _profiles(profile_templates["BedrockOperations"])
    by_name = {p["Properties"]["InferenceProfileName"]: p["Properties"] for p in profiles.values()}
    assert set(by_name) == {
        naming.application_inference_profile_name("acme", m) for m in ACME_MODELS
    }
    haiku, us_haiku = (
        by_name[naming.application_inference_profile_name("acme", m)] for m in ACME_MODELS
    )
    assert haiku["ModelSource"] == {
        "CopyFrom": f"arn:aws:bedrock:us-east-1::foundation-model/{ACME_MODELS[0]}"
    }
    assert us_haiku["ModelSource"] == {
        "CopyFrom": f"arn:aws:bedrock:us-east-1:111111111111:inference-profile/{ACME_MODELS[1]}"
    }
    for props in by_name.values():
        assert props["Tags"] == [
            {"Key": "cost-centre", "Value": "CC-4711"},
            {"Key": "tenant-id", "Value": "acme"},
        ]
        assert len(props["InferenceProfileName"]) <= 64
    # Off by default: the example registry has none.
    assert _profiles(templates["BedrockOperations"]) == {}


def test_a_tenant_with_profiles_may_invoke_only_through_its_own_profiles(
    profile_templates: dict[str, Template],
) -> None:
    ops = profile_templates["BedrockOperations"]
    logical = {
        p["Properties"]["ModelSource"]["CopyFrom"].rsplit("/", 1)[1]: k
        for k, p in _profiles(ops).items()
    }
    arns = [{"Fn::GetAtt": [logical[m], "InferenceProfileArn"]} for m in ACME_MODELS]
    doc = _policy_of_role(ops, "bedrock-invoker-acme")
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert set(by_sid) == {
        "ApplicationInferenceProfiles",
        "ModelsRoutedByInferenceProfiles",
        "ReadOwnInferenceProfileArns",
    }
    # The one parameter that lists its own profiles' ARNs, nothing else in SSM.
    assert by_sid["ReadOwnInferenceProfileArns"]["Action"] == "ssm:GetParameter"
    assert by_sid["ReadOwnInferenceProfileArns"]["Resource"] == (
        "arn:aws:ssm:us-east-1:111111111111:parameter/bedrock-invoker/acme/inference-profile-arns"
    )
    assert by_sid["ApplicationInferenceProfiles"]["Resource"] == arns
    assert by_sid["ApplicationInferenceProfiles"]["Condition"] == {
        "StringEquals": {"bedrock:ServiceTier": ["default"]}
    }
    routed = by_sid["ModelsRoutedByInferenceProfiles"]
    assert sorted(routed["Resource"]) == sorted(
        [
            f"arn:aws:bedrock:us-east-1::foundation-model/{ACME_MODELS[0]}",
            *(
                f"arn:aws:bedrock:{r}::foundation-model/{ACME_MODELS[1].removeprefix('us.')}"
                for r in ("us-east-1", "us-east-2", "us-west-2")
            ),
        ]
    )
    # No foundation model, and no system profile, outside the tenant's own profiles.
    assert routed["Condition"] == {
        "StringEquals": {"bedrock:InferenceProfileArn": arns, "bedrock:ServiceTier": ["default"]}
    }
    # The other tenant keeps its direct grant.
    assert _policy_of_role(ops, "bedrock-invoker-globex")["Statement"][0]["Sid"] == (
        "FoundationModels"
    )


def test_each_profile_arn_is_an_output_under_the_contracts_key(
    profile_templates: dict[str, Template],
) -> None:
    ops = profile_templates["BedrockOperations"]
    outputs = ops.find_outputs("*")
    profiles = _profiles(ops)
    for model in ACME_MODELS:
        output = outputs[naming.inference_profile_output_key("acme", model)]
        target, attribute = output["Value"]["Fn::GetAtt"]
        assert attribute == "InferenceProfileArn"
        assert profiles[target]["Properties"]["InferenceProfileName"] == (
            naming.application_inference_profile_name("acme", model)
        )


def test_the_profile_arns_are_published_in_the_operations_account_not_passed_to_the_customer(
    profile_templates: dict[str, Template],
) -> None:
    """A plain `cdk deploy` of the customer stack must give a working function: nothing
    it needs is a parameter only tenantctl would pass. The ARNs, generated by Bedrock
    in the operations account, are in an SSM parameter there that the function reads."""
    ops = profile_templates["BedrockOperations"]
    logical = {
        p["Properties"]["ModelSource"]["CopyFrom"].rsplit("/", 1)[1]: k
        for k, p in _profiles(ops).items()
    }
    [parameter] = ops.find_resources(
        "AWS::SSM::Parameter",
        {"Properties": {"Name": naming.inference_profiles_parameter_name("acme")}},
    ).values()
    value = json.dumps(parameter["Properties"]["Value"])
    for model in ACME_MODELS:
        assert model in value
        assert logical[model] in value  # GetAtt of that model's own profile
    customer = profile_templates["BedrockCustomer-acme"].to_json()
    assert not customer.get("Parameters", {}).keys() - {"BootstrapVersion"}
    [function] = [r for r in customer["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["APPLICATION_INFERENCE_PROFILES"] == "true"
    assert "INFERENCE_PROFILE_ARNS" not in env


def test_profiles_count_against_the_shards_capacity_and_a_full_shard_fits_the_limits() -> None:
    def fleet(count: int, capacity: int, *, profiles: bool) -> dict[str, Any]:
        return {
            "operations": {
                "account_id": "111111111111",
                "region": "us-east-1",
                "shard_capacity": capacity,
            },
            "defaults": {"models": list(ACME_MODELS), "application_inference_profiles": profiles},
            "tenants": [
                {
                    "id": f"t{i}",
                    "account_id": f"{200000000000 + i}",
                    "region": "us-east-1",
                    "external_id": f"t{i}-external",
                }
                for i in range(count)
            ],
        }

    # Each tenant takes 3 slots (its role, two profiles): 4 of them overflow 10 slots.
    with pytest.raises(RegistryError) as refused:
        parse_registry(fleet(4, 10, profiles=True))
    [issue] = refused.value.issues
    assert issue.path == "tenants[3].shard"
    assert "takes 3 slots" in issue.message and "to 12" in issue.message
    assert "shard_capacity 10" in issue.message
    full = parse_registry(fleet(3, 10, profiles=True))
    assert full.shard_for_new_tenant() == 1  # 9 slots used, a 3-slot tenant needs shard 1
    assert parse_registry(fleet(4, 10, profiles=False)).shard_for_new_tenant() == 0
    # At the largest capacity, a shard of profile tenants stays inside CloudFormation's limits.
    big = parse_registry(fleet(MAX_SHARD_CAPACITY // 3, MAX_SHARD_CAPACITY, profiles=True))
    assembly = build_app(big, context=NO_BUNDLING).synth()
    templates = {s.stack_name: s.template for s in assembly.stacks}
    assert check_templates(templates, big).errors == ()
    ops = templates["BedrockOperations"]
    assert len(ops["Outputs"]) <= MAX_SHARD_CAPACITY + 10
