"""app.py end to end: the example registry synthesizes; a bad one fails cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_REGISTRY, ROOT


def _run_app(tmp_path: Path, registry: Path, **context: object) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # What the CDK CLI passes to the app; bundling off keeps this test fast.
        "CDK_CONTEXT_JSON": json.dumps(
            {"registry": str(registry), "aws:cdk:bundling-stacks": [], **context}
        ),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_example_registry_synthesizes_one_template_per_account(tmp_path: Path) -> None:
    result = _run_app(tmp_path, EXAMPLE_REGISTRY)
    assert result.returncode == 0, result.stderr
    templates = sorted(p.name for p in (tmp_path / "cdk.out").glob("*.template.json"))
    assert templates == [
        "BedrockCustomer-acme.template.json",
        "BedrockCustomer-globex.template.json",
        "BedrockOperations.template.json",
    ]
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    envs = {k: v["environment"] for k, v in manifest["artifacts"].items() if "environment" in v}
    assert envs == {
        "BedrockOperations": "aws://111111111111/us-east-1",
        "BedrockCustomer-acme": "aws://222222222222/us-east-1",
        "BedrockCustomer-globex": "aws://333333333333/us-west-2",
    }
    assert "end-of-life" not in result.stderr


def test_bad_registry_prints_one_clean_line_per_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "tenants.yaml"
    text = EXAMPLE_REGISTRY.read_text()
    bad.write_text(
        text.replace('account_id: "333333333333"', 'account_id: "3333"').replace(
            "region: us-west-2", "region: mars-west-2", 1
        )
    )
    result = _run_app(tmp_path, bad)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {bad}: tenants[1].account_id: must be 12 digits",
        f"error: {bad}: tenants[1].region: 'mars-west-2' is not an AWS region name (like us-east-1)",
    ]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdk.out").exists() or not list((tmp_path / "cdk.out").glob("*.json"))


def test_unknown_lambda_platform_is_refused(tmp_path: Path) -> None:
    result = _run_app(tmp_path, EXAMPLE_REGISTRY, lambda_platform="docker")
    assert result.returncode == 2
    assert "error: context lambda_platform: must be one of aws, host" in result.stderr
