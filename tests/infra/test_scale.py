"""Thousands of tenants: stable shards of the operations side, and synth-time limit checks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from app import StackSelection, build_app
from contracts import naming
from contracts.registry import (
    RegistryError,
    TenantRegistry,
    load_registry,
    parse_registry,
    placement,
)
from stacks.shared.limits import check_templates
from tests.conftest import EXAMPLE_REGISTRY

NO_BUNDLING = {"aws:cdk:bundling-stacks": []}


def fleet(count: int, **operations: Any) -> dict[str, Any]:
    """A generated registry: ``count`` tenants, shards recorded as onboarding would."""
    return {
        "operations": {
            "account_id": "111111111111",
            "region": "us-east-1",
            "iam_role_quota": 2000,
            **operations,
        },
        "tenants": [
            {
                "id": f"tenant-{i:05d}",
                "account_id": f"{300000000000 + i}",
                "region": "us-east-1",
                "external_id": f"tenant-{i:05d}-ext",
                "shard": i // 150,
            }
            for i in range(count)
        ],
    }


def templates(registry: TenantRegistry) -> dict[str, dict[str, Any]]:
    assembly = build_app(registry, context=NO_BUNDLING).synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}


def selected_templates(registry: TenantRegistry, stacks: list[str]) -> dict[str, dict[str, Any]]:
    """The templates of only ``stacks``, as the app's stack selection synthesizes them
    (byte-identical to the full synth's)."""
    app = build_app(registry, context=NO_BUNDLING, selection=StackSelection(tuple(stacks)))
    assembly = app.synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}


def _changed(before: dict[str, Any], after: dict[str, Any], section: str) -> set[str]:
    old, new = before.get(section) or {}, after.get(section) or {}
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


@pytest.mark.slow
def test_onboarding_and_offboarding_mid_fleet_changes_only_that_tenants_resources() -> None:
    data = fleet(1000)
    registry = parse_registry(data)
    before = templates(registry)

    # Offboard a tenant in the middle (shard 3) and onboard one where onboard puts it.
    changed = copy.deepcopy(data)
    gone = changed["tenants"].pop(500)["id"]
    new_shard = parse_registry(changed).shard_for_new_tenant()
    changed["tenants"].insert(
        700,
        {
            "id": "newcomer",
            "account_id": "399999999999",
            "region": "us-east-1",
            "external_id": "newcomer-ext",
            "shard": new_shard,
        },
    )
    after = templates(parse_registry(changed))

    assert new_shard == 3  # the gap the offboarded tenant left
    assert set(before) - set(after) == {naming.customer_stack_name(gone)}
    assert set(after) - set(before) == {naming.customer_stack_name("newcomer")}
    for stack in set(before) & set(after):
        if stack == naming.operations_stack_name(3):
            continue
        assert before[stack] == after[stack], f"{stack} changed"

    shard = naming.operations_stack_name(3)
    resources = _changed(before[shard], after[shard], "Resources")
    guard = {k for k in resources if k.startswith("InvocationLoggingGuardCheck")}
    # The guard re-checks invocation logging whenever the shard's tenants change.
    assert len(guard) == 1
    gone_id = gone.replace("-", "")
    assert all(("newcomer" in k) or (gone_id in k) for k in resources - guard), resources
    outputs = _changed(before[shard], after[shard], "Outputs")
    assert all(("newcomer" in k) or (gone_id in k) for k in outputs), outputs
    # Nobody else's role moved: every other tenant's role keeps its stack and logical id.
    for stack, template in before.items():
        if stack == naming.customer_stack_name(gone):
            continue
        for logical_id, resource in template.get("Resources", {}).items():
            if resource["Type"] == "AWS::IAM::Role" and gone_id not in logical_id:
                assert logical_id in after[stack]["Resources"], (stack, logical_id)


