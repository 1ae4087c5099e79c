"""ListChangeSets lists the named stack's change sets only, as CloudFormation does."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import OPS

pytestmark = pytest.mark.xdist_group("embedded-change-set-listing")
TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}})
CHANGED = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "usage"}}}}
)


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS], warm_lambdas=False) as embedded:
        yield embedded


def test_each_stack_lists_only_its_own_change_sets(cloud: EmbeddedCloud) -> None:
    cfn = cloud.client("cloudformation", OPS)
    for stack, names in (("Acme", ["cdk-deploy-change-set", "review"]), ("Globex", ["review"])):
        cfn.create_stack(StackName=stack, TemplateBody=TEMPLATE)
        for name in names:
            cfn.create_change_set(
                StackName=stack, ChangeSetName=name, ChangeSetType="UPDATE", TemplateBody=CHANGED
            )

    def listed(stack: str) -> list[tuple[str, str]]:
        summaries = cfn.list_change_sets(StackName=stack)["Summaries"]
        return sorted((s["StackName"], s["ChangeSetName"]) for s in summaries)

    assert listed("Acme") == [("Acme", "cdk-deploy-change-set"), ("Acme", "review")]
    assert listed("Globex") == [("Globex", "review")]
    globex_id = cfn.describe_stacks(StackName="Globex")["Stacks"][0]["StackId"]
    assert listed(globex_id) == [("Globex", "review")]  # by stack id too


def test_a_stack_that_does_not_exist_is_a_validation_error(cloud: EmbeddedCloud) -> None:
    with pytest.raises(ClientError) as refused:
        cloud.client("cloudformation", OPS).list_change_sets(StackName="Nowhere")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
