"""``tenantctl.blocks`` against the embedded cloud: the deny stops Converse, the record
says who and why, a stack update keeps the block, and every call is idempotent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from contracts import naming
from contracts.blocks import (
    DOWNGRADE_POLICY_NAME,
    downgrade_policy_document,
    downgrade_record_parameter_name,
    new_record,
    record_value,
)
from contracts.limits import DOWNGRADE_RULE, warning_parameter_name
from embedded_aws import EmbeddedCloud
from tenantctl import blocks
from tests.integration.embedded.conftest import (
    HAIKU,
    OPS,
    REGION,
    allow,
    policy,
    session_for,
    trust,
)

pytestmark = pytest.mark.xdist_group("block-api")

TENANT = "acme"
ROLE = naming.invoker_role_name(TENANT)
MODEL_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class OpsAccount:
    """The operations account's clients, as its deployer (an operator's credentials)."""

    def __init__(self, cloud: EmbeddedCloud) -> None:
        self.cloud = cloud

    def client(self, service: str) -> Any:
        return self.cloud.client(service, OPS, REGION)


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS]) as embedded:
        yield embedded


@pytest.fixture
def ops(cloud: EmbeddedCloud) -> Iterator[OpsAccount]:
    """A fresh invoker role for acme, allowed its one model, deployed as the stacks do."""
    account = OpsAccount(cloud)
    iam = account.client("iam")
    iam.create_role(
        RoleName=ROLE, AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{OPS}:root"})
    )
    iam.put_role_policy(
        RoleName=ROLE,
        PolicyName="ModelAccess",
        PolicyDocument=policy(allow("bedrock:InvokeModel", MODEL_ARN)),
    )
    yield account
    blocks.unblock(account, TENANT)
    for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
        iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
    iam.delete_role(RoleName=ROLE)


def converse(cloud: EmbeddedCloud, session: boto3.Session) -> str:
    """``success`` or the error code of one Converse call as the invoker role."""
    runtime: Any = session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url)
    try:
        runtime.converse(
            modelId=HAIKU,
            messages=[{"role": "user", "content": [{"text": "hello"}]}],
            inferenceConfig={"maxTokens": 10},
        )
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "success"


def test_a_block_denies_the_tenants_bedrock_calls_and_unblock_restores_them(
    cloud: EmbeddedCloud, ops: OpsAccount
) -> None:
    session = session_for(cloud, OPS, naming.role_arn(OPS, ROLE), TENANT)
    assert converse(cloud, session) == "success"

    blocks.block(ops, TENANT, reason="unpaid invoice")
    # The same session, already issued: the deny applies to its next call.
    assert converse(cloud, session) == "AccessDeniedException"

    blocks.unblock(ops, TENANT)
    assert converse(cloud, session) == "success"


def test_the_record_says_since_when_by_whom_and_why(ops: OpsAccount) -> None:
    operator = ops.client("sts").get_caller_identity()["Arn"]

    recorded = blocks.block(ops, TENANT, reason="abuse report #42", now=T0)

    assert recorded == blocks.status(ops, TENANT)
    assert recorded.since == T0 and recorded.by == operator and recorded.rule is None
    assert recorded.reason == "abuse report #42"
    assert (
        recorded.describe() == f"blocked since 2026-05-01T12:00:00Z by {operator}: abuse report #42"
    )
    parameter = ops.client("ssm").get_parameter(Name=f"/bedrock-invoker/{TENANT}/block")
    assert json.loads(parameter["Parameter"]["Value"]) == {
        "since": "2026-05-01T12:00:00Z",
        "by": operator,
        "rule": None,
        "reason": "abuse report #42",
    }


def test_a_rule_block_names_its_rule(ops: OpsAccount) -> None:
    recorded = blocks.block(
        ops, TENANT, reason="monthly limit $100 reached", by="arn:aws:iam::1:role/e", rule="spend"
    )
    assert recorded.describe().endswith(
        "by rule spend (arn:aws:iam::1:role/e): monthly limit $100 reached"
    )


def test_a_second_block_keeps_since_and_a_new_reason_replaces_the_reason(
    ops: OpsAccount,
) -> None:
    first = blocks.block(ops, TENANT, reason="first", now=T0)
    again = blocks.block(
        ops, TENANT, reason="first", by="arn:aws:iam::1:user/other", now=T0 + timedelta(hours=1)
    )
    changed = blocks.block(
        ops, TENANT, reason="second", by="arn:aws:iam::1:user/other", now=T0 + timedelta(hours=2)
    )

    assert again == first  # nothing changed, not even the author
    assert changed.since == T0
    assert (changed.reason, changed.by) == ("second", "arn:aws:iam::1:user/other")
    assert blocks.status(ops, TENANT) == changed


def test_unblock_is_idempotent_and_returns_what_it_lifted(ops: OpsAccount) -> None:
    assert blocks.unblock(ops, TENANT) is None
    recorded = blocks.block(ops, TENANT, reason="x")

    assert blocks.unblock(ops, TENANT) == recorded
    assert blocks.unblock(ops, TENANT) is None
    assert blocks.status(ops, TENANT) is None
    iam, ssm = ops.client("iam"), ops.client("ssm")
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["ModelAccess"]
    with pytest.raises(ClientError, match="ParameterNotFound"):
        ssm.get_parameter(Name=blocks.record_parameter_name(TENANT))


def test_a_deny_without_its_record_is_still_a_block(ops: OpsAccount) -> None:
    """Between an unblock's two deletes, or a deny put there by hand: blocked, author unknown."""
    ops.client("iam").put_role_policy(
        RoleName=ROLE,
        PolicyName=blocks.BLOCK_POLICY_NAME,
        PolicyDocument=json.dumps(blocks.BLOCK_POLICY_DOCUMENT),
    )
    found = blocks.status(ops, TENANT)
    assert found is not None and not found.recorded
    assert found.describe().startswith("blocked (no record of who or why")


