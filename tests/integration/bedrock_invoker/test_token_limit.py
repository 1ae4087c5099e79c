"""The tenant's ``max_tokens`` setting: the most a call may ask; every call names one.

Bedrock reserves throughput quota for a call's maxTokens up front, and an unset
maxTokens reserves the model's maximum; the setting bounds what one call holds,
and an event that names none is sent the cap within the model's own limit.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from contracts.model_output_limits import output_token_limit
from contracts.tenant_settings import DEFAULT_MAX_TOKENS, MAX_OUTPUT_TOKENS
from tests.support.invoker_testkit import (
    HAIKU,
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


def test_without_the_setting_an_event_is_still_sent_an_explicit_max_tokens(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    cold_handler().lambda_handler(event(), lambda_context)

    sent = api_calls.last_params["bedrock-runtime:Converse"]
    assert sent["inferenceConfig"]["maxTokens"] == DEFAULT_MAX_TOKENS
    assert converse_stub.calls[-1].max_tokens == DEFAULT_MAX_TOKENS


def test_a_cap_above_the_models_limit_sends_the_models_limit(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
    set_function_env: Callable[..., None],
) -> None:
    set_function_env(MAX_TOKENS=str(MAX_OUTPUT_TOKENS))
    result = cold_handler().lambda_handler(event(), lambda_context)

    assert "output" in result, result
    sent = api_calls.last_params["bedrock-runtime:Converse"]
    # Claude 3 Haiku answers at most 4,096 tokens: asking for more is refused.
    assert sent["inferenceConfig"]["maxTokens"] == output_token_limit(HAIKU) == 4096
