"""`tenantctl validate --fix-placement`: a registry written by hand gets every tenant's place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from contracts.registry import load_registry
from tests.support.cli_fixtures import Cli

HEADER = "# Generated from the platform team's inventory.\n"


def _tenant(i: int, **placement: Any) -> dict[str, Any]:
    return {
        "id": f"t{i:04d}",
        "account_id": f"{300000000000 + i}",
        "region": "us-east-1",
        "external_id": f"t{i:04d}-external",
        **placement,
    }


def _registry(path: Path, tenants: list[dict[str, Any]], **operations: Any) -> Cli:
    data: dict[str, Any] = {
        "operations": {"account_id": "111111111111", "region": "us-east-1", **operations},
        "tenants": tenants,
    }
    with path.open("w") as file:
        file.write(HEADER)
        YAML().dump(data, file)
    return Cli(path)


def test_a_generated_registry_without_shards_becomes_valid_in_one_command(
    tmp_path: Path,
) -> None:
    cli = _registry(tmp_path / "tenants.yaml", [_tenant(i) for i in range(800)])
    assert cli("validate").exit_code == 2  # the 151st is over shard 0

    result = cli("validate", "--fix-placement")

    assert result.exit_code == 0, result.output
    assert cli.registry.read_text().startswith(HEADER)  # a comment survives
    registry = load_registry(cli.registry)
    shards = registry.shards()
    assert [len(tenants) for tenants in shards.values()] == [150] * 5 + [50]
    # The first 150, in registry order, keep shard 0 where they are.
    assert [t.id for t in shards[0]] == [f"t{i:04d}" for i in range(150)]
    assert all(spec.shard is not None for spec in registry.tenants)
    assert "recorded the placement of 800 tenants" in result.stdout
    assert "150 keep shard 0 where they are, 650 placed where there is room" in result.stdout
    assert f"{cli.registry}: valid (800 tenants)" in result.stdout


def test_recorded_shards_stay_and_the_rest_fill_the_room_left(tmp_path: Path) -> None:
    tenants = [_tenant(i) for i in range(5)]
    tenants[1]["shard"] = 1  # recorded: stays, though shard 0 has room
    tenants.insert(0, _tenant(9, shard=0))  # recorded in shard 0: takes one of its 3
    cli = _registry(tmp_path / "tenants.yaml", tenants, shard_capacity=3)

    assert cli("validate", "--fix-placement").exit_code == 0

    registry = load_registry(cli.registry)
    placed = {t.id: t.shard for t in registry.resolved_tenants()}
    assert placed == {
        "t0009": 0,
        "t0000": 0,
        "t0001": 1,
        "t0002": 0,  # the last room in shard 0
        "t0003": 1,  # shard 1 has t0001 and room for two
        "t0004": 1,
    }


def test_a_shard_recorded_over_capacity_is_refused_naming_the_tenant(tmp_path: Path) -> None:
    tenants = [_tenant(i, shard=2) for i in range(3)] + [_tenant(3)]
    cli = _registry(tmp_path / "tenants.yaml", tenants, shard_capacity=2)
    before = cli.registry.read_bytes()

    result = cli("validate", "--fix-placement")

    assert result.exit_code == 2
    assert cli.registry.read_bytes() == before
    [line] = result.stderr.splitlines()
    assert line.startswith(
        "error: tenants[2].shard: tenant 't0002' has shard 2 recorded, and with it the tenants "
        "recorded in operations stack BedrockOperations-2 (shard 2) take 3 slots, over "
        "operations.shard_capacity 2; a recorded placement is not moved"
    ), line


def test_an_account_over_its_role_quota_by_recorded_tenants_is_refused(tmp_path: Path) -> None:
    tenants = [_tenant(i, shard=0) for i in range(3)] + [_tenant(3)]
    cli = _registry(tmp_path / "tenants.yaml", tenants, iam_role_quota=3)
    before = cli.registry.read_bytes()

    result = cli("validate", "--fix-placement")

    assert result.exit_code == 2
    assert cli.registry.read_bytes() == before
    assert result.stderr == (
        "error: tenants: the tenants with a recorded shard alone take 4 IAM roles (3 invoker "
        "roles and 1 guard roles) of account 111111111111, over operations.iam_role_quota 3; a "
        "recorded placement is not moved: raise the quota (up to 5,000)\n"
    )


def test_tenants_past_the_first_accounts_quota_go_to_the_next_account(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    _registry(path, [_tenant(i) for i in range(4)], iam_role_quota=3)
    data = YAML().load(path)
    data["additional_operations"] = [
        {"name": "eu", "account_id": "888888888888", "region": "us-east-1"}
    ]
    YAML().dump(data, path)
    cli = Cli(path)

    result = cli("validate", "--fix-placement")

    assert result.exit_code == 0, result.output
    registry = load_registry(path)
    # 2 invokers + 1 guard fill the first account; the others are recorded in "eu".
    assert [(t.operations_account, t.shard) for t in registry.resolved_tenants()] == [
        ("primary", 0),
        ("primary", 0),
        ("eu", 0),
        ("eu", 0),
    ]
    assert [spec.operations_account for spec in registry.tenants] == [None, None, "eu", "eu"]
    assert "  t0002: eu/0" in result.stdout.splitlines()


def test_a_registry_with_every_placement_recorded_is_left_alone(registry_path: Path) -> None:
    cli = Cli(registry_path)
    assert cli("validate", "--fix-placement").exit_code == 0  # records shard 0 for both
    after_first = registry_path.read_bytes()

    result = cli("validate", "--fix-placement")

    assert result.exit_code == 0, result.output
    assert "every tenant has a recorded placement: nothing changed" in result.stdout
    assert registry_path.read_bytes() == after_first


def test_fix_placement_still_reports_what_it_cannot_fix(tmp_path: Path) -> None:
    tenants = [_tenant(i) for i in range(3)]
    tenants[2]["region"] = "nowhere"
    cli = _registry(tmp_path / "tenants.yaml", tenants)
    before = cli.registry.read_bytes()

    result = cli("validate", "--fix-placement")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: tenants[2].region: ")
    assert cli.registry.read_bytes() == before
