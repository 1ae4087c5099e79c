"""The fleet's plan, its --changed comparison and the memory of deployed stacks (no cloud)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts.registry import parse_registry
from tenantctl import fleet, synth
from tenantctl.cdk_runner import StackTarget


def _registry() -> Any:
    return parse_registry(
        {
            "operations": {"account_id": "111111111111", "region": "us-east-1"},
            "additional_operations": [
                {"name": "eu", "account_id": "888888888888", "region": "eu-west-1"}
            ],
            "tenants": [
                {"id": "aa", "account_id": "200000000001", "region": "us-east-1",
                 "external_id": "a-ext", "shard": 0},
                {"id": "bb", "account_id": "200000000002", "region": "us-east-1",
                 "external_id": "b-ext", "shard": 1},
                {"id": "cc", "account_id": "200000000003", "region": "eu-west-1",
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
        "BedrockCustomer-aa",
        "BedrockCustomer-bb",
        "BedrockCustomer-cc",
    ]
    assert [t.operations_stack for t in targets[3:]] == [
        "BedrockOperations",
        "BedrockOperations-1",
        "BedrockOperations-eu",
    ]
    assert targets[2].stack == StackTarget("BedrockOperations-eu", "888888888888", "eu-west-1")


def test_plan_for_some_tenants_takes_only_the_operations_stacks_holding_their_roles() -> None:
    targets = fleet.plan(_registry(), ["cc", "bb", "cc"])
    assert [t.stack.stack_name for t in targets] == [
        "BedrockOperations-1",
        "BedrockOperations-eu",
        "BedrockCustomer-cc",
        "BedrockCustomer-bb",
    ]


def test_unchanged_means_the_deployed_template_is_the_synthesized_one() -> None:
    targets = fleet.plan(_registry(), ["aa"])
    synthesized = {
        "BedrockOperations": {"Resources": {"R": {"Type": "X", "Properties": {"a": 1, "b": 2}}}},
        "BedrockCustomer-aa": {"Resources": {"F": {"Type": "Y"}}},
    }
    deployed: dict[str, Any] = {
        # Same content, other key order: unchanged.
        "BedrockOperations": {"Resources": {"R": {"Properties": {"b": 2, "a": 1}, "Type": "X"}}},
        # Another asset hash in the code's key: changed.
        "BedrockCustomer-aa": {"Resources": {"F": {"Type": "Y", "Properties": {"k": "old"}}}},
    }
    assert fleet.unchanged(targets, synthesized, lambda t: deployed.get(t.stack_name)) == {
        "BedrockOperations"
    }
    # A stack that is not deployed at all is never unchanged.
    assert fleet.unchanged(targets, synthesized, lambda t: None) == set()


class _Cloud:
    """A CloudEnv: the embedded cloud at an endpoint, or AWS through a profile."""

    cdk_context: dict[str, str] = {}

    def __init__(self, **env: str) -> None:
        self._env = env

    def env(self, account_id: str, region: str | None = None) -> dict[str, str]:
        return {**self._env, "AWS_REGION": region or "us-east-1"}


def test_a_stack_counts_as_deployed_only_from_the_template_and_target_it_was_deployed_from(
    tmp_path: Path,
) -> None:
    targets = fleet.plan(_registry(), ["aa", "bb"])
    key = fleet.selection_key(tmp_path / "tenants.yaml", ["aa", "bb"])
    templates = {t.stack.stack_name: {"Resources": {"R": {"Type": "X"}}} for t in targets}
    embedded = _Cloud(AWS_ENDPOINT_URL="http://127.0.0.1:4566", AWS_ACCESS_KEY_ID="AKIAEMBEDDED1")
    origins = {t.stack.stack_name: fleet.StackOrigin.of(embedded, t, templates) for t in targets}
    memory = fleet.DeployMemory(tmp_path, key)
    for target, status in zip(targets, ["deployed", "failed", "deployed", "skipped"], strict=True):
        memory.record(fleet.StackResult(target, status), origins[target.stack.stack_name])

    # Written as each stack finished, and read back by the next run of the same selection.
    again = fleet.DeployMemory(tmp_path, key)
    deployed = [
        t.stack.stack_name
        for t in targets
        if again.deployed(t.stack.stack_name, origins[t.stack.stack_name])
    ]
    assert deployed == ["BedrockOperations", "BedrockCustomer-aa"]
    assert "AKIAEMBEDDED1" not in (tmp_path / fleet.STATE_FILE).read_text()
    # Another template, another cloud or another command: not deployed as far as it knows.
    ops = targets[0]
    changed = fleet.StackOrigin.of(embedded, ops, {"BedrockOperations": {"Resources": {}}})
    assert not again.deployed("BedrockOperations", changed)
    aws = fleet.StackOrigin.of(_Cloud(AWS_PROFILE="ops"), ops, templates)
    assert not again.deployed("BedrockOperations", aws)
    restarted = _Cloud(AWS_ENDPOINT_URL="http://127.0.0.1:4566", AWS_ACCESS_KEY_ID="AKIANEWKEY")
    assert not again.deployed("BedrockOperations", fleet.StackOrigin.of(restarted, ops, templates))
    other = fleet.DeployMemory(tmp_path, fleet.selection_key(tmp_path / "tenants.yaml", None))
    assert not other.deployed("BedrockOperations", origins["BedrockOperations"])
    assert not fleet.DeployMemory(tmp_path, key, fresh=True).deployed(
        "BedrockOperations", origins["BedrockOperations"]
    )

    # Once every stack is deployed from what was synthesized, the record is forgotten.
    for target in targets[1::2]:
        again.record(fleet.StackResult(target, "deployed"), origins[target.stack.stack_name])
    again.settle(origins)
    assert not (tmp_path / fleet.STATE_FILE).exists()


def test_a_tenants_synth_selects_only_its_stacks_and_a_small_fleet_synthesizes_whole() -> None:
    registry = _registry()
    one = fleet.synth_plan(registry, fleet.plan(registry, ["bb"]), whole_app=False)
    assert one.stacks == ["BedrockOperations-1", "BedrockCustomer-bb"]
    assert one.total == 6 and len(one.groups) == 1
    every = fleet.synth_plan(registry, fleet.plan(registry), whole_app=True, processes=2)
    assert every.stacks is None and len(every.groups) == 1


def test_a_large_selection_is_split_into_one_group_per_core_operations_stacks_first() -> None:
    operations = ["BedrockOperations", "BedrockOperations-1"]
    customers = [f"BedrockCustomer-t{i:03d}" for i in range(199)]
    groups = synth.parallel_groups(operations, customers, processes=2)
    assert [len(g) for g in groups] == [102, 99]
    assert groups[0][:2] == operations
    assert [name for group in groups for name in group] == [*operations, *customers]
    assert synth.parallel_groups(operations, customers, processes=1) == [[*operations, *customers]]
    assert len(synth.parallel_groups(operations, customers[:100], processes=2)) == 1
    # No more groups than customer stacks to share out.
    assert len(synth.split_groups(operations, customers[:3], 8)) == 3
