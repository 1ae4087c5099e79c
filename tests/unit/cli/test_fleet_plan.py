"""The fleet's plan, its --changed comparison and the memory of failed stacks (no cloud)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts.registry import parse_registry
from tenantctl import fleet
from tenantctl.cdk_runner import StackTarget


def _registry() -> Any:
    return parse_registry(
        {
            "operations": {"account_id": "111111111111", "region": "us-east-1"},
            "additional_operations": [
                {"name": "eu", "account_id": "888888888888", "region": "eu-west-1"}
            ],
            "tenants": [
                {"id": "a", "account_id": "200000000001", "region": "us-east-1",
                 "external_id": "a-ext", "shard": 0},
                {"id": "b", "account_id": "200000000002", "region": "us-east-1",
                 "external_id": "b-ext", "shard": 1},
                {"id": "c", "account_id": "200000000003", "region": "eu-west-1",
                 "external_id": "c-ext", "operations_account": "eu"},
            ],
        }
    )  # fmt: skip


def test_plan_puts_every_operations_stack_first_then_the_customer_stacks() -> None:
    targets = fleet.plan(_registry())
    assert [t.stack.stack_name for t in targets] == [
        "BedrockOperations",
        "BedrockOperations-1",
        "BedrockOperations-eu",
        "BedrockCustomer-a",
        "BedrockCustomer-b",
        "BedrockCustomer-c",
    ]
    assert [t.operations_stack for t in targets[3:]] == [
        "BedrockOperations",
        "BedrockOperations-1",
        "BedrockOperations-eu",
    ]
    assert targets[2].stack == StackTarget("BedrockOperations-eu", "888888888888", "eu-west-1")


def test_plan_for_some_tenants_takes_only_the_operations_stacks_holding_their_roles() -> None:
    targets = fleet.plan(_registry(), ["c", "b", "c"])
    assert [t.stack.stack_name for t in targets] == [
        "BedrockOperations-1",
        "BedrockOperations-eu",
        "BedrockCustomer-c",
        "BedrockCustomer-b",
    ]


def test_unchanged_means_the_deployed_template_is_the_synthesized_one() -> None:
    targets = fleet.plan(_registry(), ["a"])
    synthesized = {
        "BedrockOperations": {"Resources": {"R": {"Type": "X", "Properties": {"a": 1, "b": 2}}}},
        "BedrockCustomer-a": {"Resources": {"F": {"Type": "Y"}}},
    }
    deployed: dict[str, Any] = {
        # Same content, other key order: unchanged.
        "BedrockOperations": {"Resources": {"R": {"Properties": {"b": 2, "a": 1}, "Type": "X"}}},
        # Another asset hash in the code's key: changed.
        "BedrockCustomer-a": {"Resources": {"F": {"Type": "Y", "Properties": {"k": "old"}}}},
    }
    assert fleet.unchanged(targets, synthesized, lambda t: deployed.get(t.stack_name)) == {
        "BedrockOperations"
    }
    # A stack that is not deployed at all is never unchanged.
    assert fleet.unchanged(targets, synthesized, lambda t: None) == set()


def test_failures_are_remembered_per_selection_and_forgotten_after_a_clean_run(
    tmp_path: Path,
) -> None:
    targets = fleet.plan(_registry(), ["a", "b"])
    key = fleet.selection_key(tmp_path / "tenants.yaml", ["a", "b"])
    report = fleet.FleetReport(
        results=[
            fleet.StackResult(targets[0], "deployed"),
            fleet.StackResult(targets[1], "failed", error="boom"),
            fleet.StackResult(targets[2], "deployed"),
            fleet.StackResult(targets[3], "skipped", error="its operations stack failed"),
        ]
    )
    fleet.remember(tmp_path, key, report)
    assert fleet.remembered_failures(tmp_path, key) == [
        "BedrockOperations-1",
        "BedrockCustomer-b",
    ]
    # Another command (another selection) does not inherit them.
    other = fleet.selection_key(tmp_path / "tenants.yaml", None)
    assert fleet.remembered_failures(tmp_path, other) == []
    fleet.remember(
        tmp_path, key, fleet.FleetReport(results=[fleet.StackResult(targets[1], "deployed")])
    )
    assert fleet.remembered_failures(tmp_path, key) == []
    assert not (tmp_path / fleet.STATE_FILE).exists()
