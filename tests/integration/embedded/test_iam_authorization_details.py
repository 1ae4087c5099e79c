"""IAM audit tools read an embedded account whole: GetAccountAuthorizationDetails as on AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import ACME, allow, policy

pytestmark = pytest.mark.xdist_group("embedded-iam-details")

READ_LOGS = {"Version": "2012-10-17", "Statement": [allow("logs:GetLogEvents", "*")]}
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# As CDK writes a function's role: inline policies in the template and an
# AWS::IAM::Policy naming the role; a managed policy beside it.
TEMPLATE = {
    "Resources": {
        "ReadLogs": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"ManagedPolicyName": "read-logs", "PolicyDocument": READ_LOGS},
        },
        "InvokerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": "bedrock-invoker-acme",
                "AssumeRolePolicyDocument": LAMBDA_TRUST,
                "Policies": [{"PolicyName": "invoke", "PolicyDocument": READ_LOGS}],
            },
        },
        "DefaultPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "default",
                "PolicyDocument": READ_LOGS,
                "Roles": [{"Ref": "InvokerRole"}],
            },
        },
    }
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[ACME], warm_lambdas=False) as embedded:
        embedded.client("cloudformation", ACME).create_stack(
            StackName="roles", TemplateBody=json.dumps(TEMPLATE)
        )
        iam = embedded.client("iam", ACME)
        # Attached through the API: moto 5.2.5 ignores a template role's ManagedPolicyArns.
        iam.attach_role_policy(
            RoleName="bedrock-invoker-acme",
            PolicyArn=f"arn:aws:iam::{ACME}:policy/read-logs",
        )
        iam.create_group(GroupName="auditors")
        iam.put_group_policy(
            GroupName="auditors",
            PolicyName="read",
            PolicyDocument=policy(allow("iam:Get*", "*")),
        )
        iam.create_user(UserName="alice")
        iam.add_user_to_group(GroupName="auditors", UserName="alice")
        yield embedded


def all_pages(cloud: EmbeddedCloud, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = cloud.client("iam", ACME).get_paginator("get_account_authorization_details")
    return list(paginator.paginate(**kwargs))


def test_a_deployed_roles_inline_and_attached_policies_are_listed(cloud: EmbeddedCloud) -> None:
    details = cloud.client("iam", ACME).get_account_authorization_details()
    role = next(r for r in details["RoleDetailList"] if r["RoleName"] == "bedrock-invoker-acme")
    inline = {p["PolicyName"]: p["PolicyDocument"] for p in role["RolePolicyList"]}
    assert inline == {"invoke": READ_LOGS, "default": READ_LOGS}
    assert [p["PolicyName"] for p in role["AttachedManagedPolicies"]] == ["read-logs"]
    assert role["AssumeRolePolicyDocument"] == LAMBDA_TRUST
    managed = next(p for p in details["Policies"] if p["PolicyName"] == "read-logs")
    assert [v["Document"] for v in managed["PolicyVersionList"]] == [READ_LOGS]


def test_users_and_groups_come_with_their_memberships_and_policies(cloud: EmbeddedCloud) -> None:
    details = cloud.client("iam", ACME).get_account_authorization_details(Filter=["User", "Group"])
    alice = next(u for u in details["UserDetailList"] if u["UserName"] == "alice")
    assert alice["GroupList"] == ["auditors"]
    (group,) = details["GroupDetailList"]
    assert group["GroupPolicyList"][0]["PolicyName"] == "read"
    assert details["RoleDetailList"] == [] and details["Policies"] == []


def test_pages_hold_max_items_and_together_hold_everything(cloud: EmbeddedCloud) -> None:
    whole = cloud.client("iam", ACME).get_account_authorization_details()
    assert whole["IsTruncated"] is False and "Marker" not in whole
    pages = all_pages(cloud, PaginationConfig={"PageSize": 1})
    lists = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
    assert all(sum(len(page[key]) for key in lists) == 1 for page in pages)
    assert [page["IsTruncated"] for page in pages] == [True] * (len(pages) - 1) + [False]
    for key in lists:
        assert [e for page in pages for e in page[key]] == whole[key]


def test_a_made_up_marker_is_a_validation_error(cloud: EmbeddedCloud) -> None:
    with pytest.raises(ClientError) as refused:
        cloud.client("iam", ACME).get_account_authorization_details(Marker="not-a-marker")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
