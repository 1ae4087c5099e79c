"""The local Lambda runner behind lambda.invoke, with a zipped handler made via boto3."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import ACME, OPS, create_role, trust, zip_source

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
    with pytest.raises(ClientError) as exc:
        cloud.invoke(OPS, "echo", {})
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


# --- where the output goes, versions and aliases, SnapStart hooks ------------------------------

LOGGING_HANDLER = """
import json
import os

import snapshot_restore_py

RESTORED = []
snapshot_restore_py.register_after_restore(lambda: RESTORED.append(os.getpid()))


def handler(event, context):
    print(json.dumps({"event": "usage", "level": "INFO", "n": event.get("n")}))
    print(json.dumps({"event": "chatter", "level": "DEBUG"}))
    print("plain text line")
    return {
        "greeting": os.environ["GREETING"],
        "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
        "initialization": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "restored": len(RESTORED),
    }
"""
SHARED_GROUP = "/shared/usage"


def _events(cloud: EmbeddedCloud, group: str) -> list[dict[str, Any]]:
    logs = cloud.client("logs", ACME)
    return list(logs.filter_log_events(logGroupName=group)["events"])


@pytest.fixture(scope="module")
def logged(cloud: EmbeddedCloud) -> str:
    """A function logging JSON into a shared group, with SnapStart on published versions."""
    client = cloud.client("lambda", ACME)
    role = cloud.client("iam", ACME).get_role(RoleName="fn-role")["Role"]["Arn"]
    client.create_function(
        FunctionName="logged",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": zip_source({"app.py": LOGGING_HANDLER})},
        Timeout=5,
        Environment={"Variables": {"GREETING": "first"}},
        LoggingConfig={
            "LogFormat": "JSON",
            "LogGroup": SHARED_GROUP,
            "ApplicationLogLevel": "INFO",
        },
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    version = client.publish_version(FunctionName="logged")["Version"]
    client.create_alias(FunctionName="logged", Name="live", FunctionVersion=version)
    client.update_function_configuration(
        FunctionName="logged", Environment={"Variables": {"GREETING": "second"}}
    )
    return str(version)


def test_output_goes_to_the_configured_log_group_in_lambdas_stream_per_environment(
    cloud: EmbeddedCloud, logged: str
) -> None:
    first = cloud.invoke(ACME, "logged", {"n": 1})["payload"]
    second = cloud.invoke(ACME, "logged", {"n": 2})["payload"]

    assert first["log_group"] == SHARED_GROUP
    assert second["log_stream"] == first["log_stream"]  # one warm environment, one stream
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/logged\[\$LATEST\][0-9a-f]{32}", first["log_stream"])
    events = [e for e in _events(cloud, SHARED_GROUP) if e["logStreamName"] == first["log_stream"]]
    messages = [e["message"] for e in events]
    records = [json.loads(m) for m in messages if m.startswith("{")]
    # A printed JSON object stays a top-level event, as with Lambda's JSON format.
    assert [r["n"] for r in records if r.get("event") == "usage"] == [1, 2]
    assert "plain text line" in messages
    # Below the ApplicationLogLevel: dropped.
    assert not any(r.get("event") == "chatter" for r in records)
    starts = [r for r in records if r.get("type") == "platform.start"]
    reports = [r for r in records if r.get("type") == "platform.report"]
    assert len(starts) == len(reports) == 2
    assert all(r["record"]["version"] == "$LATEST" for r in starts)
    assert not any(m.startswith(("START ", "END ", "REPORT ")) for m in messages)
    assert not any(
        g["logGroupName"] == "/aws/lambda/logged"
        for g in cloud.client("logs", ACME).describe_log_groups()["logGroups"]
    )


def test_default_log_group_streams_are_named_by_version_and_hold_text_platform_lines(
    cloud: EmbeddedCloud,
) -> None:
    request_id = cloud.invoke(ACME, "echo", {})["payload"]["request_id"]
    events = _events(cloud, "/aws/lambda/echo")
    mine = [e for e in events if request_id in e["message"]]
    assert {e["logStreamName"] for e in mine} and all(
        re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", e["logStreamName"])
        for e in mine
    )
    assert [e["message"].split(" ")[0] for e in mine] == ["START", "END", "REPORT"]


@pytest.mark.parametrize("target", ["qualifier", "qualified-name"])
def test_the_alias_runs_its_versions_code_and_configuration_with_snap_start_hooks(
    cloud: EmbeddedCloud, logged: str, target: str
) -> None:
    client = cloud.client("lambda", ACME)
    name, extra = ("logged", {"Qualifier": "live"})
    if target == "qualified-name":
        name, extra = "logged:live", {}
    response = client.invoke(FunctionName=name, Payload=b"{}", **extra)
    payload = json.loads(response["Payload"].read())

    assert payload["greeting"] == "first"  # the published version's environment
    assert payload["version"] == logged
    assert payload["initialization"] == "snap-start"
    assert payload["restored"] == 1  # the after-restore hook ran once, before the first call
    assert re.fullmatch(
        rf"\d{{4}}/\d{{2}}/\d{{2}}/logged\[{logged}\][0-9a-f]{{32}}", payload["log_stream"]
    )
    config = client.get_function_configuration(FunctionName="logged", Qualifier=logged)
    assert config["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert config["LoggingConfig"]["LogGroup"] == SHARED_GROUP


def test_latest_runs_without_snapshot_hooks(cloud: EmbeddedCloud, logged: str) -> None:
    payload = cloud.invoke(ACME, "logged", {})["payload"]
    assert payload["greeting"] == "second"
    assert (payload["version"], payload["initialization"], payload["restored"]) == (
        "$LATEST",
        "on-demand",
        0,
    )
    config = cloud.client("lambda", ACME).get_function_configuration(FunctionName="logged")
    assert config["SnapStart"]["OptimizationStatus"] == "Off"


STACK_CODE = """
import os


