"""Block and unblock by hand, end to end on the embedded cloud, through its profiles.

Two tenants of one operations account are deployed with ``tenantctl deploy
--all`` and answer. ``block`` makes one's calls refused (its function's error
names AccessDeniedException) while the other still answers; a fresh deploy of
every stack in between keeps the block and succeeds; ``status`` and ``list
--blocks`` show it; ``unblock`` lifts it. ``block --all`` stops both,
``unblock --all`` restores both. Offboarding a blocked and downgraded tenant with
``--deploy`` leaves no role, no policy and no record behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ruamel.yaml import YAML
from typer.testing import CliRunner, Result

from contracts import naming
from contracts.blocks import (
    DOWNGRADE_POLICY_NAME,
    downgrade_policy_document,
    downgrade_record_parameter_name,
    new_record,
    record_value,
)
from contracts.limits import warning_parameter_name
from embedded_aws import process
from tenantctl import blocks
from tenantctl.cli import app
from tests.support.cli_fixtures import eval_local_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-block"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
OPS = "111111111111"
REGION = "us-east-1"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ACCOUNTS = {"alpha": "444444444444", "bravo": "555555555555"}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("block")
    registry = root / "tenants.yaml"
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": OPS, "region": REGION},
            "defaults": {"models": [HAIKU]},
            "tenants": [
                {"id": t, "account_id": account, "region": REGION, "external_id": f"{t}-ext-0001"}
                for t, account in ACCOUNTS.items()
            ],
        },
        registry,
    )
    state_dir = root / "cloud"
    process.up(state_dir, registry=registry)
    try:
        yield registry, state_dir
    finally:
        process.down(state_dir)


def _tenantctl(registry: Path, *args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--registry", str(registry), *args])


def _invoke(registry: Path, tenant: str) -> Result:
    return _tenantctl(
        registry, "invoke", "--tenant", tenant, "--prompt", "hello",
        "--user-id", "u1", "--application-id", "app",
    )  # fmt: skip


def _answers(registry: Path, tenant: str) -> bool:
    result = _invoke(registry, tenant)
    assert result.exit_code == 0, result.output
    return True


def _refused(registry: Path, tenant: str) -> bool:
    result = _invoke(registry, tenant)
    assert result.exit_code == 1, result.output
    assert "AccessDeniedException" in result.stderr, result.stderr
    return True


def _ops(service: str) -> Any:
    session: Any = boto3.Session(profile_name=f"embedded-{OPS}", region_name=REGION)
    return session.client(service)


def test_block_survives_a_deploy_and_offboarding_leaves_nothing(
    deployed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry, state_dir = deployed
    eval_local_env(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)  # tenantctl keeps the fleet's retry memory in ./.tenantctl

    first = _tenantctl(registry, "deploy", "--all")
    assert first.exit_code == 0, first.output
    assert _answers(registry, "alpha") and _answers(registry, "bravo")

    blocked = _tenantctl(registry, "block", "--tenant", "alpha", "--reason", "x")
    assert blocked.exit_code == 0, blocked.output
    assert _refused(registry, "alpha") and _answers(registry, "bravo")

    # A fresh deploy of every stack updates the operations stack and keeps the block.
    fresh = _tenantctl(registry, "deploy", "--all", "--fresh")
    assert fresh.exit_code == 0, fresh.output
    assert _refused(registry, "alpha") and _answers(registry, "bravo")

    status = _tenantctl(registry, "status", "--tenant", "alpha")
    assert status.exit_code == 0, status.output
    assert status.stdout.startswith("alpha: blocked since ") and ": x (role " in status.stdout
    listed = _tenantctl(registry, "list", "--blocks")
    assert listed.exit_code == 0, listed.output
    assert "alpha: blocked since " in listed.stdout and "bravo: blocked" not in listed.stdout

    lifted = _tenantctl(registry, "unblock", "--tenant", "alpha")
    assert lifted.exit_code == 0, lifted.output
    assert _answers(registry, "alpha")

    stop = _tenantctl(registry, "block", "--all", "--reason", "emergency")
    assert stop.exit_code == 0, stop.output
    assert _refused(registry, "alpha") and _refused(registry, "bravo")
    restore = _tenantctl(registry, "unblock", "--all")
    assert restore.exit_code == 0, restore.output
    assert _answers(registry, "alpha") and _answers(registry, "bravo")

    again = _tenantctl(registry, "block", "--tenant", "alpha", "--reason", "leaving")
    assert again.exit_code == 0, again.output
    # And a downgrade with its warning note, as the limit enforcer writes them.
    _ops("iam").put_role_policy(
        RoleName=naming.invoker_role_name("alpha"),
        PolicyName=DOWNGRADE_POLICY_NAME,
        PolicyDocument=json.dumps(downgrade_policy_document([f"arn:aws:bedrock:{REGION}::x"])),
    )
    enforcer = new_record(since=datetime.now(UTC), by="enforcer", reason="over", rule="limits:x")
    _ops("ssm").put_parameter(
        Name=downgrade_record_parameter_name("alpha"), Value=record_value(enforcer), Type="String"
    )
    _ops("ssm").put_parameter(Name=warning_parameter_name("alpha"), Value="{}", Type="String")
    offboarded = _tenantctl(registry, "offboard", "--tenant", "alpha", "--yes", "--deploy")
    assert offboarded.exit_code == 0, offboarded.output
    assert "lifted the block of alpha so its role can go" in offboarded.stdout
    assert "lifted the limit enforcer's downgrade of alpha" in offboarded.stdout
    with pytest.raises(ClientError, match="NoSuchEntity"):
        _ops("iam").get_role(RoleName=naming.invoker_role_name("alpha"))
    for name in (
        blocks.record_parameter_name("alpha"),
        downgrade_record_parameter_name("alpha"),
        warning_parameter_name("alpha"),
    ):
        with pytest.raises(ClientError, match="ParameterNotFound"):
            _ops("ssm").get_parameter(Name=name)
    assert _answers(registry, "bravo")
