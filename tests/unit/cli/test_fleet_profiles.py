"""The fleet hands a tenant's application-profile ARNs from its operations stack to its
customer stack (no cloud: the outputs are given)."""

from __future__ import annotations

import json

import pytest

from contracts import naming
from contracts.registry import TenantRegistry, parse_registry
from tenantctl import fleet
from tenantctl.cdk_runner import StackTarget

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
EU_HAIKU = "eu.anthropic.claude-3-5-haiku-20241022-v1:0"


def _registry() -> TenantRegistry:
    return parse_registry(
        {
            "operations": {"account_id": "111111111111", "region": "us-east-1"},
            "additional_operations": [
                {"name": "eu", "account_id": "888888888888", "region": "eu-west-1"}
            ],
            "tenants": [
                {"id": "a", "account_id": "200000000001", "region": "us-west-2",
                 "external_id": "a-ext", "models": [HAIKU, EU_HAIKU],
                 "application_inference_profiles": True, "operations_account": "eu"},
                {"id": "b", "account_id": "200000000002", "region": "us-east-1",
                 "external_id": "b-ext"},
            ],
        }
    )  # fmt: skip


def test_plan_names_the_profile_outputs_and_where_to_read_them() -> None:
    by_tenant = {t.tenant_id: t for t in fleet.plan(_registry()) if not t.is_operations}
    a, b = by_tenant["a"], by_tenant["b"]
    assert a.inference_profile_outputs == tuple(
        (m, naming.inference_profile_output_key("a", m)) for m in (HAIKU, EU_HAIKU)
    )
    # The tenant's own operations account and region, not the customer stack's.
    assert a.profile_source == StackTarget("BedrockOperations-eu", "888888888888", "eu-west-1")
    assert b.inference_profile_outputs == () and b.profile_source is None


def test_the_parameter_is_the_json_map_of_model_to_profile_arn() -> None:
    [a] = [t for t in fleet.plan(_registry()) if t.tenant_id == "a"]
    base = "arn:aws:bedrock:eu-west-1:888888888888:application-inference-profile"
    arns = {HAIKU: f"{base}/aaaaaaaaaaaa", EU_HAIKU: f"{base}/bbbbbbbbbbbb"}
    outputs = {key: arns[m] for m, key in a.inference_profile_outputs} | {"Other": "x"}
    assert json.loads(fleet.inference_profile_parameter(a, outputs)) == arns


def test_a_missing_output_or_unreadable_stack_names_the_operations_stack() -> None:
    [a] = [t for t in fleet.plan(_registry()) if t.tenant_id == "a"]
    first_key = a.inference_profile_outputs[0][1]
    with pytest.raises(ValueError, match=f"BedrockOperations-eu has no output {first_key}"):
        fleet.inference_profile_parameter(a, {})
    with pytest.raises(ValueError, match="cannot read the outputs of operations stack"):
        fleet.inference_profile_parameter(a, None)
