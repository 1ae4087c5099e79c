"""The customer side rolled out by StackSet, as the app synthesizes it.

- A registry with ``customer_stack_set`` synthesizes its operations shards and
  the StackSet template, and no customer stack.
- The template's ``CodeKey`` default is the key of the bundle its own assembly
  holds, so ``tenantctl stackset deploy`` uploads the zip where the template
  looks for it.
- The template and a tenant's ``CustomerStack`` have the same logical ids: the
  outage-free upgrade from per-account CDK stacks (ImportStacksToStackSet)
  depends on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app import build_app
from contracts.registry import TenantRegistry, parse_registry, parse_registry_yaml
from stacks.customer.customer_stack_set import STACK_SET_TEMPLATE_NAME
from tests.conftest import EXAMPLE_REGISTRY

NO_BUNDLING = {"aws:cdk:bundling-stacks": []}
# CDK names a function's current version after a hash of its configuration, so the
# version is replaced at every code or configuration change (the alias moves to the
# new one in the same update): the one logical id that is not the same.
VERSION_PREFIX = "InvokerFunctionCurrentVersion"


def _example() -> dict[str, Any]:
    return parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stack_set_registry() -> TenantRegistry:
    data = _example()
    data["customer_stack_set"] = {
        "code_bucket": "org-bedrock-invoker-code",
        "organizational_unit_ids": ["ou-ab12-tenants01"],
    }
    return parse_registry(data)


@pytest.fixture(scope="module")
def assembly(stack_set_registry: TenantRegistry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stack-set-assembly")
    build_app(stack_set_registry, context=NO_BUNDLING, outdir=str(out)).synth()
    return out


def _template(assembly: Path, stack: str) -> dict[str, Any]:
    return dict(json.loads((assembly / f"{stack}.template.json").read_text(encoding="utf-8")))


def test_a_stack_set_registry_synthesizes_the_operations_shards_and_the_template_only(
    assembly: Path,
) -> None:
    manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    stacks = {
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }

    assert stacks == {"BedrockOperations", STACK_SET_TEMPLATE_NAME}


def test_the_code_key_default_is_the_key_of_the_bundle_in_the_assembly(assembly: Path) -> None:
    template = _template(assembly, STACK_SET_TEMPLATE_NAME)
    assets = json.loads(
        (assembly / f"{STACK_SET_TEMPLATE_NAME}.assets.json").read_text(encoding="utf-8")
    )
    bundles = [
        f"{asset_hash}.zip"
        for asset_hash, asset in assets["files"].items()
        if asset["source"]["packaging"] == "zip"
    ]

    assert bundles == [template["Parameters"]["CodeKey"]["Default"]]


def test_the_template_and_a_tenants_customer_stack_have_the_same_logical_ids(
    tmp_path: Path,
) -> None:
    registry = parse_registry(_example())
    build_app(registry, context=NO_BUNDLING, outdir=str(tmp_path), customer_stack_set=True).synth()
    stack_set = _template(tmp_path, STACK_SET_TEMPLATE_NAME)["Resources"]

    for tenant in registry.resolved_tenants():
        customer = _template(tmp_path, tenant.stack_name)["Resources"]

        def kinds(resources: dict[str, Any]) -> dict[str, str]:
            return {
                VERSION_PREFIX if name.startswith(VERSION_PREFIX) else name: r["Type"]
                for name, r in resources.items()
            }

        assert kinds(customer) == kinds(stack_set), tenant.id
        stateful = [n for n, r in customer.items() if r.get("DeletionPolicy") == "Retain"]
        assert stateful and all(n in stack_set for n in stateful), tenant.id
