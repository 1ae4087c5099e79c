"""``stackset sync``'s plan: which instances to create, update and delete, from the registry."""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from contracts.registry import TenantRegistry, parse_registry, parse_registry_yaml
from tenantctl import fleet
from tenantctl.stackset import (
    TEMPLATE_BODY_MAX_BYTES,
    DeployedInstance,
    plan_sync,
    template_source,
    wanted_instances,
    zip_directory,
)
from tests.conftest import EXAMPLE_REGISTRY
from tests.support.cli_fixtures import Cli

ACME, GLOBEX, GONE = "222222222222", "333333333333", "444444444444"
OU = "ou-ab12-tenants01"


@pytest.fixture
def registry() -> TenantRegistry:
    data: dict[str, Any] = parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    data["customer_stack_set"] = {
        "code_bucket": "org-code",
        "organizational_unit_ids": ["ou-ab12-tenants01"],
    }
    return parse_registry(data)


def _deployed(registry: TenantRegistry, **changes: Any) -> list[DeployedInstance]:
    """Every tenant's instance as the registry wants it, then ``changes`` per account."""
    return [
        DeployedInstance(
            **{
                "account_id": w.account_id,
                "region": w.region,
                "status": "CURRENT",
                "detailed_status": "SUCCEEDED",
                "overrides": dict(w.overrides),
                **changes.get(w.account_id, {}),
            }
        )
        for w in wanted_instances(registry)
    ]


def test_every_tenant_without_an_instance_gets_one_with_its_own_parameters(
    registry: TenantRegistry,
) -> None:
    plan = plan_sync(wanted_instances(registry), [])

    assert [(c.action, c.tenant_id, c.account_id, c.region) for c in plan.changes] == [
        ("create", "acme", ACME, "us-east-1"),
        ("create", "globex", GLOBEX, "us-west-2"),
    ]
    globex = plan.changes[1].overrides or {}
    assert globex["TenantId"] == "globex"
    assert globex["LogRetentionDays"] == "365"
    assert globex["CodeBucket"] == "org-code"


def test_instances_that_match_the_registry_are_left_alone(registry: TenantRegistry) -> None:
    plan = plan_sync(wanted_instances(registry), _deployed(registry))

    assert plan.changes == []
    assert plan.unchanged == 2


def test_an_instance_whose_parameters_differ_is_updated_naming_them(
    registry: TenantRegistry,
) -> None:
    deployed = _deployed(registry)
    stale = deployed[1]
    deployed[1] = DeployedInstance(
        stale.account_id,
        stale.region,
        "CURRENT",
        "SUCCEEDED",
        overrides={**stale.overrides, "LogContent": "full", "LogRetentionDays": "30"},
    )

    plan = plan_sync(wanted_instances(registry), deployed)

    [change] = plan.changes
    assert (change.action, change.tenant_id) == ("update", "globex")
    assert change.why == "parameters differ: LogContent, LogRetentionDays"
    assert (change.overrides or {})["LogContent"] == "redacted"


def test_a_failed_instance_is_retried_with_its_reason(registry: TenantRegistry) -> None:
    failed = {
        "status": "OUTDATED",
        "detailed_status": "FAILED",
        "reason": "ResourceLogicalId:UsageLogGroup, already exists",
    }
    deployed = _deployed(registry, **{ACME: failed})

    plan = plan_sync(wanted_instances(registry), deployed)

    [change] = plan.changes
    assert (change.action, change.tenant_id) == ("update", "acme")
    assert "OUTDATED (FAILED): ResourceLogicalId:UsageLogGroup, already exists" in change.why


def test_the_instance_of_an_account_no_tenant_has_is_deleted(registry: TenantRegistry) -> None:
    deployed = [*_deployed(registry), DeployedInstance(GONE, "eu-west-1", "CURRENT", "SUCCEEDED")]

    plan = plan_sync(wanted_instances(registry), deployed)

    assert [(c.action, c.account_id, c.region) for c in plan.changes] == [
        ("delete", GONE, "eu-west-1")
    ]


def test_a_departing_tenants_instance_is_deleted_and_the_scope_leaves_the_others(
    registry: TenantRegistry,
) -> None:
    deployed = [*_deployed(registry), DeployedInstance(GONE, "eu-west-1", "CURRENT", "SUCCEEDED")]

    plan = plan_sync(wanted_instances(registry, departing=["globex"]), deployed, accounts=[GLOBEX])

    assert [(c.action, c.account_id) for c in plan.changes] == [("delete", GLOBEX)]
    assert plan.unchanged == 0


def test_a_scoped_sync_creates_only_the_new_tenants_instance(registry: TenantRegistry) -> None:
    plan = plan_sync(wanted_instances(registry), [], accounts=[ACME])

    assert [(c.action, c.tenant_id) for c in plan.changes] == [("create", "acme")]


def test_a_template_past_the_body_limit_goes_by_url_in_the_code_bucket() -> None:
    small, _ = template_source("{}", "org-code", "eu-west-1")
    body = "x" * (TEMPLATE_BODY_MAX_BYTES + 1)
    large, key = template_source(body, "org-code", "eu-west-1")

    assert small == {"TemplateBody": "{}"}
    assert key is not None and key.startswith("templates/")
    assert large == {"TemplateURL": f"https://org-code.s3.eu-west-1.amazonaws.com/{key}"}


def test_the_same_bundle_zips_to_the_same_bytes(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "handler.py").write_text("def lambda_handler(e, c):\n    return 1\n")
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")

    first = zip_directory(tmp_path)
    (tmp_path / "handler.py").touch()  # a new mtime changes nothing

    assert zip_directory(tmp_path) == first
    assert zipfile.ZipFile(BytesIO(first)).namelist() == ["handler.py", "pkg/mod.py"]


def test_the_fleet_deploys_no_customer_stack_of_a_stack_set_registry(
    registry: TenantRegistry,
) -> None:
    everything = fleet.plan(registry)
    one = fleet.plan(registry, ["globex"])

    assert [t.stack.stack_name for t in everything] == ["BedrockOperations"]
    assert [t.stack.stack_name for t in one] == ["BedrockOperations"]


def test_sync_before_the_stack_set_exists_says_to_deploy_it_first(
    cli: Cli, registry_path: Path, acme_account: None
) -> None:
    data = parse_registry_yaml(registry_path.read_text(encoding="utf-8"))
    data["customer_stack_set"] = {"code_bucket": "org-code", "organizational_unit_ids": [OU]}
    YAML().dump(data, registry_path)

    result = cli("stackset", "sync")

    assert result.exit_code == 1, result.output
    assert "StackSet BedrockCustomerStackSet does not exist in account 111111111111" in (
        result.stderr
    )
    assert "run tenantctl stackset deploy first" in result.stderr


def test_stackset_commands_refuse_a_registry_without_the_block(cli: Cli) -> None:
    result = cli("stackset", "sync", "--dry-run")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: customer_stack_set: the registry has no")
