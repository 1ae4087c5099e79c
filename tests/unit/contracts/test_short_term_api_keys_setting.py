"""The registry's ``short_term_api_keys`` opt-in: off by default, per tenant or in
``defaults``, only for a tenant with a workload role, held by the operations stack
alone and never in the function's environment."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.function_environment import FunctionEnvironment, for_tenant
from contracts.registry import RegistryError, parse_registry, parse_registry_yaml
from contracts.tenant_settings import HeldBy, held_by, setting_named
from tests.conftest import EXAMPLE_REGISTRY

WORKLOAD_ROLE = {"services": ["ecs-tasks"]}


def _example() -> dict[str, Any]:
    return parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))


def _with_workload_roles(data: dict[str, Any]) -> dict[str, Any]:
    for tenant in data["tenants"]:
        tenant["workload_role"] = WORKLOAD_ROLE
    return data


def _issues(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(data)
    return [str(issue) for issue in caught.value.issues]


def test_no_tenant_accepts_api_keys_unless_the_registry_says_so() -> None:
    registry = parse_registry(_with_workload_roles(_example()))
    assert registry.defaults.short_term_api_keys is False
    assert not any(t.short_term_api_keys for t in registry.resolved_tenants())


def test_a_tenant_opts_in_on_its_own_and_the_others_stay_out() -> None:
    data = _with_workload_roles(_example())
    data["tenants"][1]["short_term_api_keys"] = True
    registry = parse_registry(data)
    assert registry.tenant("globex").short_term_api_keys is True
    assert registry.tenant("acme").short_term_api_keys is False


def test_defaults_opt_every_tenant_in_and_a_tenant_may_opt_out() -> None:
    data = _with_workload_roles(_example())
    data["defaults"]["short_term_api_keys"] = True
    data["tenants"][0]["short_term_api_keys"] = False
    registry = parse_registry(data)
    assert registry.tenant("acme").short_term_api_keys is False
    assert registry.tenant("globex").short_term_api_keys is True


@pytest.mark.parametrize("value", ["yes", "true", 1])
def test_only_a_yaml_boolean_opts_in(value: Any) -> None:
    data = _with_workload_roles(_example())
    data["tenants"][1]["short_term_api_keys"] = value
    issues = _issues(data)
    assert any(
        i.startswith("tenants[1].short_term_api_keys: Input should be a valid boolean")
        for i in issues
    ), issues


def test_a_tenant_without_a_workload_role_is_refused_at_its_opt_in() -> None:
    data = _example()
    data["tenants"][1]["short_term_api_keys"] = True
    assert _issues(data) == [
        "tenants[1].short_term_api_keys: tenant 'globex': short-term API keys are minted by "
        "the client library as the tenant's workload role, and it has no workload_role; "
        "add one, or set short_term_api_keys: false"
    ]


def test_an_opt_in_inherited_from_defaults_names_the_default() -> None:
    data = _example()
    data["defaults"]["short_term_api_keys"] = True
    data["tenants"][0]["workload_role"] = WORKLOAD_ROLE
    [issue] = _issues(data)
    assert issue.startswith(
        "tenants[1].short_term_api_keys: tenant 'globex' inherits true from "
        "defaults.short_term_api_keys: "
    ), issue


def test_only_the_operations_stack_holds_it_and_the_function_never_sees_it() -> None:
    _, how = setting_named("short_term_api_keys")
    assert how.option is None  # the registry file sets it, no onboard/update option
    assert held_by(["short_term_api_keys"]) == {HeldBy.OPERATIONS}
    data = _with_workload_roles(_example())
    data["tenants"][1]["short_term_api_keys"] = True
    env = for_tenant(parse_registry(data).tenant("globex")).to_env()
    assert not any("KEY" in name or "BEARER" in name for name in env)
    assert "short_term_api_keys" not in FunctionEnvironment.model_fields
