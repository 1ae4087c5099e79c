"""The registry refuses a limit it cannot meter or enforce, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.registry import RegistryError, TenantRegistry

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
UNPRICED = "cohere.command-r-v1:0"


def registry(*, enforcer: bool = True, **tenant: Any) -> dict[str, Any]:
    return {
        "operations": {
            "account_id": "111111111111",
            "region": "us-east-1",
            "enforcer": {"enabled": enforcer},
        },
        "tenants": [
            {
                "id": "acme",
                "account_id": "222222222222",
                "region": "us-east-1",
                "external_id": "ext-acme-0001",
                "application_inference_profiles": True,
                "models": [HAIKU, SONNET],
                **tenant,
            }
        ],
    }


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RegistryError) as refused:
        TenantRegistry.model_validate(data)
    return [str(issue) for issue in refused.value.issues]


def test_a_metered_enforced_limit_is_accepted() -> None:
    limits = {"tokens": 1000, "action": "downgrade", "downgrade_models": [HAIKU]}
    tenant = TenantRegistry.model_validate(registry(limits=limits)).resolved_tenants()[0]
    assert tenant.limits is not None and tenant.limits.downgrade_models == (HAIKU,)


def test_a_limit_without_the_enforcer_is_refused() -> None:
    assert problems(registry(enforcer=False, limits={"tokens": 10})) == [
        "tenants[0].limits: cannot be enforced: operations account 'primary' runs no limit "
        "enforcer (set operations.enforcer.enabled: true)"
    ]


def test_a_limit_without_application_inference_profiles_cannot_be_metered() -> None:
    found = problems(registry(limits={"tokens": 10}, application_inference_profiles=False))
    assert len(found) == 1 and found[0].startswith("tenants[0].limits: cannot be metered")


def test_a_downgrade_to_a_model_the_tenant_lacks_is_refused() -> None:
    limits = {"tokens": 10, "action": "downgrade", "downgrade_models": ["amazon.nova-micro-v1:0"]}
    assert problems(registry(limits=limits)) == [
        "tenants[0].limits.downgrade_models: amazon.nova-micro-v1:0 not among the tenant's models"
    ]


def test_a_usd_limit_with_an_unpriced_model_is_refused_naming_the_model() -> None:
    found = problems(registry(limits={"usd": 5.0}, models=[HAIKU, UNPRICED]))
    assert len(found) == 1
    assert found[0].startswith(f"tenants[0].models[1]: '{UNPRICED}' has no price")
    assert "tenants[0].limits.usd" in found[0]