def test_a_record_without_its_deny_is_not_a_block(ops: OpsAccount) -> None:
    blocks.block(ops, TENANT, reason="x")
    ops.client("iam").delete_role_policy(RoleName=ROLE, PolicyName=blocks.BLOCK_POLICY_NAME)
    assert blocks.status(ops, TENANT) is None


def test_blocking_a_tenant_without_a_role_writes_nothing(ops: OpsAccount) -> None:
    with pytest.raises(blocks.BlockError, match="bedrock-invoker-ghost does not exist"):
        blocks.block(ops, "ghost", reason="x")
    with pytest.raises(ClientError, match="ParameterNotFound"):
        ops.client("ssm").get_parameter(Name=blocks.record_parameter_name("ghost"))
    assert blocks.unblock(ops, "ghost") is None  # lifting what is not there is fine


def test_blocks_at_once_agree_on_since(ops: OpsAccount) -> None:
    results: list[blocks.BlockStatus] = []
    start = threading.Barrier(6)

    def block(i: int) -> None:
        start.wait()
        results.append(blocks.block(ops, TENANT, reason="x", now=T0 + timedelta(minutes=i)))

    threads = [threading.Thread(target=block, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({r.since for r in results}) == 1
    assert blocks.status(ops, TENANT) == results[0]


@pytest.mark.parametrize(
    ("reason", "problem"),
    [
        ("  ", "must not be empty"),
        ("a\nb", "one line"),
        ("x" * 501, "at most 500 characters"),
    ],
)
def test_a_bad_reason_is_refused_before_anything_is_written(
    ops: OpsAccount, reason: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        blocks.block(ops, TENANT, reason=reason)
    assert blocks.status(ops, TENANT) is None


def _downgrade_as_the_enforcer_writes_it(ops: OpsAccount, tenant: str) -> None:
    """The limit enforcer's downgrade (deny, then record) and its warning note."""
    ops.client("iam").put_role_policy(
        RoleName=naming.invoker_role_name(tenant),
        PolicyName=DOWNGRADE_POLICY_NAME,
        PolicyDocument=json.dumps(downgrade_policy_document([MODEL_ARN])),
    )
    ssm = ops.client("ssm")
    record = new_record(
        since=T0, by="arn:aws:iam::1:role/enforcer", reason="over 100%", rule=DOWNGRADE_RULE
    )
    ssm.put_parameter(
        Name=downgrade_record_parameter_name(tenant), Value=record_value(record), Type="String"
    )
    ssm.put_parameter(
        Name=warning_parameter_name(tenant), Value=json.dumps({"period": "2026-05"}), Type="String"
    )


def test_lift_all_removes_the_block_the_downgrade_and_their_records(ops: OpsAccount) -> None:
    blocked = blocks.block(ops, TENANT, reason="leaving", now=T0)
    _downgrade_as_the_enforcer_writes_it(ops, TENANT)
    downgraded = blocks.downgrade_status(ops, TENANT)
    assert downgraded is not None and downgraded.rule == DOWNGRADE_RULE

    lifted = blocks.lift_all(ops, TENANT)

    assert lifted == blocks.Lifted(block=blocked, downgrade=downgraded, warning=True)
    iam, ssm = ops.client("iam"), ops.client("ssm")
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["ModelAccess"]
    for name in (
        blocks.record_parameter_name(TENANT),
        downgrade_record_parameter_name(TENANT),
        warning_parameter_name(TENANT),
    ):
        with pytest.raises(ClientError, match="ParameterNotFound"):
            ssm.get_parameter(Name=name)
    # Nothing is left that IAM would refuse a role deletion for (DeleteConflict).
    iam.delete_role_policy(RoleName=ROLE, PolicyName="ModelAccess")
    iam.delete_role(RoleName=ROLE)
    iam.create_role(  # back for the fixture's teardown
        RoleName=ROLE, AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{OPS}:root"})
    )


def test_lift_all_of_an_unrestricted_tenant_or_a_missing_role_changes_nothing(
    ops: OpsAccount,
) -> None:
    nothing = blocks.Lifted(block=None, downgrade=None, warning=False)
    assert blocks.lift_all(ops, TENANT) == nothing
    assert ops.client("iam").list_role_policies(RoleName=ROLE)["PolicyNames"] == ["ModelAccess"]
    assert blocks.lift_all(ops, "ghost") == nothing


# The invoker role as the operations stack declares it: the role with its tags, and
# its permissions as a separate AWS::IAM::Policy (CDK's iam.Policy).
def _template(model_arn: str) -> str:
    return json.dumps(
        {
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "RoleName": "bedrock-invoker-stacked",
                        "AssumeRolePolicyDocument": json.loads(
                            trust({"AWS": f"arn:aws:iam::{OPS}:root"})
                        ),
                        "Tags": [{"Key": "tenant-id", "Value": "stacked"}],
                    },
                },
                "ModelAccess": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {
                        "PolicyName": "ModelAccess",
                        "PolicyDocument": json.loads(
                            policy(allow("bedrock:InvokeModel", model_arn))
                        ),
                        "Roles": [{"Ref": "Role"}],
                    },
                },
            }
        }
    )


