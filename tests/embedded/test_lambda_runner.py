"""The local Lambda runner behind lambda.invoke, with a zipped handler made via boto3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from embedded_aws import EmbeddedCloud
from tests.embedded.conftest import ACME, OPS, create_role, trust, zip_source

pytestmark = pytest.mark.xdist_group("embedded-lambda")

HANDLER = """
import json
import os
import time

import boto3

INVOCATIONS = 0  # module state survives between invocations of a warm container


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    print("handling", json.dumps(event))
    if event.get("fail"):
        raise ValueError("bad input: " + event["fail"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    identity = boto3.client("sts").get_caller_identity()
    return {
        "echo": event,
        "greeting": os.environ["GREETING"],
        "account": identity["Account"],
        "arn": identity["Arn"],
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "invocations": INVOCATIONS,
    }
"""


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, ACME]) as embedded:
        role = create_role(embedded, ACME, "fn-role", trust({"Service": "lambda.amazonaws.com"}))
        no_lambda = create_role(
            embedded, ACME, "not-for-lambda", trust({"AWS": f"arn:aws:iam::{ACME}:root"})
        )
        client = embedded.client("lambda", ACME)
        for name, role_arn in (("echo", role), ("wrong-role", no_lambda)):
            client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role_arn,
                Handler="app.handler",
                Code={"ZipFile": zip_source({"app.py": HANDLER})},
                Timeout=2,
                Environment={"Variables": {"GREETING": "hello from acme"}},
            )
        yield embedded


def test_invoke_returns_handler_payload_with_env_and_context(cloud: EmbeddedCloud) -> None:
    result = cloud.invoke(ACME, "echo", {"n": 1})
    assert result["function_error"] is None and result["status_code"] == 200
    payload = result["payload"]
    assert payload["echo"] == {"n": 1}
    assert payload["greeting"] == "hello from acme"
    assert payload["function_name"] == "echo"
    assert 0 < payload["remaining_ms"] <= 2000
    assert f"RequestId: {payload['request_id']}" in result["log_tail"]
    assert 'handling {"n": 1}' in result["log_tail"]


def test_function_acts_with_its_execution_role_in_its_account(cloud: EmbeddedCloud) -> None:
    payload = cloud.invoke(ACME, "echo", {})["payload"]
    assert payload["account"] == ACME
    assert payload["arn"] == f"arn:aws:sts::{ACME}:assumed-role/fn-role/echo"


def test_unhandled_exception_has_lambdas_error_shape(cloud: EmbeddedCloud) -> None:
    result = cloud.invoke(ACME, "echo", {"fail": "no prompt"})
    assert result["function_error"] == "Unhandled"
    error = result["payload"]
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad input: no prompt"
    assert any("app.py" in frame for frame in error["stackTrace"])
    assert "ValueError: bad input: no prompt" in result["log_tail"]


def test_timeout_is_reported_as_sandbox_timeout(cloud: EmbeddedCloud) -> None:
    result = cloud.invoke(ACME, "echo", {"sleep": 5})
    assert result["function_error"] == "Unhandled"
    assert result["payload"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in result["payload"]["errorMessage"]


def test_warm_container_keeps_module_state(cloud: EmbeddedCloud) -> None:
    first = cloud.invoke(ACME, "echo", {})["payload"]["invocations"]
    second = cloud.invoke(ACME, "echo", {})["payload"]["invocations"]
    assert second == first + 1


def test_output_lands_in_the_functions_log_group(cloud: EmbeddedCloud) -> None:
    cloud.invoke(ACME, "echo", {"marker": "find-me"})
    logs = cloud.client("logs", ACME)
    events = logs.filter_log_events(logGroupName="/aws/lambda/echo")["events"]
    assert any("find-me" in e["message"] for e in events)
    ops_groups = cloud.client("logs", OPS).describe_log_groups()["logGroups"]
    assert not any(g["logGroupName"] == "/aws/lambda/echo" for g in ops_groups)


def test_role_that_does_not_trust_lambda_fails_the_invocation(cloud: EmbeddedCloud) -> None:
    result = cloud.invoke(ACME, "wrong-role", {})
    assert result["function_error"] == "Unhandled"
    assert "cannot be assumed by Lambda" in result["payload"]["errorMessage"]


def test_function_is_invisible_from_another_account(cloud: EmbeddedCloud) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as exc:
        cloud.invoke(OPS, "echo", {})
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
