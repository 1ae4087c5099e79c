"""A targeted synth (context ``stacks``) writes the very bytes the full synth writes.

The registry has two operations accounts, two shards in the first and a limited
tenant in shard 1 that shard 0's limit enforcer holds: the selected operations
stack is shard 0, so the app must resolve the whole registry to build it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.infra.conftest import NO_BUNDLING
from tests.support.sharded_registry import write_sharded_registry

SELECTED = ("BedrockCustomer-aa", "BedrockOperations")


def _synth(registry: Path, out_dir: Path, **context: Any) -> Path:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**NO_BUNDLING, "registry": str(registry), **context}),
        "CDK_OUTDIR": str(out_dir),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out_dir


def _stacks(out_dir: Path) -> list[str]:
    manifest = json.loads((out_dir / "manifest.json").read_text())
    return sorted(
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    )


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("targeted")
    registry = write_sharded_registry(root / "tenants.yaml")
    full = _synth(registry, root / "full")
    targeted = _synth(registry, root / "targeted", stacks=",".join(SELECTED))
    return full, targeted


def test_customer_stacks_reference_no_operations_stack(assemblies: tuple[Path, Path]) -> None:
    """Else a customer stack alone could not be synthesized or deployed."""
    full, _ = assemblies
    manifest = json.loads((full / "manifest.json").read_text())
    for name in _stacks(full):
        if name.startswith("BedrockCustomer-"):
            text = (full / f"{name}.template.json").read_text()
            assert "Fn::ImportValue" not in text, name
            dependencies = manifest["artifacts"][name].get("dependencies", [])
            assert not [d for d in dependencies if d.startswith("BedrockOperations")], name


def test_targeted_synth_writes_only_the_selected_stacks_byte_for_byte(
    assemblies: tuple[Path, Path],
) -> None:
    full, targeted = assemblies
    assert len(_stacks(full)) == 9  # three operations stacks, six customer stacks
    assert _stacks(targeted) == sorted(SELECTED)
    assert sorted(p.name for p in targeted.glob("*.template.json")) == sorted(
        f"{name}.template.json" for name in SELECTED
    )
    for name in SELECTED:
        for suffix in ("template.json", "assets.json"):
            assert (targeted / f"{name}.{suffix}").read_bytes() == (
                full / f"{name}.{suffix}"
            ).read_bytes(), f"{name}.{suffix}"
