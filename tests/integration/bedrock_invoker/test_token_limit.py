"""The tenant's ``max_tokens`` setting: sent when an event names none, the most it may ask.

Bedrock reserves throughput quota for a call's maxTokens up front, and an unset
maxTokens reserves the model's maximum; the setting bounds what one call holds.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from tests.support.invoker_testkit import (
    Accounts,
    ApiCalls,
    ConverseStub,
    FakeLambdaContext,
    event,
)

Handler = Callable[[], ModuleType]


def test_an_event_without_max_tokens_gets_the_tenants(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
    set_function_env: Callable[..., None],
) -> None:
    set_function_env(MAX_TOKENS="256")
    result = cold_handler().lambda_handler(event(), lambda_context)

    assert "output" in result, result
    sent = api_calls.last_params["bedrock-runtime:Converse"]
    assert sent["inferenceConfig"]["maxTokens"] == 256


def test_an_event_asking_for_more_is_refused_by_name_and_recorded(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    set_function_env: Callable[..., None],
) -> None:
    set_function_env(MAX_TOKENS="256")
    handler = cold_handler()

    refused = handler.lambda_handler(event(max_tokens=1024), lambda_context)
    allowed = handler.lambda_handler(event(max_tokens=100), lambda_context)

    assert refused["error"] == {
        "type": "ValidationError",
        "message": "max_tokens: 1024 is over this tenant's limit of 256",
    }
    assert converse_stub.calls[0].outcome == "success" and len(converse_stub.calls) == 1
    assert "output" in allowed
    records = accounts.usage_records()
    assert [r["status"] for r in records] == ["error", "success"]


def test_without_the_setting_an_event_sends_only_what_it_names(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    cold_handler().lambda_handler(event(), lambda_context)

    sent = api_calls.last_params["bedrock-runtime:Converse"]
    assert "maxTokens" not in sent.get("inferenceConfig", {})
