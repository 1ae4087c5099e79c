"""Guardrails in the operations stack: one created from a tenant's definition, and the
account's enforced floor."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from contracts import naming
from contracts.registry import parse_registry
from tests.infra.conftest import synth_templates
from tests.infra.security_registries import WIDE_REGISTRY


@pytest.fixture(scope="module")
def ops() -> Template:
    return synth_templates(parse_registry(WIDE_REGISTRY))[naming.OPERATIONS_STACK_NAME]


def _one(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = template.find_resources(kind).items()
    return found


def test_a_tenants_definition_becomes_a_guardrail_a_version_and_its_parameter(
    ops: Template,
) -> None:
    guardrail, resource = _one(ops, "AWS::Bedrock::Guardrail")
    props = resource["Properties"]
    assert props["Name"] == naming.guardrail_name("worldwide")
    strengths = {
        (f["Type"], f["InputStrength"], f["OutputStrength"])
        for f in props["ContentPolicyConfig"]["FiltersConfig"]
    }
    assert ("HATE", "HIGH", "HIGH") in strengths
    assert ("PROMPT_ATTACK", "HIGH", "NONE") in strengths
    assert props["WordPolicyConfig"] == {"WordsConfig": [{"Text": "unobtainium"}]}
    version, _ = _one(ops, "AWS::Bedrock::GuardrailVersion")
    (parameter,) = ops.find_resources(
        "AWS::SSM::Parameter",
        {"Properties": {"Name": naming.guardrail_parameter_name("worldwide")}},
    ).values()
    # JSON {"arn", "version"} of exactly that guardrail and version (joined at deploy).
    assert parameter["Properties"]["Value"] == {
        "Fn::Join": [
            "",
            [
                '{"arn":"',
                {"Fn::GetAtt": [guardrail, "GuardrailArn"]},
                '","version":"',
                {"Fn::GetAtt": [version, "Version"]},
                '"}',
            ],
        ]
    }
    # The role is held to exactly that guardrail and version.
    pinned = {
        "Fn::Join": [
            "",
            [
                {"Fn::GetAtt": [guardrail, "GuardrailArn"]},
                ":",
                {"Fn::GetAtt": [version, "Version"]},
            ],
        ]
    }
    assert json.dumps(pinned) in json.dumps(ops.to_json())


def test_the_accounts_floor_is_one_enforced_configuration_in_shard_zero(ops: Template) -> None:
    _, resource = _one(ops, "AWS::Bedrock::EnforcedGuardrailConfiguration")
    assert resource["Properties"] == {
        "GuardrailIdentifier": "arn:aws:bedrock:us-east-1:111111111111:guardrail/floor0000001",
        "GuardrailVersion": "2",
    }


def test_without_a_floor_there_is_no_enforced_configuration() -> None:
    registry = {
        **WIDE_REGISTRY,
        "operations": {"account_id": "111111111111", "region": "us-east-1"},
    }
    template = synth_templates(parse_registry(registry))[naming.OPERATIONS_STACK_NAME]
    template.resource_count_is("AWS::Bedrock::EnforcedGuardrailConfiguration", 0)
