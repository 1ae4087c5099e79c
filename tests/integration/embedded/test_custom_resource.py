"""The seam the embedded cloud depends on: a Python Lambda custom resource gets its answer.

moto runs Lambda code only through Docker; the embedded cloud installs its
local runner as moto's executor, so a stack with a custom resource completes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import ACME

pytestmark = pytest.mark.xdist_group("embedded-custom-resource")

CODE = """
import cfnresponse

def handler(event, context):
    props = event["ResourceProperties"]
    if props.get("Fail"):
        raise RuntimeError("refusing: " + props["Fail"])
    cfnresponse.send(event, context, cfnresponse.SUCCESS,
                     {"Greeting": "hello " + props["Name"]}, "greeting-" + props["Name"])
"""


def template(resource_type: str = "Custom::Greeting", **props: str) -> str:
    return json.dumps(
        {
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": "lambda.amazonaws.com"},
                                    "Action": "sts:AssumeRole",
                                }
                            ],
                        }
                    },
                },
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Runtime": "python3.12",
                        "Handler": "index.handler",
                        "Timeout": 10,
                        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                        "Code": {"ZipFile": CODE},
                    },
                },
                "Greeting": {
                    "Type": resource_type,
                    "Properties": {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}, **props},
                },
            },
            "Outputs": {"Greeting": {"Value": {"Fn::GetAtt": ["Greeting", "Greeting"]}}},
        }
    )


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[ACME]) as embedded:
        yield embedded


def wait_for_stack(cloud: EmbeddedCloud, name: str) -> dict[str, Any]:
    cfn = cloud.client("cloudformation", ACME)
    waiter_deadline = time.monotonic() + 60
    while True:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > waiter_deadline:
            return stack
        time.sleep(0.2)


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_custom_resource_is_answered_and_stack_completes(cloud: EmbeddedCloud) -> None:
    cloud.client("cloudformation", ACME).create_stack(
        StackName="greeting",
        TemplateBody=template(Name="acme"),
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = wait_for_stack(cloud, "greeting")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(stack) == {"Greeting": "hello acme"}


def test_cdk_style_change_set_waits_for_the_custom_resource(cloud: EmbeddedCloud) -> None:
    # The CDK CLI deploys through change sets and emits AWS::CloudFormation::CustomResource.
    cfn = cloud.client("cloudformation", ACME)
    cfn.create_change_set(
        StackName="greeting-cs",
        ChangeSetName="cs1",
        ChangeSetType="CREATE",
        TemplateBody=template("AWS::CloudFormation::CustomResource", Name="cdk"),
        Capabilities=["CAPABILITY_IAM"],
    )
    cfn.execute_change_set(StackName="greeting-cs", ChangeSetName="cs1")
    stack = wait_for_stack(cloud, "greeting-cs")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(stack) == {"Greeting": "hello cdk"}


def test_failing_custom_resource_rolls_the_stack_back(cloud: EmbeddedCloud) -> None:
    cloud.client("cloudformation", ACME).create_stack(
        StackName="greeting-fails",
        TemplateBody=template(Name="x", Fail="no tenant"),
    )
    stack = wait_for_stack(cloud, "greeting-fails")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cloud.client("cloudformation", ACME).describe_stack_events(StackName="greeting-fails")[
        "StackEvents"
    ]
    assert any("refusing: no tenant" in (e.get("ResourceStatusReason") or "") for e in events)
