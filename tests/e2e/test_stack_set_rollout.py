"""The customer side rolled out by a SERVICE_MANAGED StackSet, driven by ``tenantctl`` only.

An organization in the embedded cloud (``embedded_aws.organization``, the AWS
calls an administrator makes): the operations account manages it, and an OU
holds three tenant accounts, one of them in a child OU. The registry says
``customer_stack_set`` with that OU. Then, as a user would, through the
profiles ``tenantctl local env`` points at:

``tenantctl deploy --all`` deploys the operations shard (and no customer stack),
``stackset deploy`` uploads the code and creates the StackSet, ``stackset sync``
creates one instance per tenant in its own account. Each tenant's function
answers ``tenantctl invoke``, and the isolation checks hold. ``onboard --deploy`` adds
a tenant of the OU with its instance, ``offboard --deploy`` removes one tenant's
instance (its usage log group stays, retained), and a second ``sync`` has
nothing to do.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner, Result

from contracts.registry import TenantRegistry, load_registry
from demo.checks import check_ops_account_holds_no_logs
from embedded_aws import process
from embedded_aws.organization import build_organization
from tenantctl.cli import app
from tests.support.cli_fixtures import eval_local_env
from tests.support.profile_isolation import (
    ProfileAccounts,
    check_records_in_own_accounts,
    check_tenant_roles_isolated,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-stack-set"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]

REGION = "us-east-1"
OPS = "111111111111"
OUTSIDER = "666666666666"  # a member of the organization in no tenant OU
DELTA = "555555555555"  # in the tenants' OU, onboarded later
TENANTS = {"alpha": "222222222222", "bravo": "333333333333", "charlie": "444444444444"}
CODE_BUCKET = "org-bedrock-invoker-code"
STACK_SET = "BedrockCustomerStackSet"


def _document(organizational_unit: str | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "version": 1,
        "operations": {"account_id": OPS, "region": REGION},
        "tenants": [
            {
                "id": tenant_id,
                "account_id": account_id,
                "region": REGION,
                "external_id": f"{tenant_id}-stack-set-0001",
            }
            for tenant_id, account_id in TENANTS.items()
        ],
    }
    if organizational_unit is not None:
        document["customer_stack_set"] = {
            "code_bucket": CODE_BUCKET,
            "organizational_unit_ids": [organizational_unit],
            "operation_preferences": {
                "max_concurrent_percentage": 100,
                "failure_tolerance_percentage": 50,
                "region_concurrency_type": "PARALLEL",
            },
        }
    return document


@dataclass
class Rollout:
    registry_path: Path
    accounts: ProfileAccounts

    def tenantctl(self, *args: str) -> Result:
        return CliRunner(env={"COLUMNS": "250"}).invoke(
            app, ["--registry", str(self.registry_path), *args]
        )

    @property
    def registry(self) -> TenantRegistry:
        return load_registry(self.registry_path)

    def admin(self) -> Any:
        return self.accounts.client("cloudformation", OPS, REGION)

    def instances(self) -> dict[str, dict[str, Any]]:
        summaries = self.admin().list_stack_instances(StackSetName=STACK_SET)["Summaries"]
        return {s["Account"]: s for s in summaries}


@pytest.fixture(scope="module")
def rollout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollout]:
    root = tmp_path_factory.mktemp("stack-set-rollout")
    registry_path = root / "tenants.yaml"
    YAML().dump(_document(None), registry_path)
    state_dir = root / "cloud"
    work = root / "work"
    work.mkdir()
    process.up(state_dir, registry=registry_path, accounts=[OUTSIDER, DELTA])
    try:
        with pytest.MonkeyPatch.context() as shell:
            eval_local_env(state_dir, shell)
            shell.chdir(work)  # tenantctl keeps its deploy memory in ./.tenantctl
            cloud = process.RunningCloud.load(state_dir)
            accounts = [TENANTS["alpha"], TENANTS["bravo"], DELTA]
            org = build_organization(
                cloud,
                management_account=OPS,
                organizational_units={"tenants": accounts, "tenants/eu": [TENANTS["charlie"]]},
                outside_accounts=[OUTSIDER],
            )
            # The platform team's setup: the registry names the OU, and the code bucket
            # exists (on AWS with a policy letting the organization read it).
            YAML().dump(_document(org.organizational_units["tenants"]), registry_path)
            profiles = ProfileAccounts()
            profiles.client("s3", OPS, REGION).create_bucket(Bucket=CODE_BUCKET)
            yield Rollout(registry_path, profiles)
    finally:
        process.down(state_dir)


def test_the_customer_side_rolls_out_to_each_tenant_account_and_offboarding_removes_one(
    rollout: Rollout,
) -> None:
    deployed = rollout.tenantctl("deploy", "--all")
    assert deployed.exit_code == 0, deployed.output
    assert "BedrockOperations" in deployed.stdout
    assert "BedrockCustomer-" not in deployed.stdout  # the customer side is the StackSet's

    stack_set = rollout.tenantctl("stackset", "deploy")
    assert stack_set.exit_code == 0, stack_set.output
    assert "uploaded" in stack_set.stdout and ": created" in stack_set.stdout
    again = rollout.tenantctl("stackset", "deploy")
    assert again.exit_code == 0, again.output
    assert "already there: not uploaded" in again.stdout and ": unchanged" in again.stdout

    dry = rollout.tenantctl("stackset", "sync", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "3 change(s)" in dry.stdout and not rollout.instances()

    synced = rollout.tenantctl("stackset", "sync")
    assert synced.exit_code == 0, synced.output
    assert "3 created, 0 updated, 0 deleted, 0 unchanged, 0 failed" in synced.stdout

    instances = rollout.instances()
    assert set(instances) == set(TENANTS.values())
    assert all(i["Status"] == "CURRENT" for i in instances.values()), instances
    for tenant in rollout.registry.resolved_tenants():
        function = rollout.accounts.client("lambda", tenant.account_id, REGION).get_function(
            FunctionName=tenant.function_name
        )["Configuration"]
        assert function["Environment"]["Variables"]["TENANT_ID"] == tenant.id
    outsider = rollout.accounts.client("cloudformation", OUTSIDER, REGION).list_stacks()
    assert not [s for s in outsider["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]

    records: Counter[str] = Counter()
    for tenant_id in TENANTS:
        answer = _invoke(rollout, tenant_id)
        assert answer.get("output"), answer
        records[tenant_id] += 1
    _assert_isolated(rollout, records)

    onboarded = rollout.tenantctl(
        "onboard", "delta", "--account", DELTA, "--region", REGION, "--deploy"
    )
    assert onboarded.exit_code == 0, onboarded.output
    assert "1 created, 0 updated, 0 deleted, 0 unchanged, 0 failed" in onboarded.stdout
    assert set(rollout.instances()) == {*TENANTS.values(), DELTA}
    assert _invoke(rollout, "delta").get("output")
    records["delta"] += 1
    _assert_isolated(rollout, records)

    charlie = rollout.registry.tenant("charlie")
    offboarded = rollout.tenantctl("offboard", "charlie", "--yes", "--deploy")
    assert offboarded.exit_code == 0, offboarded.output

    assert set(rollout.instances()) == {TENANTS["alpha"], TENANTS["bravo"], DELTA}
    stacks = rollout.accounts.client("cloudformation", charlie.account_id, REGION).list_stacks()
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks["StackSummaries"])
    logs = rollout.accounts.client("logs", charlie.account_id, REGION)
    groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert charlie.usage_log_group in groups  # retained, with the tenant's records
    _assert_isolated(rollout, records, offboarded={"charlie": charlie.account_id})

    second = rollout.tenantctl("stackset", "sync")
    assert second.exit_code == 0, second.output
    assert "3 instance(s) match the registry; nothing to do" in second.stdout


def _invoke(rollout: Rollout, tenant_id: str) -> Any:
    result = rollout.tenantctl(
        "invoke", "--tenant", tenant_id, "--prompt", "hello", "--json",
        "--user-id", f"{tenant_id}-user", "--application-id", "stack-set",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _assert_isolated(
    rollout: Rollout, records: Counter[str], offboarded: dict[str, str] | None = None
) -> None:
    """Each record in its tenant's account, none in the operations account, roles isolated."""
    registry = rollout.registry
    placement, found = check_records_in_own_accounts(
        rollout.accounts, {**TENANTS, "delta": DELTA}, [OPS, *TENANTS.values(), DELTA], REGION
    )
    assert placement.passed, placement.reason
    assert found == +records
    ops_logs = check_ops_account_holds_no_logs(rollout.accounts, registry)  # type: ignore[arg-type]
    assert ops_logs.passed, ops_logs.reason
    roles = check_tenant_roles_isolated(rollout.accounts, list(registry.resolved_tenants()))
    assert roles.passed, roles.reason
    for account in (offboarded or {}).values():
        assert account not in {t.account_id for t in registry.resolved_tenants()}
