"""Fixtures for the CLI tests: a private registry copy, a runner, moto accounts."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from typer.testing import CliRunner, Result

from contracts.usage_record import stream_name_for
from embedded_aws import process
from tenantctl.cli import app
from tenantctl.cli.app import State
from tenantctl.cli.local_cloud import STATE_DIR_ENV
from tests.conftest import EXAMPLE_REGISTRY
from tests.support.usage_samples import RECORDS

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


@dataclass(frozen=True)
class Embedded:
    state_dir: Path
    cloud: process.RunningCloud


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    """The example registry's accounts in a moto server on this machine, stopped afterwards."""
    state_dir = tmp_path_factory.mktemp("local-cloud")
    ready, stop = threading.Event(), threading.Event()
    server = threading.Thread(
        target=process.serve,
        args=(state_dir,),
        kwargs={"registry": EXAMPLE_REGISTRY, "ready": ready, "stop": stop},
        daemon=True,
    )
    server.start()
    try:
        assert ready.wait(60), "the embedded cloud did not start"
        yield Embedded(state_dir, process.RunningCloud.load(state_dir))
    finally:
        stop.set()
        server.join(30)


def eval_local_env(state_dir: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, str]:
    """Do what `eval "$(tenantctl local env [ARGS])"` does to a shell, to this process.

    Returns the exported variables. Every command run afterwards reaches the
    embedded cloud the way it reaches AWS: through profiles and the endpoint.
    """
    monkeypatch.setenv(STATE_DIR_ENV, str(state_dir))
    result = CliRunner().invoke(app, ["local", "env", *args])
    assert result.exit_code == 0, result.output
    exported: dict[str, str] = {}
    for line in result.stdout.splitlines():
        verb, *words = shlex.split(line)
        if verb == "unset":
            for name in words:
                monkeypatch.delenv(name, raising=False)
        else:
            assert verb == "export" and len(words) == 1, line
            name, _, value = words[0].partition("=")
            monkeypatch.setenv(name, value)
            exported[name] = value
    return exported


@pytest.fixture
def cloud(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> process.RunningCloud:
    """The shell after `eval "$(tenantctl local env)"`: commands reach the module's
    embedded cloud through its AWS profiles, with no option of their own."""
    eval_local_env(embedded.state_dir, monkeypatch)
    return embedded.cloud


def logs_client() -> Any:
    return boto3.client("logs", region_name=ACME_REGION)


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


@pytest.fixture
def usage_records(acme_account: None) -> None:
    """RECORDS in acme's usage log group, beside a line that is not a usage record."""
    put_records(RECORDS, extra_messages=[("alice", "not a usage record")])


# The function's own log group, where it prints the records it could not deliver.
FUNCTION_LOG_GROUP = "/aws/lambda/bedrock-invoker-acme"


def put_fallback_records(records: list[dict[str, object]]) -> None:
    """Records the function printed to its own log group, among its other lines."""
    put_records(
        [{**r, "delivery": "fallback"} for r in records],
        log_group=FUNCTION_LOG_GROUP,
        extra_messages=[("2025/01/01/[$LATEST]abc", "START RequestId: 1 Version: $LATEST")],
    )


@pytest.fixture
def unreadable_log_group(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make CloudWatch Logs refuse reads of one log group, as a missing IAM grant would.

    The refusal is raised inside every boto3 logs client the command builds
    (botocore's own event hook), so everything else is the real code on moto.
    """
    refused: set[str] = set()

    def refuse(params: dict[str, Any], model: Any, **_: Any) -> None:
        groups = {params.get("logGroupName"), *params.get("logGroupNames", [])}
        if groups & refused:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, model.name
            )

    make_client = boto3.Session.client

    def client(self: boto3.Session, *args: Any, **kwargs: Any) -> Any:
        made = make_client(self, *args, **kwargs)
        if made.meta.service_model.service_name == "logs":
            made.meta.events.register("before-parameter-build.logs", refuse)
        return made

    monkeypatch.setattr(boto3.Session, "client", client)
    return refused.add
