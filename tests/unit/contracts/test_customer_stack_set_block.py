"""The registry's ``customer_stack_set`` block: what it accepts and what it refuses, by path."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.registry import RegistryError, parse_registry, parse_registry_yaml
from tests.conftest import EXAMPLE_REGISTRY

OU = "ou-ab12-tenants01"


def _registry(block: dict[str, Any], **globex: Any) -> dict[str, Any]:
    data = parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    data["customer_stack_set"] = block
    data["tenants"][1].update(globex)
    return data


def _issues(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(data)
    return [str(issue) for issue in caught.value.issues]


def test_a_service_managed_block_names_the_bucket_and_the_ous_and_takes_aws_defaults() -> None:
    registry = parse_registry(
        _registry({"code_bucket": "org-code", "organizational_unit_ids": [OU]})
    )

    block = registry.customer_stack_set
    assert block is not None
    assert block.name == "BedrockCustomerStackSet"
    assert block.permission_model == "SERVICE_MANAGED"
    assert block.operation_preferences.as_api() == {}


def test_operation_preferences_become_the_api_fields() -> None:
    block = {
        "code_bucket": "org-code",
        "organizational_unit_ids": [OU],
        "operation_preferences": {
            "max_concurrent_percentage": 25,
            "failure_tolerance_percentage": 10,
            "region_concurrency_type": "PARALLEL",
        },
    }
    preferences = parse_registry(_registry(block)).customer_stack_set.operation_preferences  # type: ignore[union-attr]

    assert preferences.as_api() == {
        "MaxConcurrentPercentage": 25,
        "FailureTolerancePercentage": 10,
        "RegionConcurrencyType": "PARALLEL",
    }


@pytest.mark.parametrize(
    ("preferences", "path"),
    [
        ({"max_concurrent_count": 2, "max_concurrent_percentage": 50}, "operation_preferences"),
        (
            {"failure_tolerance_count": 1, "failure_tolerance_percentage": 5},
            "operation_preferences",
        ),
        ({"max_concurrent_percentage": 0}, "operation_preferences.max_concurrent_percentage"),
        (
            {"failure_tolerance_percentage": 101},
            "operation_preferences.failure_tolerance_percentage",
        ),
        ({"region_concurrency_type": "ALL"}, "operation_preferences.region_concurrency_type"),
    ],
)
def test_operation_preferences_are_held_to_cloudformations_rules(
    preferences: dict[str, Any], path: str
) -> None:
    block = {"code_bucket": "org-code", "organizational_unit_ids": [OU]}
    issues = _issues(_registry({**block, "operation_preferences": preferences}))

    assert any(issue.startswith(f"customer_stack_set.{path}:") for issue in issues), issues


def test_a_service_managed_stack_set_needs_its_organizational_units() -> None:
    issues = _issues(_registry({"code_bucket": "org-code"}))

    assert any("needs the OUs holding the tenant accounts" in i for i in issues), issues


def test_a_self_managed_stack_set_targets_accounts_not_ous() -> None:
    block = {
        "code_bucket": "org-code",
        "permission_model": "SELF_MANAGED",
        "organizational_unit_ids": [OU],
    }

    assert any("only for SERVICE_MANAGED" in i for i in _issues(_registry(block)))


def test_a_tenant_whose_xray_differs_from_the_defaults_is_an_error_at_its_field() -> None:
    block = {"code_bucket": "org-code", "organizational_unit_ids": [OU]}

    issues = _issues(_registry(block, xray_tracing=True))

    assert any(
        i.startswith("tenants[1].xray_tracing: differs from defaults.xray_tracing") for i in issues
    ), issues


def test_without_the_block_a_tenant_may_have_its_own_alarms() -> None:
    data = _registry({}, alarms={"throttles_per_5_minutes": 3})
    del data["customer_stack_set"]

    assert parse_registry(data).customer_stack_set is None
