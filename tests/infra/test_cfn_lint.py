"""cfn-lint over every synthesized template: zero errors, zero warnings."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts.registry import TenantRegistry, load_registry
from tests.conftest import EXAMPLE_REGISTRY
from tests.infra.conftest import synth_templates
from tests.infra.security_registries import wide_registry

REGISTRIES: dict[str, Callable[[], TenantRegistry]] = {
    "example": lambda: load_registry(EXAMPLE_REGISTRY),
    # Every optional resource and statement the stacks can emit.
    "wide": wide_registry,
}


@pytest.mark.parametrize("registry_name", sorted(REGISTRIES))
def test_every_template_passes_cfn_lint(registry_name: str, tmp_path: Path) -> None:
    paths = []
    for name, template in synth_templates(REGISTRIES[registry_name]()).items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(template.to_json()))
        paths.append(str(path))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *paths],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.stdout == "" and result.returncode == 0, result.stdout + result.stderr


def _lint(
    templates: dict[str, dict[str, object]], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    paths = []
    for name, template in templates.items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(template))
        paths.append(str(path))
    return subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *paths],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_customer_stack_set_template_passes_cfn_lint(tmp_path: Path) -> None:
    from app import build_app
    from stacks.customer.customer_stack_set import STACK_SET_TEMPLATE_NAME

    app = build_app(
        load_registry(EXAMPLE_REGISTRY),
        context={"aws:cdk:bundling-stacks": []},
        customer_stack_set=True,
    )
    template = app.synth().get_stack_by_name(STACK_SET_TEMPLATE_NAME).template
    result = _lint({STACK_SET_TEMPLATE_NAME: template}, tmp_path)
    assert result.stdout == "" and result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_a_sample_of_a_1000_tenant_fleet_passes_cfn_lint(tmp_path: Path) -> None:
    from app import build_app
    from contracts.registry import parse_registry
    from tests.infra.test_scale import fleet

    assembly = build_app(
        parse_registry(fleet(1000)), context={"aws:cdk:bundling-stacks": []}
    ).synth()
    sample = [
        "BedrockOperations",
        "BedrockOperations-3",
        "BedrockOperations-6",
        "BedrockCustomer-tenant-00000",
        "BedrockCustomer-tenant-00500",
        "BedrockCustomer-tenant-00999",
    ]
    templates = {name: assembly.get_stack_by_name(name).template for name in sample}
    assert len(assembly.stacks) == 1007
    result = _lint(templates, tmp_path)
    assert result.stdout == "" and result.returncode == 0, result.stdout + result.stderr
