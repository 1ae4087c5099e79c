"""``onboard``, ``update`` and ``offboard`` with ``--deploy`` on the embedded cloud.

They take the one deploy path (``tenantctl deploy``'s fleet deploy): a tenant
with application inference profiles onboarded with ``--deploy`` answers a call
through its profile; ``update --deploy`` of its models redeploys both stacks and
the new model answers too; ``offboard --deploy`` removes its stack and its role.
"""

from __future__ import annotations

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


def _client(state_dir: Path, service: str, account: str) -> Any:
    env = process.RunningCloud.load(state_dir).env(account)
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def _answer(registry: Path, model: str) -> Any:
    return _tenantctl(
        registry, "invoke", "--local", "--tenant", "pt", "--prompt", "hello",
        "--user-id", "u1", "--application-id", "app", "--model", model, "--json",
    )  # fmt: skip


def test_a_profile_tenant_onboarded_updated_and_offboarded_with_deploy(
    cloud: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry, state_dir = cloud
    monkeypatch.setenv("TENANTCTL_LOCAL_STATE_DIR", str(state_dir))
    monkeypatch.chdir(tmp_path)  # tenantctl keeps the fleet's retry memory in ./.tenantctl

    onboarded = _tenantctl(
        registry, "onboard", "--tenant", "pt", "--account", TENANT_ACCOUNT, "--region", REGION,
        "--inference-profiles", "--deploy", "--local",
    )  # fmt: skip
    assert onboarded.exit_code == 0, onboarded.output
    assert "2 deployed, 0 unchanged, 0 failed, 0 skipped" in onboarded.stdout

    answer = _answer(registry, HAIKU)
    assert answer.exit_code == 0, answer.output
    assert '"model_id": "anthropic.claude-3-haiku-20240307-v1:0"' in answer.stdout

    updated = _tenantctl(
        registry, "update", "--tenant", "pt", "--models", HAIKU, "--models", US_HAIKU_35,
        "--deploy", "--local",
    )  # fmt: skip
    assert updated.exit_code == 0, updated.output
    assert "2 deployed" in updated.stdout
    both = _answer(registry, US_HAIKU_35)
    assert both.exit_code == 0, both.output
    assert US_HAIKU_35 in both.stdout

    offboarded = _tenantctl(registry, "offboard", "--tenant", "pt", "--yes", "--deploy", "--local")
    assert offboarded.exit_code == 0, offboarded.output
    cfn = _client(state_dir, "cloudformation", TENANT_ACCOUNT)
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName=naming.customer_stack_name("pt"))
    iam = _client(state_dir, "iam", OPS)
    with pytest.raises(ClientError):
        iam.get_role(RoleName=naming.invoker_role_name("pt"))
    # The tenant's records stay in its account.
    logs = _client(state_dir, "logs", TENANT_ACCOUNT)
    groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert naming.DEFAULT_USAGE_LOG_GROUP in groups
