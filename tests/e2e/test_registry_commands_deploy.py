"""``onboard``, ``update`` and ``offboard`` with ``--deploy`` on the embedded cloud.

They take the one deploy path (``tenantctl deploy``'s fleet deploy): a tenant
with application inference profiles onboarded with ``--deploy`` answers a call
through its profile; ``update --deploy`` of its models redeploys both stacks and
the new model answers too; ``offboard --deploy`` removes its stack and its role.
The shell is set up with ``tenantctl local env``: profiles and the endpoint,
and the profile patterns the commands take from the environment.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ruamel.yaml import YAML
from typer.testing import CliRunner

from contracts import naming
from embedded_aws import process
from tenantctl.cli import app
from tests.support.cli_fixtures import eval_local_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-registry-deploy"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
OPS = "111111111111"
TENANT_ACCOUNT = "444444444444"
REGION = "us-east-1"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
US_HAIKU_35 = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("registry-deploy")
    registry = root / "tenants.yaml"
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": OPS, "region": REGION},
            "defaults": {"models": [HAIKU]},
            "tenants": [],
        },
        registry,
    )
    state_dir = root / "cloud"
    # The account of the tenant onboarded below exists from the start, as a real one would.
    process.up(state_dir, registry=registry, accounts=[TENANT_ACCOUNT])
    try:
        yield registry, state_dir
    finally:
        process.down(state_dir)


def _tenantctl(registry: Path, *args: str) -> Any:
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--registry", str(registry), *args])


def _client(service: str, account: str) -> Any:
    session: Any = boto3.Session(profile_name=f"embedded-{account}")
    return session.client(service)


def _answer(registry: Path, model: str) -> Any:
    return _tenantctl(
        registry, "invoke", "--tenant", "pt", "--prompt", "hello",
        "--user-id", "u1", "--application-id", "app", "--model", model, "--json",
    )  # fmt: skip


def _act_as_the_function_by_hand(registry: Path) -> None:
    """`tenantctl local env --as-function pt`: the function's role and its own variables."""
    result = _tenantctl(registry, "local", "env", "--as-function", "pt")
    assert result.exit_code == 0, result.output
    env = dict(
        shlex.split(line)[1].split("=", 1)
        for line in result.stdout.splitlines()
        if line.startswith("export ")
    )
    assert "TENANTCTL_TENANT_PROFILE" not in env and env["AWS_SESSION_TOKEN"]
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=env["AWS_REGION"],
    )
    sts = session.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"])
    caller = sts.get_caller_identity()["Arn"]
    assert caller.startswith(f"arn:aws:sts::{TENANT_ACCOUNT}:assumed-role/"), caller
    # As the function may: its operations role, with the ExternalId it was given.
    assumed = sts.assume_role(
        RoleArn=env["OPS_ROLE_ARN"],
        RoleSessionName="pt",
        ExternalId=env["OPS_EXTERNAL_ID"],
    )
    assert assumed["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{OPS}:assumed-role/")
    unknown = _tenantctl(registry, "local", "env", "--as-function", "nobody")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: --as-function: unknown tenant 'nobody'")


def test_a_profile_tenant_onboarded_updated_and_offboarded_with_deploy(
    cloud: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry, state_dir = cloud
    eval_local_env(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)  # tenantctl keeps the fleet's retry memory in ./.tenantctl

    onboarded = _tenantctl(
        registry, "onboard", "--tenant", "pt", "--account", TENANT_ACCOUNT, "--region", REGION,
        "--inference-profiles", "--deploy",
    )  # fmt: skip
    assert onboarded.exit_code == 0, onboarded.output
    assert "2 deployed, 0 unchanged, 0 failed, 0 skipped" in onboarded.stdout

    answer = _answer(registry, HAIKU)
    assert answer.exit_code == 0, answer.output
    assert '"model_id": "anthropic.claude-3-haiku-20240307-v1:0"' in answer.stdout
    _act_as_the_function_by_hand(registry)

    updated = _tenantctl(
        registry, "update", "--tenant", "pt", "--models", HAIKU, "--models", US_HAIKU_35,
        "--deploy",
    )  # fmt: skip
    assert updated.exit_code == 0, updated.output
    assert "2 deployed" in updated.stdout
    both = _answer(registry, US_HAIKU_35)
    assert both.exit_code == 0, both.output
    assert US_HAIKU_35 in both.stdout

    offboarded = _tenantctl(registry, "offboard", "--tenant", "pt", "--yes", "--deploy")
    assert offboarded.exit_code == 0, offboarded.output
    cfn = _client("cloudformation", TENANT_ACCOUNT)
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName=naming.customer_stack_name("pt"))
    iam = _client("iam", OPS)
    with pytest.raises(ClientError):
        iam.get_role(RoleName=naming.invoker_role_name("pt"))
    # The tenant's records stay in its account.
    logs = _client("logs", TENANT_ACCOUNT)
    groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert naming.DEFAULT_USAGE_LOG_GROUP in groups


def test_onboard_with_deploy_refuses_a_missing_profile_before_the_registry_changes(
    cloud: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry, state_dir = cloud
    eval_local_env(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)
    before = registry.read_text()

    result = _tenantctl(
        registry, "onboard", "--tenant", "late", "--account", TENANT_ACCOUNT, "--region", REGION,
        "--deploy", "--tenant-profile", "sso-{name}",
    )  # fmt: skip

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: --tenant-profile: no AWS profile named 'sso-late' (for account 444444444444) "
        "in the AWS configuration\n"
    )
    assert registry.read_text() == before


def test_local_deploy_after_a_restart_for_a_new_account_deploys_every_stack_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart empties the cloud at the same endpoint and profiles: the deploy memory of
    a run that partly failed must not skip the stacks that run deployed."""
    registry = tmp_path / "tenants.yaml"
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": OPS, "region": REGION},
            "defaults": {"models": [HAIKU]},
            "tenants": [
                {"id": "kept", "account_id": TENANT_ACCOUNT, "region": REGION,
                 "external_id": "kept-external-id-0001"},
                {"id": "broken", "account_id": "666666666666", "region": REGION,
                 "external_id": "broken-external-id-01"},
            ],
        },
        registry,
    )  # fmt: skip
    state_dir = tmp_path / "cloud"
    monkeypatch.chdir(tmp_path)
    process.up(state_dir, registry=registry)
    try:
        exported = eval_local_env(state_dir, monkeypatch)
        # Someone made broken's usage log group by hand: its stack cannot create it.
        squatter = _client("logs", "666666666666")
        squatter.create_log_group(logGroupName=naming.DEFAULT_USAGE_LOG_GROUP)
        first = _tenantctl(registry, "local", "deploy")
        assert first.exit_code == 1, first.output
        assert "2 deployed, 0 unchanged, 1 failed" in first.stdout
        squatter.delete_log_group(logGroupName=naming.DEFAULT_USAGE_LOG_GROUP)
        onboarded = _tenantctl(
            registry, "onboard", "--tenant", "fresh", "--account", "555555555555",
            "--region", REGION,
        )  # fmt: skip
        assert onboarded.exit_code == 0, onboarded.output

        second = _tenantctl(registry, "local", "deploy")

        assert second.exit_code == 0, second.output
        assert "restarting the embedded cloud to add account(s) 555555555555" in second.stdout
        # kept's customer stack is deployed again into the empty cloud, although its
        # template, endpoint and profile are those the failed run deployed it with.
        assert "4 deployed, 0 unchanged, 0 failed, 0 skipped" in second.stdout
        assert eval_local_env(state_dir, monkeypatch) == exported  # the shell stays valid
    finally:
        process.down(state_dir)
