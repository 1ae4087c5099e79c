"""Fixtures for the CLI tests: a private registry copy, a runner, moto accounts."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner, Result

from contracts.usage_record import stream_name_for
from tenantctl.cli import app
from tenantctl.cli.app import State
from tests.conftest import EXAMPLE_REGISTRY

ACME_ACCOUNT = "222222222222"
ACME_REGION = "us-east-1"
USAGE_LOG_GROUP = "/aws/bedrock/langchain/logs"


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    """A copy of config/tenants.yaml each test may change."""
    path = tmp_path / "config" / "tenants.yaml"
    path.parent.mkdir()
    shutil.copyfile(EXAMPLE_REGISTRY, path)
    return path


@dataclass
class Cli:
    """Runs tenantctl against one registry file, like a user in a terminal."""

    registry: Path

    def __call__(self, *args: str, input: str | None = None, state: State | None = None) -> Result:
        # Wide columns: rich tables would otherwise wrap cell values.
        runner = CliRunner(env={"COLUMNS": "250"})
        return runner.invoke(app, ["--registry", str(self.registry), *args], input=input, obj=state)


@pytest.fixture
def cli(registry_path: Path) -> Cli:
    return Cli(registry_path)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, no ~/.aws files, no instance metadata."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def acme_account(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto acting as acme's account (in-process mock; the Lambda returns queued results)."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACME_ACCOUNT)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


def logs_client() -> Any:
    return boto3.client("logs", region_name=ACME_REGION)


def record(
    *,
    user: str = "u1",
    application: str = "app-a",
    model: str = "anthropic.claude-3-haiku-20240307-v1:0",
    status: str = "success",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
    latency_ms: float = 100,
    request_id: str | None = "r",
    minutes_ago: float = 5,
    **extra: Any,
) -> dict[str, Any]:
    """A usage record shaped like the Lambda's usage logger writes it."""
    return {
        "event": "bedrock.invocation",
        "status": status,
        "tenant_id": "acme",
        "application_id": application,
        "user_id": user,
        "model_id": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_write_input_tokens": cache_write,
        "latency_ms": latency_ms,
        "bedrock_latency_ms": latency_ms - 10,
        "stop_reason": "end_turn" if status == "success" else None,
        "request_id": request_id,
        "timestamp": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        **extra,
    }


def put_records(
    records: Sequence[dict[str, Any]],
    *,
    log_group: str = USAGE_LOG_GROUP,
    extra_messages: Sequence[tuple[str, str]] = (),
) -> None:
    """Write records into ``log_group`` the way the logger does: one stream per user."""
    client = logs_client()
    with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
        client.create_log_group(logGroupName=log_group)
    by_stream: dict[str, list[tuple[int, str]]] = {}
    for rec in records:
        ts = int(datetime.fromisoformat(rec["timestamp"]).timestamp() * 1000)
        by_stream.setdefault(stream_name_for(rec["user_id"]), []).append((ts, json.dumps(rec)))
    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    for stream, message in extra_messages:
        by_stream.setdefault(stream, []).append((now_ms, message))
    for stream, events in by_stream.items():
        client.create_log_stream(logGroupName=log_group, logStreamName=stream)
        client.put_log_events(
            logGroupName=log_group,
            logStreamName=stream,
            logEvents=[{"timestamp": ts, "message": m} for ts, m in sorted(events)],
        )


def deploy_fake_function(name: str = "bedrock-invoker-acme") -> None:
    """A function with the tenant's name in moto (code never runs: use_docker is off)."""
    iam = boto3.client("iam", region_name=ACME_REGION)
    role = iam.create_role(
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
    boto3.client("lambda", region_name=ACME_REGION).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="index.handler",
        Code={"ZipFile": package.getvalue()},
    )


def queue_function_result(result: Any) -> None:
    """The next lambda.invoke of any function returns ``result`` as its payload."""
    from moto.awslambda_simple.models import lambda_simple_backends

    backend = lambda_simple_backends[ACME_ACCOUNT][ACME_REGION]
    backend.lambda_simple_results_queue.append(json.dumps(result))
