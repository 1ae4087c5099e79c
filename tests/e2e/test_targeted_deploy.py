"""``onboard --deploy`` into a 200-tenant registry synthesizes and deploys two stacks only.

The new tenant's customer stack and the operations shard that holds its role:
the command prints the selection it synthesizes (2 of the registry's 203
stacks), its report deploys those two, and the embedded cloud holds no other
stack of the product. Only the new tenant's account and the operations account
exist in the cloud: nothing else is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from embedded_aws import process
from tenantctl.cli import app
from tests.support.cli_fixtures import eval_local_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-targeted-deploy"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]

OPS = "111111111111"
NEW_ACCOUNT = "555555555555"
TENANTS = 200
SHARD = 150


def _registry(path: Path) -> Path:
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": OPS, "region": "us-east-1"},
            "tenants": [
                {
                    "id": f"tenant-{i:05d}",
                    "account_id": f"{300000000000 + i}",
                    "region": "us-east-1",
                    "external_id": f"tenant-{i:05d}-ext",
                    "shard": i // SHARD,
                }
                for i in range(TENANTS)
            ],
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def fleet_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("targeted")
    registry = _registry(root / "tenants.yaml")
    state_dir = root / "cloud"
    process.up(state_dir, accounts=[OPS, NEW_ACCOUNT])
    try:
        yield registry, state_dir
    finally:
        process.down(state_dir)


def _product_stacks(account: str) -> list[str]:
    client: Any = boto3.Session(profile_name=f"embedded-{account}").client("cloudformation")
    summaries = client.list_stacks()["StackSummaries"]
    return sorted(
        s["StackName"]
        for s in summaries
        if s["StackName"].startswith("Bedrock") and s["StackStatus"] != "DELETE_COMPLETE"
    )


def test_onboard_deploy_synthesizes_and_deploys_only_the_new_tenants_two_stacks(
    fleet_cloud: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry, state_dir = fleet_cloud
    eval_local_env(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)  # tenantctl keeps the fleet's retry memory in ./.tenantctl

    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app,
        ["--registry", str(registry), "onboard", "--tenant", "newcomer",
         "--account", NEW_ACCOUNT, "--region", "us-east-1", "--deploy"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    # The shard with room (shard 0 is full) and the new tenant's stack, of 203.
    assert (
        f"synthesizing 2 of {TENANTS + 3} stacks: BedrockOperations-1, BedrockCustomer-newcomer"
        in result.stdout
    )
    assert "2 deployed, 0 unchanged, 0 failed, 0 skipped" in result.stdout
    assert _product_stacks(OPS) == ["BedrockOperations-1"]
    assert _product_stacks(NEW_ACCOUNT) == ["BedrockCustomer-newcomer"]