def test_a_single_stack_registry_keeps_its_stack_and_logical_ids() -> None:
    """Upgrading a registry from before sharding replaces no role."""
    registry = load_registry(EXAMPLE_REGISTRY)
    names = templates(registry)
    ops = names[naming.OPERATIONS_STACK_NAME]
    assert [s for s in names if s.startswith(naming.OPERATIONS_STACK_NAME)] == [
        naming.OPERATIONS_STACK_NAME
    ]
    roles = {k for k, v in ops["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    assert {k for k in roles if k.startswith("Invoker")} == {
        next(k for k in roles if k.startswith("Invokeracme")),
        next(k for k in roles if k.startswith("Invokerglobex")),
    }


def test_each_shard_has_its_own_guard_and_only_shard_0_the_alert() -> None:
    names = templates(parse_registry(fleet(160)))
    shard0, shard1 = names["BedrockOperations"], names["BedrockOperations-1"]

    def of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        return [r for r in template["Resources"].values() if r["Type"] == kind]

    assert len(of_type(shard0, "Custom::OpsInvocationLoggingGuard")) == 1
    assert len(of_type(shard1, "Custom::OpsInvocationLoggingGuard")) == 1
    assert len(of_type(shard0, "AWS::Events::Rule")) == 1
    assert of_type(shard1, "AWS::Events::Rule") == []
    functions = {
        f["Properties"]["FunctionName"]
        for t in (shard0, shard1)
        for f in of_type(t, "AWS::Lambda::Function")
    }
    assert functions == {
        "bedrock-ops-invocation-logging-guard",
        "bedrock-ops-invocation-logging-guard-1",
    }
    assert len(of_type(shard1, "AWS::IAM::Role")) == 10 + 1  # ten tenants + the guard


# --- limit checks ----------------------------------------------------------------------------


def test_limits_name_the_stack_over_resources_outputs_and_template_size() -> None:
    registry = parse_registry(fleet(20))
    names = templates(registry)
    assert check_templates(names, registry).errors == ()

    report = check_templates(
        names, registry, max_resources=40, max_outputs=19, max_template_bytes=20_000
    )
    ops = naming.OPERATIONS_STACK_NAME
    assert (
        f"stack {ops}: 20 outputs exceed CloudFormation's 19; lower operations.shard_capacity"
        in report.errors
    )
    assert any(
        e.startswith(f"stack {ops}: ") and "resources exceed CloudFormation's 40" in e
        for e in report.errors
    )
    assert any(
        e.startswith(f"stack {ops}: the template is ") and "over CloudFormation's 20000" in e
        for e in report.errors
    )
    # The customer stacks are small: only the operations stack is named.
    assert all(e.startswith(f"stack {ops}:") for e in report.errors)


def test_a_trust_policy_over_the_accounts_quota_names_the_tenants_role() -> None:
    data = fleet(2)
    data["tenants"][1]["external_id"] = "x" * 1224  # IAM's longest ExternalId
    registry = parse_registry(data)
    names = templates(registry)
    # The longest trust policy the registry allows still fits IAM's default quota ...
    assert check_templates(names, registry).errors == ()
    # ... and one over the account's quota is named with its tenant's role.
    [error] = check_templates(names, registry, max_trust_policy_chars=1500).errors
    assert error.startswith("stack BedrockOperations: the trust policy of Invokertenant00001")
    assert "over the trust-policy quota 1500" in error


def test_roles_near_the_accounts_quota_warn_at_80_percent() -> None:
    registry = parse_registry(fleet(10, iam_role_quota=14))  # 10 invoker + 1 guard = 11 roles
    report = check_templates(templates(registry), registry)
    assert report.errors == ()
    assert report.warnings == ()
    registry = parse_registry(fleet(11, iam_role_quota=14))  # 12 roles: 86%
    [warning] = check_templates(templates(registry), registry).warnings
    assert warning.startswith("operations account 111111111111 (primary): 12 IAM roles, 86% of")


# --- several operations accounts -------------------------------------------------------------


def two_accounts() -> dict[str, Any]:
    data = fleet(4)
    data["additional_operations"] = [
        {"name": "eu", "account_id": "888888888888", "region": "eu-west-1"}
    ]
    for tenant in data["tenants"][2:]:
        tenant["operations_account"] = "eu"
    return data


def test_each_operations_account_has_its_own_stacks_guard_and_alert() -> None:
    registry = parse_registry(two_accounts())
    names = templates(registry)
    assert [s.stack_name for s in registry.operations_stacks()] == [
        "BedrockOperations",
        "BedrockOperations-eu",
    ]
    for stack in ("BedrockOperations", "BedrockOperations-eu"):
        kinds = [r["Type"] for r in names[stack]["Resources"].values()]
        assert kinds.count("Custom::OpsInvocationLoggingGuard") == 1
        assert kinds.count("AWS::Events::Rule") == 1  # shard 0 of each account
    eu_roles = {
        r["Properties"]["RoleName"]
        for r in names["BedrockOperations-eu"]["Resources"].values()
        if r["Type"] == "AWS::IAM::Role" and "RoleName" in r["Properties"]
    }
    assert eu_roles == {"bedrock-invoker-tenant-00002", "bedrock-invoker-tenant-00003"}


def test_a_tenants_function_assumes_the_role_in_its_own_operations_account() -> None:
    names = templates(parse_registry(two_accounts()))

    def function_env(tenant_id: str) -> dict[str, str]:
        template = names[naming.customer_stack_name(tenant_id)]
        [function] = [
            r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
        ]
        return dict(function["Properties"]["Environment"]["Variables"])

    first, second = function_env("tenant-00000"), function_env("tenant-00003")
    assert first["OPS_ROLE_ARN"] == "arn:aws:iam::111111111111:role/bedrock-invoker-tenant-00000"
    assert first["BEDROCK_REGION"] == "us-east-1"
    assert second["OPS_ROLE_ARN"] == "arn:aws:iam::888888888888:role/bedrock-invoker-tenant-00003"
    assert second["BEDROCK_REGION"] == "eu-west-1"


def test_operations_accounts_are_validated_by_name_and_account() -> None:
    def issues(data: dict[str, Any]) -> list[str]:
        with pytest.raises(RegistryError) as exc:
            parse_registry(data)
        return [str(i) for i in exc.value.issues]

    data = two_accounts()
    data["tenants"][3]["operations_account"] = "apac"
    assert issues(data) == [
        "tenants[3].operations_account: unknown operations account 'apac' (known: primary, eu)"
    ]
    data = two_accounts()
    data["additional_operations"][0]["account_id"] = "111111111111"
    assert issues(data) == [
        "additional_operations[0].account_id: account 111111111111 is already operations"
    ]
    data = two_accounts()
    data["tenants"][0]["account_id"] = "888888888888"
    assert issues(data) == [
        "tenants[0].account_id: is an operations account; a tenant needs its own account"
    ]
    data = two_accounts()
    data["additional_operations"][0]["iam_role_quota"] = 2
    assert issues(data) == [
        "tenants: 3 IAM roles (2 invoker roles and 1 guard roles) exceed "
        "additional_operations[0].iam_role_quota 2 of account 888888888888; raise the quota "
        "(up to 5,000) or move tenants to another operations account"
    ]


def test_new_tenants_go_to_the_first_operations_account_with_a_role_to_spare() -> None:
    data = two_accounts()
    data["operations"]["iam_role_quota"] = 3  # 2 invoker roles + 1 guard: full
    registry = parse_registry(data)
    assert registry.operations_for_new_tenant().name == "eu"
    data["operations"]["iam_role_quota"] = 4
    assert parse_registry(data).operations_for_new_tenant().name == "primary"


# --- a registry written by hand ----------------------------------------------------------------


@pytest.mark.slow
def test_fix_placement_of_800_tenants_leaves_the_first_150s_templates_as_they_were() -> None:
    """A platform team's 800 tenants, no ``shard:``: the first 150 fitted shard 0 and
    were deployed from it; recording everyone's placement must not touch them."""
    data = fleet(800)
    for tenant in data["tenants"]:
        del tenant["shard"]
    deployed = copy.deepcopy(data)
    deployed["tenants"] = deployed["tenants"][:150]
    first = [naming.customer_stack_name(t["id"]) for t in deployed["tenants"]]
    wanted = [naming.OPERATIONS_STACK_NAME, *first]

    with pytest.raises(RegistryError, match="validate --fix-placement"):
        parse_registry(data)
    changes = placement.fix_placement(parse_registry(data, placed=False))
    for index, change in changes.items():
        data["tenants"][index].update(change)
    fixed = parse_registry(data)

    assert [len(t) for t in fixed.shards().values()] == [150] * 5 + [50]
    before = selected_templates(parse_registry(deployed), wanted)
    after = selected_templates(fixed, wanted)
    assert set(after) == set(wanted)
    for stack in wanted:
        # Byte for byte: no role, output or logical id of theirs changes.
        assert json.dumps(after[stack], sort_keys=True) == json.dumps(
            before[stack], sort_keys=True
        ), f"{stack} changed"
