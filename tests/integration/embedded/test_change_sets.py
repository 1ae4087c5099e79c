"""Change sets are per stack, as on AWS: the CDK CLI names every one ``cdk-deploy-change-set``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import OPS

pytestmark = pytest.mark.xdist_group("embedded-change-sets")
TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}})
NAME = "cdk-deploy-change-set"


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS]) as embedded:
        yield embedded


def test_two_stacks_change_sets_of_one_name_stay_apart(cloud: EmbeddedCloud) -> None:
    cfn = cloud.client("cloudformation", OPS)
    for stack in ("First", "Second"):
        cfn.create_change_set(
            StackName=stack, ChangeSetName=NAME, ChangeSetType="CREATE", TemplateBody=TEMPLATE
        )
    # The CDK CLI deletes a leftover change set of its stack before making a new one.
    cfn.delete_change_set(StackName="Second", ChangeSetName=NAME)

    assert cfn.describe_change_set(StackName="First", ChangeSetName=NAME)["StackName"] == "First"
    cfn.execute_change_set(StackName="First", ChangeSetName=NAME)
    statuses = {s["StackName"]: s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"]}
    assert statuses["First"] == "CREATE_COMPLETE"
    assert statuses["Second"] == "REVIEW_IN_PROGRESS"  # its change set is gone, not First's


def test_deleting_a_change_set_that_is_not_there_succeeds_and_spares_other_stacks(
    cloud: EmbeddedCloud,
) -> None:
    """What the CDK CLI does before every update of an existing stack (moto raised here)."""
    cfn = cloud.client("cloudformation", OPS)
    cfn.create_stack(StackName="Deployed", TemplateBody=TEMPLATE)
    cfn.create_change_set(
        StackName="Pending", ChangeSetName=NAME, ChangeSetType="CREATE", TemplateBody=TEMPLATE
    )

    cfn.delete_change_set(StackName="Deployed", ChangeSetName=NAME)
    cfn.delete_change_set(StackName="Deployed", ChangeSetName=NAME)  # twice, as AWS allows

    assert cfn.describe_change_set(StackName="Pending", ChangeSetName=NAME)["StackName"] == (
        "Pending"
    )
    # And the stack can then be updated through a change set of that name.
    cfn.create_change_set(
        StackName="Deployed",
        ChangeSetName=NAME,
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(
            {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}}}}
        ),
    )
    cfn.execute_change_set(StackName="Deployed", ChangeSetName=NAME)
    [stack] = cfn.describe_stacks(StackName="Deployed")["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"


def test_a_missing_change_set_is_change_set_not_found_as_the_cdk_cli_expects(
    cloud: EmbeddedCloud,
) -> None:
    cfn = cloud.client("cloudformation", OPS)
    cfn.create_stack(StackName="Described", TemplateBody=TEMPLATE)
    with pytest.raises(cfn.exceptions.ChangeSetNotFoundException) as missing:
        cfn.describe_change_set(StackName="Described", ChangeSetName=NAME)
    assert missing.value.response["Error"]["Code"] == "ChangeSetNotFound"


def test_an_update_keeps_an_ssm_parameters_path_as_its_previous_value(
    cloud: EmbeddedCloud,
) -> None:
    """Every CDK stack's BootstrapVersion: the second deploy passes UsePreviousValue."""
    cloud.client("ssm", OPS).put_parameter(
        Name="/cdk-bootstrap/x/version", Value="21", Type="String"
    )
    template = {
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/x/version",
            }
        },
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}},
    }
    cfn = cloud.client("cloudformation", OPS)
    cfn.create_stack(StackName="Bootstrapped", TemplateBody=json.dumps(template))
    template["Resources"]["Topic"]["Properties"] = {"TopicName": "renamed"}
    cfn.create_change_set(
        StackName="Bootstrapped",
        ChangeSetName=NAME,
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}],
    )
    cfn.execute_change_set(StackName="Bootstrapped", ChangeSetName=NAME)

    [stack] = cfn.describe_stacks(StackName="Bootstrapped")["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
