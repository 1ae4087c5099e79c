"""Onboard/offboard change exactly the stacks they should (in-process synth, bundling off)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.registry import load_registry
from tests.conftest import ROOT
from tests.support.cli_fixtures import Cli

NO_BUNDLING: dict[str, Any] = {
    **json.loads((ROOT / "cdk.json").read_text())["context"],
    "aws:cdk:bundling-stacks": [],
}


def _templates(registry_path: Path) -> dict[str, dict[str, Any]]:
    from app import build_app

    assembly = build_app(load_registry(registry_path), context=NO_BUNDLING).synth()
    return {s.stack_name: s.template for s in assembly.stacks}


def _role_names(template: dict[str, Any]) -> set[str]:
    return {
        r["Properties"].get("RoleName")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Role"
    }


def test_onboard_then_offboard_adds_and_removes_only_that_tenant(
    cli: Cli, registry_path: Path
) -> None:
    before = _templates(registry_path)

    result = cli("onboard", "initech", "--account", "444444444444", "--region", "eu-west-1")
    assert result.exit_code == 0, result.output
    onboarded = _templates(registry_path)

    assert set(onboarded) == set(before) | {"BedrockCustomer-initech"}
    assert "bedrock-invoker-initech" in _role_names(onboarded["BedrockOperations"])
    customer = onboarded["BedrockCustomer-initech"]
    functions = [r for r in customer["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert any(f["Properties"].get("FunctionName") == "bedrock-invoker-initech" for f in functions)
    for name in ("BedrockCustomer-acme", "BedrockCustomer-globex"):
        assert onboarded[name] == before[name]

    assert cli("offboard", "initech", "--yes").exit_code == 0
    offboarded = _templates(registry_path)

    assert set(offboarded) == set(before)
    assert "bedrock-invoker-initech" not in _role_names(offboarded["BedrockOperations"])
    # Every other template, and so every logical id, is exactly as before.
    assert offboarded == before
