"""``tenantctl block``, ``unblock``, ``status`` and ``list --blocks`` through the embedded
cloud's profiles (the example registry: acme and globex, operations account 111111111111)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from contracts import naming
from embedded_aws import process
from tenantctl import blocks
from tests.support.cli_fixtures import Cli

OPS = "111111111111"
TENANTS = ("acme", "globex")

pytestmark = pytest.mark.xdist_group("block-commands")


def _ops(service: str) -> Any:
    session: Any = boto3.Session(profile_name=f"embedded-{OPS}", region_name="us-east-1")
    return session.client(service)


@pytest.fixture
def roles(cloud: process.RunningCloud) -> Iterator[None]:
    """Both tenants' invoker roles, as their operations stack would make them."""
    iam = _ops("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": OPS}, "Action": "sts:AssumeRole"}],
    }
    for tenant in TENANTS:
        iam.create_role(
            RoleName=naming.invoker_role_name(tenant), AssumeRolePolicyDocument=json.dumps(trust)
        )
    yield
    for tenant in TENANTS:
        role = naming.invoker_role_name(tenant)
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
        iam.delete_role(RoleName=role)
        ssm = _ops("ssm")
        ssm.delete_parameters(Names=[blocks.record_parameter_name(tenant)])


def _operator() -> str:
    return str(_ops("sts").get_caller_identity()["Arn"])


def test_block_status_list_and_unblock_one_tenant(cli: Cli, roles: None) -> None:
    blocked = cli("block", "--tenant", "acme", "--reason", "unpaid invoice")
    assert blocked.exit_code == 0, blocked.output
    operator = _operator()
    assert blocked.stdout.startswith("acme: blocked since 20")
    assert f"by {operator}: unpaid invoice (role bedrock-invoker-acme in {OPS}/us-east-1)" in (
        blocked.stdout
    )
    again = cli("block", "--tenant", "acme", "--reason", "unpaid invoice")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("acme: already blocked since ")
    assert "(unchanged)" in again.stdout

    status = cli("status", "--tenant", "acme")
    assert status.exit_code == 0, status.output
    assert f"by {operator}: unpaid invoice" in status.stdout
    as_json = json.loads(cli("status", "--tenant", "acme", "--format", "json").stdout)
    assert as_json["blocked"]["reason"] == "unpaid invoice"
    assert as_json["blocked"]["by"] == operator

    listed = cli("list", "--blocks")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert any("blocked" in line and "cost centre" in line for line in lines)  # the heading
    acme_row = next(line for line in lines if line.startswith("│ acme"))
    globex_row = next(line for line in lines if line.startswith("│ globex"))
    assert "since 20" in acme_row and "since" not in globex_row
    assert "acme: blocked since" in listed.stdout
    listed_json = {
        r["id"]: r for r in json.loads(cli("list", "--blocks", "--format", "json").stdout)
    }
    assert listed_json["acme"]["blocked"]["reason"] == "unpaid invoice"
    assert listed_json["globex"]["blocked"] is None

    lifted = cli("unblock", "--tenant", "acme")
    assert lifted.exit_code == 0, lifted.output
    assert lifted.stdout.startswith("acme: unblocked (was blocked since ")
    assert cli("unblock", "--tenant", "acme").stdout == "acme: was not blocked\n"
    assert cli("status", "--tenant", "acme").stdout == (
        f"acme: not blocked (role bedrock-invoker-acme in {OPS}/us-east-1)\n"
    )


def test_block_all_stops_every_tenant_of_the_operations_account(cli: Cli, roles: None) -> None:
    stopped = cli("block", "--all", "--reason", "incident 7")
    assert stopped.exit_code == 0, stopped.output
    assert f"blocked 2 of 2 tenant(s) of operations account primary ({OPS}/us-east-1)" in (
        stopped.stdout
    )
    for tenant in TENANTS:
        assert cli("status", "--tenant", tenant).stdout.startswith(f"{tenant}: blocked since ")

    restored = cli("unblock", "--all")
    assert restored.exit_code == 0, restored.output
    assert "unblocked 2 of 2 tenant(s)" in restored.stdout
    for tenant in TENANTS:
        assert "not blocked" in cli("status", "--tenant", tenant).stdout


def test_a_tenant_without_its_role_is_reported_and_the_command_fails(
    cli: Cli, cloud: process.RunningCloud
) -> None:
    result = cli("block", "--tenant", "globex", "--reason", "x")
    assert result.exit_code == 1
    assert result.stdout.startswith(
        "globex: NOT blocked: the role bedrock-invoker-globex does not exist"
    )


def test_another_accounts_credentials_are_refused_naming_ops_profile(
    cli: Cli, cloud: process.RunningCloud
) -> None:
    result = cli(
        "block", "--tenant", "acme", "--reason", "x", "--ops-profile", "embedded-222222222222"
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the AWS credentials are for account 222222222222, not 111111111111: "
        "pass --ops-profile for account 111111111111\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("block", "--reason", "x"), "--tenant / --all: give one (a tenant, or every tenant"),
        (
            ("block", "--tenant", "acme", "--all", "--reason", "x"),
            "--tenant / --all: give one of the two",
        ),
        (("unblock",), "--tenant / --all: give one"),
        (("block", "--tenant", "acme"), "--reason: missing; say why the tenant is blocked"),
        (("block", "--tenant", "acme", "--reason", " "), "--reason: must not be empty"),
        (("block", "--tenant", "initech", "--reason", "x"), "--tenant: unknown tenant 'initech'"),
        (
            ("block", "--tenant", "acme", "--operations-account", "primary", "--reason", "x"),
            "--operations-account: only with --all",
        ),
        (("unblock", "--all", "--operations-account", "nope"), "--operations-account: "),
        (("status",), "--tenant: missing"),
    ],
)
def test_bad_input_names_the_option_and_exits_2(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_list_reads_no_account_without_blocks_and_names_ops_profile_with_it(
    cli: Cli, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    assert cli("list").exit_code == 0

    result = cli("list", "--blocks")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no AWS credentials for account 111111111111: pass --ops-profile\n"
    )


def test_offboard_without_deploy_lists_every_command_that_frees_the_role(cli: Cli) -> None:
    """The block, the enforcer's downgrade and their records, and its warning note:
    records before the deny they describe, as ``blocks.lift_all`` deletes them."""
    result = cli("offboard", "--tenant", "acme", "--yes")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    where = "--region us-east-1 --profile <primary-profile>"
    start = lines.index("aws ssm delete-parameter --name /bedrock-invoker/acme/block " + where)
    assert lines[start : start + 5] == [
        f"aws ssm delete-parameter --name /bedrock-invoker/acme/block {where}",
        "aws iam delete-role-policy --role-name bedrock-invoker-acme "
        f"--policy-name bedrock-invoker-block {where}",
        f"aws ssm delete-parameter --name /bedrock-invoker/acme/downgrade {where}",
        "aws iam delete-role-policy --role-name bedrock-invoker-acme "
        f"--policy-name bedrock-invoker-downgrade {where}",
        f"aws ssm delete-parameter --name /bedrock-invoker/acme/limit-warning {where}",
    ]
    assert "DeleteConflict" in result.stdout
