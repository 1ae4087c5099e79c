"""CloudFormation deletes a stack's role as on AWS: what the stack manages goes with it, and an
inline policy put beside the stack (a block, a downgrade) makes IAM refuse (DeleteConflict)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import OPS, allow, policy

pytestmark = pytest.mark.xdist_group("embedded-role-deletion")

ROLE = "bedrock-invoker-leaving"
READ_LOGS = {"Version": "2012-10-17", "Statement": [allow("logs:GetLogEvents", "*")]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OPS}:root"},
         "Action": "sts:AssumeRole"}
    ],
}  # fmt: skip
# The invoker role as the operations stack declares it (its permissions a separate
# AWS::IAM::Policy), plus an inline policy of its own in the role's Policies.
TEMPLATE = {
    "Resources": {
        "InvokerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": ROLE,
                "AssumeRolePolicyDocument": TRUST,
                "Policies": [{"PolicyName": "own", "PolicyDocument": READ_LOGS}],
            },
        },
        "ModelAccess": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "ModelAccess",
                "PolicyDocument": READ_LOGS,
                "Roles": [{"Ref": "InvokerRole"}],
            },
        },
    }
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS], warm_lambdas=False) as embedded:
        yield embedded


@pytest.fixture
def stack(cloud: EmbeddedCloud) -> Iterator[Any]:
    """The role's stack, deployed; its CloudFormation client."""
    cfn = cloud.client("cloudformation", OPS)
    cfn.create_stack(StackName="Leaving", TemplateBody=json.dumps(TEMPLATE))
    yield cfn
    iam = cloud.client("iam", OPS)
    try:
        for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
            iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
    except ClientError:
        pass  # deleted by the test
    cfn.delete_stack(StackName="Leaving")


def _stack_status(cfn: Any) -> str | None:
    try:
        return str(cfn.describe_stacks(StackName="Leaving")["Stacks"][0]["StackStatus"])
    except ClientError as exc:
        assert "does not exist" in str(exc)
        return None


def test_a_stack_deletes_its_role_with_the_policies_it_manages(
    cloud: EmbeddedCloud, stack: Any
) -> None:
    stack.delete_stack(StackName="Leaving")

    assert _stack_status(stack) is None
    with pytest.raises(ClientError, match="NoSuchEntity"):
        cloud.client("iam", OPS).get_role(RoleName=ROLE)


def test_an_inline_policy_beside_the_stack_fails_the_deletion_as_iam_does(
    cloud: EmbeddedCloud, stack: Any
) -> None:
    iam = cloud.client("iam", OPS)
    iam.put_role_policy(
        RoleName=ROLE,
        PolicyName="bedrock-invoker-block",
        PolicyDocument=policy({"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}),
    )

    stack.delete_stack(StackName="Leaving")  # accepted; the deletion itself fails

    assert _stack_status(stack) == "DELETE_FAILED"
    events = stack.describe_stack_events(StackName="Leaving")["StackEvents"]
    failed = {e["LogicalResourceId"]: e.get("ResourceStatusReason", "") for e in events
              if e["ResourceStatus"] == "DELETE_FAILED"}  # fmt: skip
    assert failed["Leaving"].startswith("The following resource(s) failed to delete: [InvokerRole]")
    assert failed["InvokerRole"].startswith("Cannot delete entity, must delete policies first.")
    # The role keeps what the stack does not manage, and IAM holds it to that.
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["bedrock-invoker-block"]
    with pytest.raises(ClientError, match="DeleteConflict"):
        iam.delete_role(RoleName=ROLE)

    # Lifted, the same DeleteStack finishes the job.
    iam.delete_role_policy(RoleName=ROLE, PolicyName="bedrock-invoker-block")
    stack.delete_stack(StackName="Leaving")

    assert _stack_status(stack) is None
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_role(RoleName=ROLE)
