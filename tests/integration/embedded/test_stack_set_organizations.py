"""The customer StackSet rolled out to an organization's OUs as SERVICE_MANAGED instances.

The embedded cloud's accounts join an organization (``build_organization``: the
operations account manages it; tenants in an OU and a child OU, one account
outside), and StackSets resolves the OUs to accounts and deploys a real stack in
each, as on AWS. The template is the one the app synthesizes with
``-c customer_stack_set=true``, each tenant's overrides from
``stack_set_parameters``. A separate "pilot" OU shows failures: a bad parameter
fails its account only, within the failure tolerance, and past it the rest is
cancelled. The tests run in order on one cloud; the last one removes a tenant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from contracts.registry import TenantRegistry, parse_registry, parse_registry_yaml
from embedded_aws import EmbeddedCloud
from embedded_aws.organization import (
    STACK_SETS_SERVICE_PRINCIPAL,
    Organization,
    build_organization,
    organizations_client,
)
from stacks.customer.customer_stack_set import stack_set_parameters
from tests.conftest import EXAMPLE_REGISTRY
from tests.integration.embedded.test_stack_set import CODE_BUCKET, _code_zip, template

pytestmark = [
    pytest.mark.xdist_group("embedded-stack-set"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
__all__ = ["template"]  # the fixture, shared with the StackSet tests

OPS = "111111111111"  # the operations account manages the organization
INITECH = "444444444444"  # a tenant in the child OU tenants/eu
OUTSIDER = "555555555555"  # in the organization, outside every OU targeted
PILOTS = ["666666666666", "777777777777", "888888888888"]
STACK_SET = "bedrock-customer"
PILOT_STACK_SET = "bedrock-customer-pilot"


@dataclass(frozen=True)
class Rollout:
    cloud: EmbeddedCloud
    registry: TenantRegistry
    organization: Organization
    operations: dict[str, str]  # tenant id -> its CreateStackInstances operation

    @property
    def admin(self) -> Any:
        return self.cloud.client("cloudformation", OPS)


@pytest.fixture(scope="module")
def registry() -> TenantRegistry:
    """The example registry with a third tenant, in the EU child OU."""
    data = parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    data["tenants"].append(
        {
            "id": "initech",
            "account_id": INITECH,
            "region": "us-east-1",
            "external_id": "initech-3c4d5e6f7a8b9c0d",
            "log_retention_days": 30,
        }
    )
    return parse_registry(data)


@pytest.fixture(scope="module")
def rollout(registry: TenantRegistry, template: dict[str, Any]) -> Iterator[Rollout]:
    tenants = registry.resolved_tenants()
    accounts = [OPS, *(t.account_id for t in tenants), OUTSIDER, *PILOTS]
    with EmbeddedCloud(accounts=accounts, warm_lambdas=False) as cloud:
        organization = build_organization(
            cloud,
            management_account=OPS,
            organizational_units={
                "tenants": [t.account_id for t in tenants if t.account_id != INITECH],
                "tenants/eu": [INITECH],
                "pilot": PILOTS,
            },
            outside_accounts=[OUTSIDER],
        )
        s3 = cloud.client("s3", OPS)
        s3.create_bucket(Bucket=CODE_BUCKET)
        code_key = template["Parameters"]["CodeKey"]["Default"]
        s3.put_object(Bucket=CODE_BUCKET, Key=code_key, Body=_code_zip())
        admin = cloud.client("cloudformation", OPS)
        admin.create_stack_set(
            StackSetName=STACK_SET,
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_NAMED_IAM"],
            PermissionModel="SERVICE_MANAGED",
            AutoDeployment={"Enabled": False},
            ManagedExecution={"Active": True},
        )
        # One call per tenant, its own overrides: the parent OU intersected with its account.
        operations = {
            tenant.id: admin.create_stack_instances(
                StackSetName=STACK_SET,
                DeploymentTargets={
                    "OrganizationalUnitIds": [organization.organizational_units["tenants"]],
                    "Accounts": [tenant.account_id],
                    "AccountFilterType": "INTERSECTION",
                },
                Regions=[tenant.region],
                ParameterOverrides=stack_set_parameters(
                    tenant, CODE_BUCKET, defaults=registry.defaults
                ),
                OperationPreferences={"MaxConcurrentPercentage": 100},
            )["OperationId"]
            for tenant in tenants
        }
        yield Rollout(cloud, registry, organization, operations)


def _stack_set_stacks(cloud: EmbeddedCloud, account: str, region: str) -> list[dict[str, Any]]:
    stacks = cloud.client("cloudformation", account, region).describe_stacks()["Stacks"]
    return [s for s in stacks if s["StackName"].startswith(f"StackSet-{STACK_SET}-")]


def test_each_tenant_in_the_ou_and_its_child_ou_gets_its_own_stack_function_role_and_log_group(
    rollout: Rollout,
) -> None:
    cloud, tenants_ou = rollout.cloud, rollout.organization.organizational_units["tenants"]
    for tenant in rollout.registry.resolved_tenants():
        operation = rollout.admin.describe_stack_set_operation(
            StackSetName=STACK_SET, OperationId=rollout.operations[tenant.id]
        )["StackSetOperation"]
        assert operation["Status"] == "SUCCEEDED"
        [stack] = _stack_set_stacks(cloud, tenant.account_id, tenant.region)
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        assert parameters["TenantId"] == tenant.id
        assert parameters["LogRetentionDays"] == str(tenant.log_retention_days)
        function = cloud.client("lambda", tenant.account_id, tenant.region).get_function(
            FunctionName=tenant.function_name
        )["Configuration"]
        env = function["Environment"]["Variables"]
        assert env["TENANT_ID"] == tenant.id
        assert env["OPS_ROLE_ARN"] == tenant.invoker_role_arn
        assert env["OPS_EXTERNAL_ID"] == tenant.external_id
        logs = cloud.client("logs", tenant.account_id, tenant.region)
        [group] = logs.describe_log_groups(logGroupNamePrefix=tenant.usage_log_group)["logGroups"]
        assert group["retentionInDays"] == tenant.log_retention_days
        roles = cloud.client("iam", tenant.account_id).list_roles()["Roles"]
        assert f"bedrock-caller-{tenant.id}" in {r["RoleName"] for r in roles}

    instances = rollout.admin.list_stack_instances(StackSetName=STACK_SET)["Summaries"]
    assert sorted((i["Account"], i["Region"]) for i in instances) == sorted(
        (t.account_id, t.region) for t in rollout.registry.resolved_tenants()
    )
    for instance in instances:
        assert instance["Status"] == "CURRENT"
        assert instance["StackInstanceStatus"]["DetailedStatus"] == "SUCCEEDED"
        assert instance["OrganizationalUnitId"] == tenants_ou  # the child OU's too
    stack_set = rollout.admin.describe_stack_set(StackSetName=STACK_SET)["StackSet"]
    assert stack_set["ManagedExecution"] == {"Active": True}


def test_an_account_outside_the_ous_gets_nothing(rollout: Rollout) -> None:
    # The tenants' OU minus the tenants: no account is left to deploy to.
    every_tenant = [t.account_id for t in rollout.registry.resolved_tenants()]
    operation_id = rollout.admin.create_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={
            "OrganizationalUnitIds": [rollout.organization.organizational_units["tenants"]],
            "Accounts": every_tenant,
            "AccountFilterType": "DIFFERENCE",
        },
        Regions=["us-east-1"],
    )["OperationId"]
    results = rollout.admin.list_stack_set_operation_results(
        StackSetName=STACK_SET, OperationId=operation_id
    )["Summaries"]
    assert results == []
    assert _stack_set_stacks(rollout.cloud, OUTSIDER, "us-east-1") == []
    functions = rollout.cloud.client("lambda", OUTSIDER).list_functions()["Functions"]
    assert functions == []
    # The management account is never a target, though it is in the organization.
    assert _stack_set_stacks(rollout.cloud, OPS, "us-east-1") == []


def test_a_service_managed_stack_set_takes_ous_not_bare_accounts(rollout: Rollout) -> None:
    with pytest.raises(ClientError, match="OrganizationalUnit"):
        rollout.admin.create_stack_instances(
            StackSetName=STACK_SET, Accounts=[OUTSIDER], Regions=["us-east-1"]
        )
    # Only the organization's management account (or its delegated admin) runs one.
    tenant_account = rollout.registry.tenant("acme").account_id
    with pytest.raises(ClientError, match="management account"):
        rollout.cloud.client("cloudformation", tenant_account).create_stack_set(
            StackSetName="not-mine", TemplateBody="{}", PermissionModel="SERVICE_MANAGED"
        )


def test_a_registered_delegated_administrator_runs_stack_sets_when_it_calls_as_one(
    rollout: Rollout,
) -> None:
    organizations_client(rollout.cloud, OPS).register_delegated_administrator(
        AccountId=OUTSIDER, ServicePrincipal=STACK_SETS_SERVICE_PRINCIPAL
    )
    delegated = rollout.cloud.client("cloudformation", OUTSIDER)
    with pytest.raises(ClientError, match="management account"):
        delegated.create_stack_set(
            StackSetName="delegated", TemplateBody="{}", PermissionModel="SERVICE_MANAGED"
        )
    delegated.create_stack_set(
        StackSetName="delegated",
        TemplateBody="{}",
        PermissionModel="SERVICE_MANAGED",
        CallAs="DELEGATED_ADMIN",
    )
    assert delegated.describe_organizations_access(CallAs="DELEGATED_ADMIN")["Status"] == "ENABLED"
    assert delegated.describe_organizations_access()["Status"] == "DISABLED"


def test_operation_preferences_refuse_a_count_and_a_percentage_of_the_same_kind(
    rollout: Rollout,
) -> None:
    for preferences in (
        {"MaxConcurrentCount": 2, "MaxConcurrentPercentage": 50},
        {"FailureToleranceCount": 1, "FailureTolerancePercentage": 10},
    ):
        with pytest.raises(ClientError) as refused:
            rollout.admin.create_stack_instances(
                StackSetName=STACK_SET,
                DeploymentTargets={
                    "OrganizationalUnitIds": [rollout.organization.organizational_units["pilot"]]
                },
                Regions=["us-east-1"],
                OperationPreferences=preferences,
            )
        error = refused.value.response["Error"]
        assert error["Code"] == "ValidationError"
        count, percentage = sorted(preferences)
        assert error["Message"] == (
            f"You must specify either {count} or {percentage}, but not both."
        )
    assert _stack_set_stacks(rollout.cloud, PILOTS[0], "us-east-1") == []


def _pilot_stack_set(rollout: Rollout) -> None:
    """A StackSet whose own parameters make a working tenant 'pilot' in any account."""
    rollout.admin.create_stack_set(
        StackSetName=PILOT_STACK_SET,
        TemplateBody=rollout.admin.describe_stack_set(StackSetName=STACK_SET)["StackSet"][
            "TemplateBody"
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SERVICE_MANAGED",
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v}
            for k, v in {
                "TenantId": "pilot",
                "ExternalId": "pilot-0a1b2c3d4e5f6a7b",
                "OperationsAccountId": OPS,
                "BedrockRegion": "us-east-1",
                "CodeBucket": CODE_BUCKET,
            }.items()
        ],
    )


def _results(rollout: Rollout, stack_set: str, operation_id: str) -> dict[str, tuple[str, str]]:
    summaries = rollout.admin.list_stack_set_operation_results(
        StackSetName=stack_set, OperationId=operation_id
    )["Summaries"]
    return {s["Account"]: (s["Status"], s.get("StatusReason", "")) for s in summaries}


def test_a_bad_parameter_fails_only_its_account_and_past_the_tolerance_the_rest_is_cancelled(
    rollout: Rollout,
) -> None:
    _pilot_stack_set(rollout)
    pilot_ou = rollout.organization.organizational_units["pilot"]
    bad = PILOTS[1]
    refused = "Parameter 'LogRetentionDays' must be one of AllowedValues"
    # The second pilot asks for a retention CloudFormation refuses: its own operation fails.
    first = rollout.admin.create_stack_instances(
        StackSetName=PILOT_STACK_SET,
        DeploymentTargets={
            "OrganizationalUnitIds": [pilot_ou],
            "Accounts": [bad],
            "AccountFilterType": "INTERSECTION",
        },
        Regions=["us-east-1"],
        ParameterOverrides=[{"ParameterKey": "LogRetentionDays", "ParameterValue": "42"}],
    )["OperationId"]
    assert _results(rollout, PILOT_STACK_SET, first) == {bad: ("FAILED", refused)}
    failed = rollout.admin.describe_stack_set_operation(
        StackSetName=PILOT_STACK_SET, OperationId=first
    )["StackSetOperation"]
    assert failed["Status"] == "FAILED"
    assert failed["StatusDetails"]["FailedStackInstancesCount"] == 1

    # The whole OU, one failure tolerated: the others deploy, the bad one fails again.
    whole = rollout.admin.create_stack_instances(
        StackSetName=PILOT_STACK_SET,
        DeploymentTargets={"OrganizationalUnitIds": [pilot_ou]},
        Regions=["us-east-1"],
        OperationPreferences={"FailureToleranceCount": 1, "MaxConcurrentCount": 2},
    )["OperationId"]
    assert _results(rollout, PILOT_STACK_SET, whole) == {
        PILOTS[0]: ("SUCCEEDED", ""),
        bad: ("FAILED", refused),
        PILOTS[2]: ("SUCCEEDED", ""),
    }
    assert (
        rollout.admin.describe_stack_set_operation(StackSetName=PILOT_STACK_SET, OperationId=whole)[
            "StackSetOperation"
        ]["Status"]
        == "SUCCEEDED"
    )
    instances = {
        i["Account"]: i
        for i in rollout.admin.list_stack_instances(StackSetName=PILOT_STACK_SET)["Summaries"]
    }
    assert instances[bad]["StackInstanceStatus"]["DetailedStatus"] == "FAILED"
    assert instances[bad]["Status"] == "OUTDATED"
    assert instances[bad]["StatusReason"] == refused
    for good in (PILOTS[0], PILOTS[2]):
        assert instances[good]["StackInstanceStatus"]["DetailedStatus"] == "SUCCEEDED"
        function = rollout.cloud.client("lambda", good).get_function(
            FunctionName="bedrock-invoker-pilot"
        )
        assert function["Configuration"]["Environment"]["Variables"]["TENANT_ID"] == "pilot"
    assert rollout.cloud.client("lambda", bad).list_functions()["Functions"] == []

    # A bad value for every instance, no failure tolerated, one account at a time:
    # the first failure stops the operation and the rest are cancelled, untouched.
    stopped = rollout.admin.update_stack_set(
        StackSetName=PILOT_STACK_SET,
        UsePreviousTemplate=True,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": "LogContent", "ParameterValue": "everything"},
            *(
                {"ParameterKey": key, "UsePreviousValue": True}
                for key in (
                    "TenantId",
                    "ExternalId",
                    "OperationsAccountId",
                    "BedrockRegion",
                    "CodeBucket",
                )
            ),
        ],
        OperationPreferences={"FailureToleranceCount": 0, "MaxConcurrentCount": 1},
    )["OperationId"]
    results = _results(rollout, PILOT_STACK_SET, stopped)
    assert sorted(status for status, _ in results.values()) == ["CANCELLED", "CANCELLED", "FAILED"]
    assert (
        rollout.admin.describe_stack_set_operation(
            StackSetName=PILOT_STACK_SET, OperationId=stopped
        )["StackSetOperation"]["Status"]
        == "FAILED"
    )
    cancelled = [a for a, (status, _) in results.items() if status == "CANCELLED"]
    instances = {
        i["Account"]: i
        for i in rollout.admin.list_stack_instances(StackSetName=PILOT_STACK_SET)["Summaries"]
    }
    for account in cancelled:
        assert instances[account]["StackInstanceStatus"]["DetailedStatus"] == "CANCELLED"


def test_removing_a_tenants_instance_deletes_its_stack_and_keeps_its_usage_log_group_and_key(
    rollout: Rollout,
) -> None:
    tenant = rollout.registry.tenant("initech")
    assert len(_stack_set_stacks(rollout.cloud, tenant.account_id, tenant.region)) == 1
    logs = rollout.cloud.client("logs", tenant.account_id, tenant.region)
    [group] = logs.describe_log_groups(logGroupNamePrefix=tenant.usage_log_group)["logGroups"]
    key_arn = group["kmsKeyId"]  # the stack's UsageLogKey

    operation_id = rollout.admin.delete_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={
            "OrganizationalUnitIds": [rollout.organization.organizational_units["tenants/eu"]]
        },
        Regions=[tenant.region],
        RetainStacks=False,
    )["OperationId"]

    assert _results(rollout, STACK_SET, operation_id) == {tenant.account_id: ("SUCCEEDED", "")}
    assert _stack_set_stacks(rollout.cloud, tenant.account_id, tenant.region) == []
    lambda_ = rollout.cloud.client("lambda", tenant.account_id, tenant.region)
    assert lambda_.list_functions()["Functions"] == []
    [kept] = logs.describe_log_groups(logGroupNamePrefix=tenant.usage_log_group)["logGroups"]
    assert kept["logGroupName"] == tenant.usage_log_group
    assert kept["kmsKeyId"] == key_arn
    kms = rollout.cloud.client("kms", tenant.account_id, tenant.region)
    # (moto's DescribeKey fails on a key a template made; its key list is enough here.)
    assert key_arn in {k["KeyArn"] for k in kms.list_keys()["Keys"]}
    remaining = rollout.admin.list_stack_instances(StackSetName=STACK_SET)["Summaries"]
    assert tenant.account_id not in {i["Account"] for i in remaining}
    assert len(remaining) == 2
