"""`tenantctl usage` of a tenant switched to the stdout sink, on the embedded cloud.

The embedded cloud keeps a function's ``LoggingConfig`` (moto alone drops it),
so the function here logs to the usage log group, as ``update --usage-sink
stdout`` leaves it, while the fallback records it printed under the ``api``
sink stay in its own log group.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from typing import Any

import boto3

from embedded_aws import process
from tests.support.cli_fixtures import (
    ACME_ACCOUNT,
    ACME_REGION,
    FUNCTION_LOG_GROUP,
    USAGE_LOG_GROUP,
    Cli,
)
from tests.support.usage_samples import RECORDS, record


def _client(cloud: process.RunningCloud, service: str) -> Any:
    creds = cloud.credentials(ACME_ACCOUNT)
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=cloud.endpoint_url,
        region_name=ACME_REGION,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
    )


def _put(cloud: process.RunningCloud, log_group: str, stream: str, records: list[Any]) -> None:
    logs = _client(cloud, "logs")
    if not logs.describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]:
        logs.create_log_group(logGroupName=log_group)
    logs.create_log_stream(logGroupName=log_group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=log_group,
        logStreamName=stream,
        logEvents=[
            {"timestamp": int(datetime.fromisoformat(r["timestamp"]).timestamp() * 1000),
             "message": json.dumps(r)}
            for r in records
        ],
    )  # fmt: skip


def _function_logging_to_the_usage_log_group(cloud: process.RunningCloud) -> None:
    role = _client(cloud, "iam").create_role(
        RoleName="bedrock-caller-acme",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    _client(cloud, "lambda").create_function(
        FunctionName="bedrock-invoker-acme",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="index.handler",
        Code={"ZipFile": package.getvalue()},
        LoggingConfig={"LogFormat": "JSON", "LogGroup": USAGE_LOG_GROUP},
    )


def test_usage_keeps_the_fallback_records_printed_before_a_switch_to_stdout(
    cloud: process.RunningCloud, cli: Cli
) -> None:
    _function_logging_to_the_usage_log_group(cloud)
    _put(cloud, USAGE_LOG_GROUP, "2026/11/20/bedrock-invoker-acme[3]0123abcd", RECORDS[:4])
    printed = record(user="erin", request_id="r8", input_tokens=1000, delivery="fallback")
    _put(cloud, FUNCTION_LOG_GROUP, "2026/11/19/[$LATEST]abcd", [printed])

    data = json.loads(cli("usage", "--tenant", "acme", "--format", "json").stdout)
    table = cli("usage", "--tenant", "acme")

    assert data["fallback_records"] == 1
    assert data["total"]["invocations"] == 5
    assert data["total"]["input_tokens"] == 1100
    # The footer names the log group the fallback record was read from.
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[-1] == (
        f"1 fallback record included (from {FUNCTION_LOG_GROUP}; printed there when the usage "
        "log group could not be written)"
    )
