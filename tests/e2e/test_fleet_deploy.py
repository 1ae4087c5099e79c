"""``tenantctl deploy`` of a 21-tenant fleet into the embedded cloud, with the real CDK CLI.

The shell is set up as on AWS: AWS config and credentials files with a profile
per account, and the endpoint (here ``tenantctl local env``'s files and
``AWS_ENDPOINT_URL``, without its default profile patterns); the command names
the profiles with ``--ops-profile`` and ``--tenant-profile`` patterns.

One tenant's deploy is made to fail; the others still deploy, the command exits
1 naming it, and running the same command again retries only that stack. Then
``--changed`` finds nothing to deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from contracts.registry import load_registry
from embedded_aws import process
from tenantctl.cli import app
from tenantctl.cli.options import CDK_CONTEXT_ENV, OPS_PROFILE_ENV, TENANT_PROFILE_ENV
from tests.support.cli_fixtures import eval_local_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-fleet"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]

TENANTS = 21
BROKEN = "tenant-00007"


def _registry(path: Path) -> Path:
    data: dict[str, Any] = {
        "version": 1,
        # Two shards in the first account, and a second operations account.
        "operations": {"account_id": "111111111111", "region": "us-east-1", "shard_capacity": 10},
        "additional_operations": [
            {"name": "secondary", "account_id": "888888888888", "region": "us-east-1"}
        ],
        "tenants": [
            {
                "id": f"tenant-{i:05d}",
                "account_id": f"{300000000000 + i}",
                "region": "us-east-1",
                "external_id": f"tenant-{i:05d}-ext",
                "shard": i // 10 if i < 20 else 0,
                **({"operations_account": "secondary"} if i >= 20 else {}),
            }
            for i in range(TENANTS)
        ],
    }
    YAML().dump(data, path)
    return path


@pytest.fixture(scope="module")
def fleet_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("fleet")
    registry = _registry(root / "tenants.yaml")
    state_dir = root / "cloud"
    process.up(state_dir, registry=registry)
    try:
        yield registry, state_dir
    finally:
        process.down(state_dir)


PROFILES = ("--ops-profile", "embedded-{account_id}", "--tenant-profile", "embedded-{account_id}")


def _deploy(registry: Path, *args: str) -> Any:
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        app,
        ["--registry", str(registry), "deploy", *PROFILES, "-c", "lambda_platform=host", *args],
    )


def _logs(account: str) -> Any:
    return boto3.Session(profile_name=f"embedded-{account}").client("logs")


def test_a_failed_tenant_does_not_stop_the_fleet_and_a_rerun_retries_only_it(
    fleet_cloud: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry_path, state_dir = fleet_cloud
    eval_local_env(state_dir, monkeypatch)
    for name in (OPS_PROFILE_ENV, TENANT_PROFILE_ENV, CDK_CONTEXT_ENV):
        monkeypatch.delenv(name)  # the command names its profiles itself, as on AWS
    monkeypatch.chdir(tmp_path)  # tenantctl keeps the last run's failures in ./.tenantctl
    registry = load_registry(registry_path)
    broken = registry.tenant(BROKEN)
    # Someone created the usage log group by hand: CloudFormation cannot create it.
    squatter = _logs(broken.account_id)
    squatter.create_log_group(logGroupName=broken.usage_log_group)

    first = _deploy(registry_path, "--all", "--concurrency", "4")

    assert first.exit_code == 1, first.output
    assert f"BedrockCustomer-{BROKEN}" in first.stderr
    assert "run the same command again to retry only these" in first.stderr
    summary = first.stdout
    assert "BedrockOperations-1" in summary and "BedrockOperations-secondary" in summary
    assert f"{TENANTS + 3 - 1} deployed, 0 unchanged, 1 failed, 0 skipped" in summary

    squatter.delete_log_group(logGroupName=broken.usage_log_group)
    second = _deploy(registry_path, "--all", "--concurrency", "4")

    assert second.exit_code == 0, second.output
    assert "retrying the 1 stack(s) that failed last time" in second.stdout
    assert "1 deployed, 0 unchanged, 0 failed, 0 skipped" in second.stdout

    third = _deploy(registry_path, "--all", "--changed")
    assert third.exit_code == 0, third.output
    total = TENANTS + 3  # three operations stacks
    assert f"{total} of {total} stack(s) unchanged: skipped" in third.stdout
    for tenant in registry.resolved_tenants():
        groups = _logs(tenant.account_id).describe_log_groups()["logGroups"]
        assert tenant.usage_log_group in {g["logGroupName"] for g in groups}, tenant.id


def test_deploy_refuses_bad_options_naming_them(
    fleet_cloud: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry_path, state_dir = fleet_cloud
    eval_local_env(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)
    missing = _deploy(registry_path, "--all", "--tenant-profile", "nosuch-{name}")
    assert missing.exit_code == 2, missing.output
    assert missing.stderr.startswith(
        "error: --tenant-profile: no AWS profile named 'nosuch-tenant-00000' "
        "(for account 300000000000)"
    )
    assert "synthesizing" not in missing.stdout  # refused before any work
    pattern = _deploy(registry_path, "--all", "--ops-profile", "ops-{region}")
    assert pattern.exit_code == 2
    assert pattern.stderr.startswith("error: --ops-profile: 'ops-{region}' may name only")
    both = _deploy(registry_path, "--all", "--tenant", "tenant-00001")
    assert both.exit_code == 2
    assert both.stderr.startswith("error: --all / --tenant: give exactly one")
    unknown = _deploy(registry_path, "--tenant", "nobody")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: --tenant: unknown tenant 'nobody'")
    assert _deploy(registry_path, "--all", "--concurrency", "0").exit_code == 2