def test_a_stack_update_of_the_role_and_its_policy_keeps_the_block(
    cloud: EmbeddedCloud,
) -> None:
    ops = OpsAccount(cloud)
    cfn = ops.client("cloudformation")
    cfn.create_stack(StackName="InvokerRole", TemplateBody=_template(MODEL_ARN))
    cfn.get_waiter("stack_create_complete").wait(StackName="InvokerRole")
    recorded = blocks.block(ops, "stacked", reason="during a deploy", now=T0)

    other_model = MODEL_ARN.replace("claude-3-haiku", "claude-3-sonnet")
    cfn.update_stack(StackName="InvokerRole", TemplateBody=_template(other_model))
    cfn.get_waiter("stack_update_complete").wait(StackName="InvokerRole")

    iam = ops.client("iam")
    listed = iam.list_role_policies(RoleName="bedrock-invoker-stacked")["PolicyNames"]
    assert set(listed) == {blocks.BLOCK_POLICY_NAME, "ModelAccess"}
    assert other_model in json.dumps(
        iam.get_role_policy(RoleName="bedrock-invoker-stacked", PolicyName="ModelAccess")
    )
    assert blocks.status(ops, "stacked") == recorded
    session = session_for(cloud, OPS, naming.role_arn(OPS, "bedrock-invoker-stacked"), "stacked")
    assert converse(cloud, session) == "AccessDeniedException"
    blocks.unblock(ops, "stacked")
    cfn.delete_stack(StackName="InvokerRole")
    cfn.get_waiter("stack_delete_complete").wait(StackName="InvokerRole")
