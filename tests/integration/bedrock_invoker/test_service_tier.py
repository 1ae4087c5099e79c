"""The tenant's service tiers, in the function: the first by default, another on request.

The role's ``bedrock:ServiceTier`` condition is what holds a tenant to its tiers
(``tests/integration/embedded/test_guardrail_and_tier_enforcement.py``); the
function names its tier on every call, refuses a tier the tenant may not use
before spending a call, and records the tier with the model, so a throttle shows
who was throttled on which tier.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from tests.support.invoker_testkit import (
    HAIKU,
    Accounts,
    ApiCalls,
    ConverseStub,
    FakeLambdaContext,
    event,
)

Handler = Callable[[], ModuleType]


def test_every_call_names_the_tenants_first_tier_unless_the_event_asks_another(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
    set_function_env: Callable[..., None],
) -> None:
    set_function_env(SERVICE_TIERS="flex,default")
    handler = cold_handler()

    handler.lambda_handler(event(), lambda_context)
    first = api_calls.last_params["bedrock-runtime:Converse"]
    handler.lambda_handler(event(service_tier="default"), lambda_context)
    second = api_calls.last_params["bedrock-runtime:Converse"]

    assert (first["serviceTier"], second["serviceTier"]) == ({"type": "flex"}, {"type": "default"})
    assert [c.service_tier for c in converse_stub.calls] == ["flex", "default"]
    assert [r["service_tier"] for r in accounts.usage_records()] == ["flex", "default"]


def test_a_tier_the_tenant_may_not_use_is_refused_by_name_and_recorded(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    result = cold_handler().lambda_handler(event(service_tier="priority"), lambda_context)

    assert result["error"] == {
        "type": "AccessDenied",
        "message": "service_tier: 'priority' is not allowed for this tenant (allowed: default)",
    }
    assert converse_stub.calls == []
    [record] = accounts.usage_records()
    assert (record["status"], record["service_tier"]) == ("error", "priority")


def test_a_throttled_call_is_recorded_with_its_tier_and_model(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    # Every attempt (two, the test environment's) throttled.
    converse_stub.emulator.throttle(2)
    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result["error"]["type"] == "ThrottlingException"
    [record] = accounts.usage_records()
    assert (record["error_type"], record["service_tier"], record["model_id"]) == (
        "ThrottlingException",
        "default",
        HAIKU,
    )


def test_a_calls_cost_is_priced_at_its_tier(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    set_function_env: Callable[..., None],
) -> None:
    set_function_env(SERVICE_TIERS="default,flex,priority")
    handler = cold_handler()
    for tier in ("default", "flex", "priority"):
        handler.lambda_handler(event(service_tier=tier), lambda_context)

    standard, flex, priority = (r["cost_usd"] for r in accounts.usage_records())
    # The same scripted answer each time; the price table's tier multipliers.
    assert standard > 0
    assert flex == pytest.approx(standard * 0.5)
    assert priority == pytest.approx(standard * 1.75)
