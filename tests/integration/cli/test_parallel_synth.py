"""A parallel synth merges into one cloud assembly the CDK CLI reads, byte for byte.

The real CDK CLI synthesizes a small registry (two operations accounts, two
shards, a limited tenant) once whole and once in two groups merged by
``tenantctl.cloud_assembly``: every template and asset manifest is the same
bytes, ``cdk ls --app <merged>`` lists every stack and ``cdk synth --app
<merged> STACK`` reads one back, and ``cdk deploy --app <merged>`` deploys a tenant
whose customer stack came from the second part, with its operations shard from the
first, into the embedded cloud. Bundling is the host's, as for the embedded cloud.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from contracts.registry import load_registry
from embedded_aws import EmbeddedCloud
from tenantctl import fleet, synth
from tenantctl.cdk_runner import PROJECT_ROOT, cli_environment, run_cdk
from tests.support.sharded_registry import write_sharded_registry

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("parallel-synth")]


class _Host:
    """The CloudEnv of a synth only: the host's platform, no account."""

    cdk_context: Mapping[str, str] = {"lambda_platform": "host"}

    def env(self, account_id: str, region: str | None = None) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[list[str]]]:
    root = tmp_path_factory.mktemp("parallel")
    registry_path = write_sharded_registry(root / "tenants.yaml")
    registry = load_registry(registry_path)
    targets = fleet.plan(registry)
    groups = synth.split_groups(
        [t.stack.stack_name for t in targets if t.is_operations],
        [t.stack.stack_name for t in targets if not t.is_operations],
        2,
    )
    context = {"registry": str(registry_path)}
    whole, merged = root / "whole", root / "merged"
    synth.synthesize(_Host(), whole, context=context)
    synth.synthesize(
        _Host(),
        merged,
        context=context,
        stacks=[n for g in groups for n in g],
        groups=groups,
    )
    return whole, merged, groups


def _stacks(assembly: Path) -> list[str]:
    manifest = json.loads((assembly / "manifest.json").read_text())
    return sorted(
        k for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"
    )


def test_the_merged_assembly_holds_the_whole_synths_bytes(
    assemblies: tuple[Path, Path, list[list[str]]],
) -> None:
    whole, merged, groups = assemblies
    assert len(groups) == 2 and all(groups)
    assert _stacks(merged) == _stacks(whole) and len(_stacks(whole)) == 9
    for name in _stacks(whole):
        for suffix in ("template.json", "assets.json"):
            assert (merged / f"{name}.{suffix}").read_bytes() == (
                whole / f"{name}.{suffix}"
            ).read_bytes(), f"{name}.{suffix}"
    # Each bundled function once, the same asset directories as the whole synth.
    assert sorted(p.name for p in merged.glob("asset.*")) == sorted(
        p.name for p in whole.glob("asset.*")
    )


def test_the_cdk_cli_lists_and_reads_the_merged_assembly(
    assemblies: tuple[Path, Path, list[list[str]]],
) -> None:
    whole, merged, _ = assemblies
    env = cli_environment({})
    listed = run_cdk(["ls", "--app", str(merged)], env=env, cwd=PROJECT_ROOT)
    assert sorted(line.strip() for line in listed if line.strip().startswith("Bedrock")) == (
        _stacks(whole)
    )
    shown = run_cdk(
        ["synth", "--app", str(merged), "BedrockCustomer-ee", "--json"],
        env=env,
        cwd=PROJECT_ROOT,
    )
    template = json.loads("\n".join(shown[shown.index("{") :]))
    expected = json.loads((whole / "BedrockCustomer-ee.template.json").read_text())
    # The CLI shows a template without CDK's bootstrap-version rule; the rest is the file.
    assert template == {k: v for k, v in expected.items() if k != "Rules"}


def test_a_tenant_deploys_from_the_merged_assembly(
    assemblies: tuple[Path, Path, list[list[str]]],
) -> None:
    _, merged, groups = assemblies
    registry = load_registry(merged.parent / "tenants.yaml")
    # dd's customer stack is in the second part, its shard (BedrockOperations) in the first.
    targets = fleet.plan(registry, ["dd"])
    names = [t.stack.stack_name for t in targets]
    assert names == ["BedrockOperations", "BedrockCustomer-dd"]
    assert names[0] in groups[0] and names[1] in groups[1]
    accounts = sorted({t.stack.account_id for t in targets})
    with EmbeddedCloud(accounts=accounts, warm_lambdas=False) as cloud:
        report = fleet.deploy(cloud, targets, merged, concurrency=2)
        assert [r.status for r in report.results] == ["deployed", "deployed"], [
            r.error for r in report.results
        ]
        for target in targets:
            stack = cloud.client("cloudformation", target.stack.account_id).describe_stacks(
                StackName=target.stack.stack_name
            )["Stacks"][0]
            assert stack["StackStatus"] == "CREATE_COMPLETE"
