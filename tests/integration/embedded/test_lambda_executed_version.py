"""lambda.invoke names the version that ran in ``ExecutedVersion``, as Lambda does."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import ACME, create_role, trust, zip_source

pytestmark = pytest.mark.xdist_group("embedded-lambda-executed-version")

HANDLER = """
import os


def handler(event, context):
    return {"version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
"""


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[ACME], warm_lambdas=False) as embedded:
        role = create_role(embedded, ACME, "fn-role", trust({"Service": "lambda.amazonaws.com"}))
        client = embedded.client("lambda", ACME)
        client.create_function(
            FunctionName="versioned",
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": zip_source({"app.py": HANDLER})},
        )
        first = client.publish_version(FunctionName="versioned")["Version"]
        client.update_function_configuration(FunctionName="versioned", Description="second")
        client.publish_version(FunctionName="versioned")
        client.create_alias(FunctionName="versioned", Name="live", FunctionVersion=first)
        yield embedded


def executed_version(cloud: EmbeddedCloud, **qualifier: str) -> str:
    answer = cloud.client("lambda", ACME).invoke(FunctionName="versioned", **qualifier)
    ran = json.loads(answer["Payload"].read())["version"]
    assert answer["ExecutedVersion"] == ran  # the header names the code that answered
    return str(ran)


def test_the_unqualified_function_runs_latest(cloud: EmbeddedCloud) -> None:
    assert executed_version(cloud) == "$LATEST"


def test_a_version_runs_itself(cloud: EmbeddedCloud) -> None:
    assert executed_version(cloud, Qualifier="2") == "2"


def test_an_alias_runs_the_version_it_points_at(cloud: EmbeddedCloud) -> None:
    assert executed_version(cloud, Qualifier="live") == "1"
