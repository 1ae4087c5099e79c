"""One call's outcome, read once: the answer or the failure the record and the caller share."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from bedrock_tenant_client.chat import CONFIGURATION_ERROR, InferenceProfileMissing
from bedrock_tenant_client.outcome import (
    MAX_ERROR_MESSAGE_CHARS,
    BedrockAnswer,
    CallTimer,
    Failure,
    TokenUsage,
)
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import given
from hypothesis import strategies as st
from invoker.event import ModelNotAllowedError
from langchain_core.messages import AIMessage

from tests.support.invoker_testkit import (
    HAIKU,
    SCRIPTED_LATENCY_MS,
    Accounts,
    ConverseStub,
    FakeLambdaContext,
    event,
)

Handler = Callable[[], ModuleType]


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


# --- the clock -------------------------------------------------------------------------------


def test_the_timer_reads_the_running_call_then_keeps_the_first_stop() -> None:
    ticks = Ticks()
    timer = CallTimer(monotonic=ticks)
    assert timer.elapsed_ms() is None  # refused before any call: no latency at all

    timer.start()
    ticks.now = 100.4
    assert timer.elapsed_ms() == 400  # the watchdog's record, while the call runs
    timer.stop()
    ticks.now = 160.0
    timer.stop()  # an abandoned call ending later moves nothing
    timer.start()

    assert timer.elapsed_ms() == 400


# --- the answer ------------------------------------------------------------------------------


def test_the_answer_carries_bedrocks_figures_and_the_functions_latency() -> None:
    message = AIMessage(
        content=[{"type": "text", "text": "Bon"}, {"type": "text", "text": "jour"}],
        usage_metadata={"input_tokens": 125, "output_tokens": 11, "total_tokens": 136},
        response_metadata={
            "ResponseMetadata": {"RequestId": "req-1", "RetryAttempts": 2},
            "stopReason": "max_tokens",
            "metrics": {"latencyMs": [609]},
            "usage": {
                "inputTokens": 25,
                "outputTokens": 11,
                "totalTokens": 136,
                "cacheReadInputTokens": 80,
                "cacheWriteInputTokens": 20,
            },
        },
    )

    answer = BedrockAnswer.from_message(message, latency_ms=700)

    assert answer == BedrockAnswer(
        text="Bonjour",
        usage=TokenUsage(
            input_tokens=25,
            output_tokens=11,
            total_tokens=136,
            cache_read_input_tokens=80,
            cache_write_input_tokens=20,
        ),
        latency_ms=700,
        bedrock_latency_ms=609,
        stop_reason="max_tokens",
        request_id="req-1",
        bedrock_retries=2,
    )
    assert type(answer.text) is str


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_METADATA_KEYS = st.sampled_from(
    ["ResponseMetadata", "stopReason", "metrics", "usage", "RequestId", "latencyMs"]
)


@given(metadata=st.dictionaries(_METADATA_KEYS | st.text(max_size=8), _JSON, max_size=6))
def test_an_answer_with_metadata_of_any_shape_is_still_read_and_returned(
    metadata: dict[str, Any],
) -> None:
    # The answer goes back to the caller whatever Bedrock or LangChain put beside it.
    answer = BedrockAnswer.from_message(
        AIMessage(content="Bonjour !", response_metadata=metadata), latency_ms=5
    )

    assert answer.text == "Bonjour !"
    usage = answer.usage
    assert all(
        isinstance(count, int)
        for count in (usage.input_tokens, usage.output_tokens, usage.total_tokens)
    )
    json.dumps([answer.request_id, answer.stop_reason, answer.bedrock_latency_ms])


# --- the failure -----------------------------------------------------------------------------


def test_a_bedrock_error_keeps_its_code_message_request_id_and_retries() -> None:
    error = ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "Too  many\nrequests"},
            "ResponseMetadata": {"RequestId": "req-9", "RetryAttempts": 3},
        },
        "Converse",
    )

    assert Failure.from_exception(error) == Failure(
        "ThrottlingException", "Too many requests", request_id="req-9", bedrock_retries=3
    )


@pytest.mark.parametrize(
    ("error", "error_type", "message"),
    [
        (
            ModelNotAllowedError("model_id", "'m' is not allowed for this tenant"),
            "AccessDenied",
            "model_id: 'm' is not allowed for this tenant",
        ),
        (RuntimeError("secret=hunter2"), "InternalError", "the model call failed"),
        (
            EndpointConnectionError(endpoint_url="https://bedrock-runtime"),
            "EndpointConnectionError",
            'Could not connect to the endpoint URL: "https://bedrock-runtime"',
        ),
    ],
)
def test_each_kind_of_failure_is_described_once_for_record_and_caller(
    error: BaseException, error_type: str, message: str
) -> None:
    assert Failure.from_exception(error) == Failure(error_type, message)


def test_a_missing_profile_is_a_configuration_error_and_long_messages_are_cut() -> None:
    failure = Failure.from_exception(InferenceProfileMissing("m", "x" * 1000))

    assert failure.error_type == CONFIGURATION_ERROR
    assert len(failure.message) == MAX_ERROR_MESSAGE_CHARS and failure.message.endswith("…")


# --- the caller and the record share one reading ---------------------------------------------


def test_the_callers_figures_are_the_records_own(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    converse_stub.emulator.script_answer(
        "Bonjour !",
        {
            "inputTokens": 25,
            "outputTokens": 11,
            "totalTokens": 136,
            "cacheReadInputTokens": 80,
            "cacheWriteInputTokens": 20,
        },
        latency_ms=SCRIPTED_LATENCY_MS,
    )

    result = cold_handler().lambda_handler(event(), lambda_context)

    [record] = accounts.usage_records()
    assert result == {
        "output": "Bonjour !",
        "usage": {
            "input_tokens": record["input_tokens"],
            "output_tokens": record["output_tokens"],
            "total_tokens": record["total_tokens"],
        },
        "model_id": HAIKU,
        "latency_ms": record["latency_ms"],
        "request_id": record["request_id"],
    }
    assert result["usage"] == {"input_tokens": 25, "output_tokens": 11, "total_tokens": 136}
    assert (record["cache_read_input_tokens"], record["cache_write_input_tokens"]) == (80, 20)
    assert isinstance(result["latency_ms"], int) and record["request_id"] is not None
