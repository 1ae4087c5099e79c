"""Synthesized templates of the example registry, built once per module, bundling off."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import build_app
from contracts.registry import TenantRegistry, load_registry
from tests.conftest import EXAMPLE_REGISTRY, ROOT

# The same feature flags as `cdk synth`, so tests see what the CLI deploys.
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
NO_BUNDLING: dict[str, Any] = {**CDK_JSON_CONTEXT, "aws:cdk:bundling-stacks": []}


def synth_templates(registry: TenantRegistry) -> dict[str, Template]:
    """Every stack's template, by stack name."""
    app = build_app(registry, context=NO_BUNDLING)
    assembly = app.synth()
    return {s.stack_name: Template.from_json(s.template) for s in assembly.stacks}


@pytest.fixture(scope="module")
def registry() -> TenantRegistry:
    return load_registry(EXAMPLE_REGISTRY)


@pytest.fixture(scope="module")
def templates(registry: TenantRegistry) -> dict[str, Template]:
    return synth_templates(registry)
