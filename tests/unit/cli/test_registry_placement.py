"""Where onboard puts a tenant, and what update says when a change no longer fits its shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from contracts.registry import load_registry
from tests.support.cli_fixtures import Cli

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
OPUS = "anthropic.claude-3-opus-20240229-v1:0"


def _tenant(i: int, shard: int, **settings: Any) -> dict[str, Any]:
    return {
        "id": f"p{i}",
        "account_id": f"{200000000000 + i}",
        "region": "us-east-1",
        "external_id": f"p{i}-external",
        "shard": shard,
        **settings,
    }


def _write(
    path: Path, tenants: list[dict[str, Any]], capacity: int, *, profiles: bool = True
) -> None:
    """A registry with profiles on by default: a tenant takes 1 slot + 1 per model."""
    YAML().dump(
        {
            "operations": {
                "account_id": "111111111111",
                "region": "us-east-1",
                "shard_capacity": capacity,
            },
            "defaults": {"models": [HAIKU], "application_inference_profiles": profiles},
            "tenants": tenants,
        },
        path,
    )


@pytest.fixture
def placed(tmp_path: Path) -> Cli:
    """Shard 0 holds 4 of 6 slots (room for a default 2-slot tenant), shard 1 holds 2."""
    path = tmp_path / "tenants.yaml"
    _write(path, [_tenant(0, 0), _tenant(1, 0), _tenant(2, 1)], capacity=6)
    return Cli(path)


def test_onboard_places_a_tenant_by_its_own_models_not_the_defaults(placed: Cli) -> None:
    # Three models with profiles on: 4 slots, which shard 0 (4 of 6 used) cannot take.
    result = placed("onboard", "--tenant", "big", "--account", "444444444444",
                    "--region", "us-east-1", "--models", HAIKU, "--models", SONNET,
                    "--models", OPUS)  # fmt: skip

    assert result.exit_code == 0, result.output
    registry = load_registry(placed.registry)
    assert registry.tenant("big").shard == 1
    assert registry.tenant("big").operations_stack_name == "BedrockOperations-1"


def test_onboard_places_a_tenant_turning_profiles_on_by_its_own_slots(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    # Profiles off by default: one slot each. Shard 0 has 3 of 4 used, shard 1 has 1.
    tenants = [_tenant(0, 0), _tenant(1, 0), _tenant(2, 0), _tenant(3, 1)]
    _write(path, tenants, capacity=4, profiles=False)

    # Its own profiles for two models: 3 slots, which only shard 1 has.
    result = Cli(path)("onboard", "--tenant", "tagged", "--account", "444444444444",
                       "--region", "us-east-1", "--inference-profiles",
                       "--models", HAIKU, "--models", SONNET)  # fmt: skip

    assert result.exit_code == 0, result.output
    assert load_registry(path).tenant("tagged").shard == 1


def test_onboard_of_a_default_tenant_still_fills_the_lowest_shard_with_room(placed: Cli) -> None:
    result = placed("onboard", "--tenant", "small", "--account", "444444444444",
                    "--region", "us-east-1")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert load_registry(placed.registry).tenant("small").shard == 0


def test_onboard_turning_off_profiles_for_itself_fits_a_shard_the_defaults_would_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tenants.yaml"
    _write(path, [_tenant(0, 0), _tenant(1, 0)], capacity=5)  # 4 of 5 used
    result = Cli(path)("onboard", "--tenant", "lean", "--account", "444444444444",
                       "--region", "us-east-1", "--no-inference-profiles")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert load_registry(path).tenant("lean").shard == 0  # 1 slot: shard 0 has it


# --- update --------------------------------------------------------------------------------


@pytest.fixture
def crowded(tmp_path: Path) -> Cli:
    """Shard 1: p2 (2 slots) before p3 and p4 (2 each), 6 of 7 slots used."""
    path = tmp_path / "tenants.yaml"
    tenants = [_tenant(0, 0), _tenant(1, 1), _tenant(2, 1), _tenant(3, 1)]
    tenants[1]["id"], tenants[2]["id"], tenants[3]["id"] = "p2", "p3", "p4"
    _write(path, tenants, capacity=7)
    return Cli(path)


def test_an_update_that_overflows_the_shard_names_that_tenant_and_option(crowded: Cli) -> None:
    before = crowded.registry.read_bytes()

    result = crowded("update", "--tenant", "p2", "--models", HAIKU, "--models", SONNET,
                     "--models", OPUS)  # fmt: skip

    assert result.exit_code == 2
    assert crowded.registry.read_bytes() == before
    [line] = result.stderr.splitlines()
    assert line.startswith(
        "error: --models: tenant 'p2' would take 4 slots in operations stack "
        "BedrockOperations-1 (shard 1), which has 3 free of shard_capacity 7; "
    ), line
    # What to do instead, never moving its shard (an outage).
    assert "fewer models" in line
    assert "raise operations.shard_capacity (up to 190)" in line
    assert "offboard and onboard it again" in line
    assert "p3" not in line and "p4" not in line  # not the bystanders after it


def test_an_update_turning_profiles_on_names_that_option(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    tenants = [
        _tenant(0, 0, application_inference_profiles=False, models=[HAIKU, SONNET, OPUS]),
        _tenant(1, 0),
    ]
    _write(path, tenants, capacity=4)  # 1 + 2 slots used

    result = Cli(path)("update", "--tenant", "p0", "--inference-profiles")

    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --inference-profiles: tenant 'p0' would take 4 slots in operations stack "
        "BedrockOperations (shard 0), which has 2 free of shard_capacity 4; "
    ), result.stderr


def test_an_update_that_still_fits_its_shard_is_written(crowded: Cli) -> None:
    result = crowded("update", "--tenant", "p2", "--models", HAIKU, "--models", SONNET)

    assert result.exit_code == 0, result.output
    assert load_registry(crowded.registry).tenant("p2").models == (HAIKU, SONNET)
