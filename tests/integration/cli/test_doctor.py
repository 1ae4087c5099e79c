"""`tenantctl doctor`: the guard's check on demand, with the guard's own decision."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import typer
from botocore.stub import Stubber
from moto import mock_aws
from typer.testing import CliRunner

from contracts import invocation_logging
from stacks.operations.invocation_logging_guard import GUARD_SOURCE
from tenantctl import doctor
from tenantctl.cli.app import State
from tenantctl.cli.doctor_commands import doctor_command
from tenantctl.doctor import check_ops_invocation_logging
from tests.conftest import EXAMPLE_REGISTRY

TEXT_LOGGING = {
    "s3Config": {"bucketName": "central-invocation-logs"},
    "textDataDeliveryEnabled": True,
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # In-process moto: the example registry's operations account.
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111111111111")
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def test_logging_off_is_ok(aws: boto3.Session) -> None:
    result = check_ops_invocation_logging(aws, allow=False)
    assert result.ok
    assert result.details == {"logging_enabled": "false", "content_delivered": "none"}


def test_text_delivery_fails_unless_the_registry_allows_it(aws: boto3.Session) -> None:
    client = aws.client("bedrock")
    client.put_model_invocation_logging_configuration(loggingConfig=TEXT_LOGGING)
    refused = check_ops_invocation_logging(client, allow=False)
    assert not refused.ok and "text data delivery" in refused.message
    assert check_ops_invocation_logging(client, allow=True).ok


def test_an_unreadable_setting_is_a_failure_not_a_pass(aws: boto3.Session) -> None:
    client = aws.client("bedrock")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_model_invocation_logging_configuration",
            service_error_code="AccessDeniedException",
            service_message="denied",
        )
        result = check_ops_invocation_logging(client, allow=False)
    assert not result.ok
    assert result.message.endswith("AccessDeniedException: denied")


def test_doctor_and_the_deployed_guard_share_one_decision() -> None:
    spec = importlib.util.spec_from_file_location(
        "doctor_test_guard_handler", GUARD_SOURCE / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    assert handler.evaluate is doctor.evaluate is invocation_logging.evaluate


def _cli(registry: Path) -> typer.Typer:
    """The command registered the way the CLI owner will, on a throwaway app."""
    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = State(registry_path=registry)

    app.command("doctor")(doctor_command)
    return app


def test_doctor_command_prints_ok_and_exits_0(aws: Any) -> None:
    result = CliRunner().invoke(_cli(EXAMPLE_REGISTRY), ["doctor"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "ok: ops-invocation-logging (111111111111/us-east-1): model-invocation logging is off"
    )


def test_doctor_command_fails_with_exit_1_when_prompts_are_logged(aws: boto3.Session) -> None:
    aws.client("bedrock").put_model_invocation_logging_configuration(loggingConfig=TEXT_LOGGING)
    result = CliRunner().invoke(_cli(EXAMPLE_REGISTRY), ["doctor"])
    assert result.exit_code == 1
    assert result.output.startswith("FAIL: ops-invocation-logging (111111111111/us-east-1): ")


def test_doctor_reaches_the_operations_account_through_its_profile_pattern(
    cloud: Any, cli: Any
) -> None:
    """The embedded cloud through `tenantctl local env`'s profiles: the AWS user's path."""
    from_environment = cli("doctor")
    named = cli("doctor", "--ops-profile", "embedded-{account_id}")
    wrong = cli("doctor", "--ops-profile", "embedded-222222222222")

    assert from_environment.exit_code == 0, from_environment.output
    assert from_environment.stdout.startswith("ok: ops-invocation-logging (111111111111/")
    assert named.exit_code == 0, named.output
    assert wrong.exit_code == 1
    assert wrong.stderr == (
        "error: the AWS credentials are for account 222222222222, not 111111111111: "
        "pass --ops-profile for account 111111111111\n"
    )
