"""A stack update changes a function's tracing and reserved concurrency, as on AWS.

The registry's ``xray_tracing`` and ``reserved_concurrency`` reach the function
only through its customer stack, so a redeploy that left them as they were
would turn the setting into a no-op that no test of the template could see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import ACME, create_role, trust, zip_source

pytestmark = pytest.mark.xdist_group("embedded-lambda-stack-updates")

CODE = "def handler(event, context):\n    return {}\n"


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[ACME]) as embedded:
        create_role(embedded, ACME, "fn-role", trust({"Service": "lambda.amazonaws.com"}))
        s3 = embedded.client("s3", ACME)
        s3.create_bucket(Bucket="code")
        s3.put_object(Bucket="code", Key="fn.zip", Body=zip_source({"index.py": CODE}))
        yield embedded


def _template(role_arn: str, **settings: Any) -> str:
    return json.dumps(
        {
            "Resources": {
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "FunctionName": "configured",
                        "Runtime": "python3.12",
                        "Handler": "index.handler",
                        "Role": role_arn,
                        # From S3, as CDK ships code (moto cannot update inline code).
                        "Code": {"S3Bucket": "code", "S3Key": "fn.zip"},
                        **settings,
                    },
                }
            }
        }
    )


def _settings(cloud: EmbeddedCloud) -> tuple[str, int | None]:
    """The function's tracing mode and reserved concurrency, read as a user reads them."""
    lam = cloud.client("lambda", ACME)
    tracing = lam.get_function_configuration(FunctionName="configured")["TracingConfig"]["Mode"]
    reserved = lam.get_function_concurrency(FunctionName="configured")
    return tracing, reserved.get("ReservedConcurrentExecutions")


def test_a_stack_sets_changes_and_removes_tracing_and_reserved_concurrency(
    cloud: EmbeddedCloud,
) -> None:
    role = cloud.client("iam", ACME).get_role(RoleName="fn-role")["Role"]["Arn"]
    cfn = cloud.client("cloudformation", ACME)
    try:
        cfn.create_stack(StackName="configured", TemplateBody=_template(role))
        assert _settings(cloud) == ("PassThrough", None)

        cfn.update_stack(
            StackName="configured",
            TemplateBody=_template(
                role, TracingConfig={"Mode": "Active"}, ReservedConcurrentExecutions=5
            ),
        )
        assert _settings(cloud) == ("Active", 5)

        cfn.update_stack(
            StackName="configured", TemplateBody=_template(role, ReservedConcurrentExecutions=7)
        )
        assert _settings(cloud) == ("PassThrough", 7)

        cfn.update_stack(StackName="configured", TemplateBody=_template(role))
        assert _settings(cloud) == ("PassThrough", None)
    finally:
        cfn.delete_stack(StackName="configured")


def test_a_stack_creates_a_function_with_its_tracing(cloud: EmbeddedCloud) -> None:
    role = cloud.client("iam", ACME).get_role(RoleName="fn-role")["Role"]["Arn"]
    cfn = cloud.client("cloudformation", ACME)
    try:
        cfn.create_stack(
            StackName="configured",
            TemplateBody=_template(role, TracingConfig={"Mode": "Active"}),
        )
        assert _settings(cloud) == ("Active", None)
    finally:
        cfn.delete_stack(StackName="configured")


def test_update_function_configuration_sets_tracing(cloud: EmbeddedCloud) -> None:
    role = cloud.client("iam", ACME).get_role(RoleName="fn-role")["Role"]["Arn"]
    lam = cloud.client("lambda", ACME)
    lam.create_function(
        FunctionName="api-configured",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": zip_source({"index.py": CODE})},
    )
    lam.update_function_configuration(
        FunctionName="api-configured", TracingConfig={"Mode": "Active"}
    )
    config = lam.get_function_configuration(FunctionName="api-configured")
    assert config["TracingConfig"] == {"Mode": "Active"}
