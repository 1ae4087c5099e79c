"""The invoker role and its policy, pinned to the template CDK's L2 ``Role`` and ``Policy`` wrote.

``BedrockInvokerRole`` builds the L1 resources itself (fewer jsii round trips
per tenant); a deployed stack must see no change from that: the same logical
ids, construct paths, properties and key order. The golden file holds the
every-feature registry's invoker resources and outputs as the L2 constructs
synthesized them (application profiles, a cost centre, an existing and a
created guardrail, service tiers, and a workload role the trust admits). One
statement came after the L1 move, so no L2 wrote it: geo's short-term API key
opt-in (``UseShortTermApiKeys``), added to the golden file with its own test
(``test_no_unmetered_path.py``); worldwide, not opted in, kept every byte.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app import build_app
from contracts.registry import TenantRegistry, parse_registry
from tests.infra.conftest import NO_BUNDLING
from tests.infra.security_registries import WIDE_REGISTRY

GOLDEN = Path(__file__).parent / "golden" / "invoker_roles_wide.json"


def _operations_template(registry: TenantRegistry, **context: Any) -> dict[str, Any]:
    app = build_app(registry, context={**NO_BUNDLING, **context})
    template: dict[str, Any] = app.synth().get_stack_by_name("BedrockOperations").template
    return template


@pytest.fixture(scope="module")
def wide_template() -> dict[str, Any]:
    return _operations_template(parse_registry(WIDE_REGISTRY))


def test_invoker_roles_and_policies_are_the_templates_the_l2_constructs_wrote(
    wide_template: dict[str, Any],
) -> None:
    golden = json.loads(GOLDEN.read_text())
    resources = {k: v for k, v in wide_template["Resources"].items() if k.startswith("Invoker")}
    outputs = {k: v for k, v in wide_template["Outputs"].items() if k.startswith("InvokerRoleArn")}
    # Compared as text: key order is part of the template's bytes.
    assert json.dumps(resources, indent=1) == json.dumps(golden["resources"], indent=1)
    assert json.dumps(outputs, indent=1) == json.dumps(golden["outputs"], indent=1)


def test_invoker_resources_keep_the_l2_construct_paths() -> None:
    template = _operations_template(
        parse_registry(WIDE_REGISTRY), **{"aws:cdk:enable-path-metadata": True}
    )
    paths = {
        logical: resource["Metadata"]["aws:cdk:path"]
        for logical, resource in template["Resources"].items()
        if logical.startswith("Invoker")
    }
    assert paths == {
        "InvokergeoRoleEF53DB17": "BedrockOperations/Invoker-geo/Role/Resource",
        "InvokergeoModelAccess836CE6EE": "BedrockOperations/Invoker-geo/ModelAccess/Resource",
        "InvokerworldwideRole69E47AAD": "BedrockOperations/Invoker-worldwide/Role/Resource",
        "InvokerworldwideModelAccess7B0A8B0F": (
            "BedrockOperations/Invoker-worldwide/ModelAccess/Resource"
        ),
    }


def test_trust_names_the_partition_by_reference_where_cdk_does_not_know_the_region() -> None:
    data = copy.deepcopy(WIDE_REGISTRY)
    # A well-formed region CDK has no facts for (one launched after this CDK release).
    data["operations"] = {"account_id": "111111111111", "region": "xx-east-9"}
    data["tenants"] = [
        {**t, "models": ["anthropic.claude-3-haiku-20240307-v1:0"]}
        for t in data["tenants"]
        if t["id"] == "geo"
    ]
    del data["tenants"][0]["application_inference_profiles"]
    template = _operations_template(parse_registry(data))
    role = template["Resources"]["InvokergeoRoleEF53DB17"]
    principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {
        "AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::222222222222:root"]]}
    }
