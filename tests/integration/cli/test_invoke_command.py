"""`tenantctl invoke` against moto acting as acme's account (222222222222/us-east-1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto import mock_aws

from tests.support.cli_fixtures import Cli, deploy_fake_function, queue_function_result

ANSWER = {
    "output": "Hello from the embedded model",
    "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
    "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
    "latency_ms": 42,
    "request_id": "req-123",
}
INVOKE = ("invoke", "--tenant", "acme", "--prompt", "hi", "--user-id", "u1",
          "--application-id", "app-a")  # fmt: skip


def test_invoke_prints_the_answer_and_usage(acme_account: None, cli: Cli) -> None:
    deploy_fake_function()
    queue_function_result(ANSWER)

    result = cli(*INVOKE)

    assert result.exit_code == 0, result.output
    assert "Hello from the embedded model" in result.stdout
    assert "12 in / 7 out / 19 total tokens" in result.stdout
    assert "42 ms" in result.stdout and "req-123" in result.stdout


def test_invoke_json_prints_the_raw_result(acme_account: None, cli: Cli) -> None:
    deploy_fake_function()
    queue_function_result(ANSWER)

    result = cli(*INVOKE, "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == ANSWER


def test_invoke_function_error_result_exits_1(acme_account: None, cli: Cli) -> None:
    deploy_fake_function()
    queue_function_result({"error": {"type": "ValidationException", "message": "bad model"}})

    result = cli(*INVOKE)

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: ValidationException: bad model"


def test_invoke_throttled_gets_a_clear_message(acme_account: None, cli: Cli) -> None:
    deploy_fake_function()
    queue_function_result({"error": {"type": "ThrottlingException", "message": "Too many"}})

    result = cli(*INVOKE)

    assert result.exit_code == 1
    assert "error: Bedrock throttled the request for tenant acme" in result.stderr
    assert "retry with backoff or raise the quota" in result.stderr


def test_invoke_function_not_deployed(
    aws_env: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "222222222222")
    # moto's Docker-free Lambda answers for any name; its regular backend checks.
    with mock_aws():
        result = cli(*INVOKE)

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: function bedrock-invoker-acme is not deployed in 222222222222/us-east-1: "
        "run tenantctl deploy --tenant acme"
    )


def test_invoke_unknown_tenant(acme_account: None, cli: Cli) -> None:
    result = cli("invoke", "--tenant", "nope", "--prompt", "hi", "--user-id", "u",
                 "--application-id", "a")  # fmt: skip

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown tenant 'nope' (known: acme, globex)"


def test_invoke_model_not_allowed_for_the_tenant(acme_account: None, cli: Cli) -> None:
    result = cli(*INVOKE, "--model", "anthropic.claude-3-opus-20240229-v1:0")

    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --model: 'anthropic.claude-3-opus-20240229-v1:0' is not allowed for tenant acme"
    )


def test_invoke_without_credentials(
    aws_env: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = cli(*INVOKE)

    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "error: no AWS credentials for account 222222222222: pass --tenant-profile"
    )


def test_invoke_with_an_unknown_profile(aws_env: None, cli: Cli) -> None:
    result = cli(*INVOKE, "--tenant-profile", "nosuch")

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --tenant-profile: no AWS profile named 'nosuch'"


def test_the_old_profile_spelling_warns_and_then_acts_as_tenant_profile(
    aws_env: None, cli: Cli
) -> None:
    result = cli(*INVOKE, "--profile", "nosuch")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "warning: --profile is deprecated; use --tenant-profile",
        "error: --tenant-profile: no AWS profile named 'nosuch'",
    ]


def test_the_old_profile_spelling_reaches_the_profiles_account(
    acme_account: None, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy_fake_function()
    queue_function_result(ANSWER)
    # Only the named profile has credentials.
    credentials = tmp_path / "credentials"
    credentials.write_text("[acme]\naws_access_key_id = acme\naws_secret_access_key = acme\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = cli(*INVOKE, "--profile", "acme", "--json")
    hidden = cli("invoke", "--help")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == ANSWER
    assert result.stderr == "warning: --profile is deprecated; use --tenant-profile\n"
    assert "--tenant-profile" in hidden.stdout and "--profile " not in hidden.stdout


def test_the_old_and_new_profile_spellings_must_agree(aws_env: None, cli: Cli) -> None:
    result = cli(*INVOKE, "--profile", "a", "--tenant-profile", "b")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "error: --tenant-profile: given twice, also as its deprecated spelling --profile"
    )


def test_invoke_with_credentials_of_another_account(
    acme_account: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999999999999")

    result = cli(*INVOKE)

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the AWS credentials are for account 999999999999, not 222222222222: "
        "pass --tenant-profile for account 222222222222"
    )
