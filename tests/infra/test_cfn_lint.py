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