def handler(event, context):
    return {"greeting": os.environ["GREETING"], "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
"""


def _alias_template(role_arn: str, greeting: str) -> str:
    # As CDK writes it: the version's logical id changes with the configuration.
    version_id = f"Version{greeting.capitalize()}"
    return json.dumps(
        {
            "Resources": {
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "FunctionName": "stacked",
                        "Runtime": "python3.12",
                        "Handler": "index.handler",
                        "Role": role_arn,
                        # From S3, as CDK ships code (moto cannot update inline code).
                        "Code": {"S3Bucket": "code", "S3Key": "stacked.zip"},
                        "Environment": {"Variables": {"GREETING": greeting}},
                        "LoggingConfig": {"LogFormat": "JSON"},
                    },
                },
                version_id: {
                    "Type": "AWS::Lambda::Version",
                    "Properties": {"FunctionName": {"Ref": "Fn"}},
                },
                "Alias": {
                    "Type": "AWS::Lambda::Alias",
                    "Properties": {
                        "FunctionName": {"Ref": "Fn"},
                        "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
                        "Name": "live",
                    },
                },
            },
            "Outputs": {"AliasArn": {"Value": {"Ref": "Alias"}}},
        }
    )


def test_a_stacks_alias_moves_to_the_version_published_from_the_updated_function(
    cloud: EmbeddedCloud,
) -> None:
    role = cloud.client("iam", ACME).get_role(RoleName="fn-role")["Role"]["Arn"]
    cfn = cloud.client("cloudformation", ACME)
    lam = cloud.client("lambda", ACME)
    s3 = cloud.client("s3", ACME)
    s3.create_bucket(Bucket="code")
    s3.put_object(Bucket="code", Key="stacked.zip", Body=zip_source({"index.py": STACK_CODE}))

    def alias_answer() -> dict[str, Any]:
        response = lam.invoke(FunctionName="stacked", Qualifier="live", Payload=b"{}")
        return dict(json.loads(response["Payload"].read()))

    cfn.create_stack(StackName="stacked", TemplateBody=_alias_template(role, "hello"))
    outputs = cfn.describe_stacks(StackName="stacked")["Stacks"][0]["Outputs"]
    assert outputs[0]["OutputValue"].endswith(":function:stacked:live")
    assert alias_answer() == {"greeting": "hello", "version": "1"}

    cfn.update_stack(StackName="stacked", TemplateBody=_alias_template(role, "bonjour"))
    assert lam.get_alias(FunctionName="stacked", Name="live")["FunctionVersion"] == "2"
    assert alias_answer() == {"greeting": "bonjour", "version": "2"}

    cfn.delete_stack(StackName="stacked")
    with pytest.raises(ClientError):
        lam.get_alias(FunctionName="stacked", Name="live")


SLOW_INIT_HANDLER = """
import time

time.sleep(3)  # an init longer than the function's 2 s timeout


def handler(event, context):
    return {"remaining_ms": context.get_remaining_time_in_millis()}
"""


def test_init_is_not_counted_against_the_invocations_timeout(cloud: EmbeddedCloud) -> None:
    """As on Lambda: a cold start's init runs before the invocation's clock starts."""
    client = cloud.client("lambda", ACME)
    role = client.get_function(FunctionName="echo")["Configuration"]["Role"]
    client.create_function(
        FunctionName="slow-init",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": zip_source({"app.py": SLOW_INIT_HANDLER})},
        Timeout=2,
    )
    result = cloud.invoke(ACME, "slow-init", {})
    assert result["function_error"] is None, result["payload"]
    # The whole 2 s are left for the handler, not 2 s minus the 3 s init.
    assert 1000 < result["payload"]["remaining_ms"] <= 2000
