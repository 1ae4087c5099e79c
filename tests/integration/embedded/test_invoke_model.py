"""InvokeModel and InvokeModelWithResponseStream in the embedded cloud, through boto3.

Held to IAM like Converse, answered in each model family's native body (Anthropic
Messages, Amazon Nova) with the same deterministic answer and token counts as
Converse, logged and faulted like Converse; other families and malformed bodies
are refused with Bedrock's messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import (
    HAIKU,
    OPS,
    REGION,
    US_HAIKU_35,
    allow,
    create_role,
    policy,
    session_for,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-invoke-model")

NOVA_MICRO = "amazon.nova-micro-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"
QUESTION = "Which account holds the usage records?"
ANTHROPIC_BODY: dict[str, Any] = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 256,
    "system": "You answer questions about invoices.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
}
NOVA_BODY: dict[str, Any] = {
    "schemaVersion": "messages-v1",
    "system": [{"text": "You answer questions about invoices."}],
    "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
    "inferenceConfig": {"max_new_tokens": 256},
}
# The same conversation as Converse takes it.
CONVERSATION: dict[str, Any] = {
    "system": [{"text": "You answer questions about invoices."}],
    "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
    "inferenceConfig": {"maxTokens": 256},
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS], warm_lambdas=False) as embedded:
        anyone_in_ops = trust({"AWS": f"arn:aws:iam::{OPS}:root"})
        every_model = [
            "arn:aws:bedrock:*::foundation-model/*",
            f"arn:aws:bedrock:{REGION}:{OPS}:inference-profile/*",
        ]
        create_role(
            embedded,
            OPS,
            "invoker",
            anyone_in_ops,
            policy(
                allow(
                    [
                        "bedrock:InvokeModel",
                        "bedrock:InvokeModelWithResponseStream",
                        "bedrock:CountTokens",
                    ],
                    every_model,
                )
            ),
        )
        create_role(
            embedded,
            OPS,
            "haiku-only",
            anyone_in_ops,
            policy(
                allow("bedrock:InvokeModel", f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}")
            ),
        )
        yield embedded


@pytest.fixture(autouse=True)
def clean(cloud: EmbeddedCloud) -> Iterator[None]:
    cloud.bedrock.clear_calls()
    cloud.bedrock.clear_faults()
    yield
    cloud.bedrock.clear_faults()


def runtime(cloud: EmbeddedCloud, role: str = "invoker") -> Any:
    session = session_for(cloud, OPS, f"arn:aws:iam::{OPS}:role/{role}", role)
    return session.client(
        "bedrock-runtime",
        endpoint_url=cloud.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
    )


def invoke(client: Any, model: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    response = client.invoke_model(modelId=model, body=json.dumps(body))
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def streamed(client: Any, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    assert response["contentType"] == "application/json"
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


def refusal(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


# -- Anthropic Messages --------------------------------------------------------------------


def test_anthropic_body_is_answered_in_anthropic_messages_format(cloud: EmbeddedCloud) -> None:
    answer, headers = invoke(runtime(cloud), HAIKU, ANTHROPIC_BODY)
    assert answer["id"].startswith("msg_bdrk_")
    assert answer["type"] == "message" and answer["role"] == "assistant"
    assert answer["model"] == "claude-3-haiku-20240307"
    assert answer["stop_reason"] == "end_turn" and answer["stop_sequence"] is None
    (block,) = answer["content"]
    assert block["type"] == "text" and block["text"]
    usage = answer["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert headers["x-amzn-bedrock-input-token-count"] == str(usage["input_tokens"])
    assert headers["x-amzn-bedrock-output-token-count"] == str(usage["output_tokens"])
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 1


def test_invoke_model_answers_what_converse_answers(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud)
    answer, _ = invoke(client, HAIKU, ANTHROPIC_BODY)
    conversed = client.converse(modelId=HAIKU, **CONVERSATION)
    assert answer["content"][0]["text"] == conversed["output"]["message"]["content"][0]["text"]
    assert answer["usage"]["input_tokens"] == conversed["usage"]["inputTokens"]
    assert answer["usage"]["output_tokens"] == conversed["usage"]["outputTokens"]


def test_invoke_model_is_in_the_call_log_with_its_tokens(cloud: EmbeddedCloud) -> None:
    answer, _ = invoke(runtime(cloud), US_HAIKU_35, ANTHROPIC_BODY)
    (call,) = cloud.bedrock.calls()
    assert call.operation == "InvokeModel" and call.outcome == "success"
    assert call.model_id == US_HAIKU_35
    assert call.session_name == "invoker"
    assert call.input_tokens == answer["usage"]["input_tokens"]
    assert call.output_tokens == answer["usage"]["output_tokens"]


def test_max_tokens_cuts_the_answer_and_says_so(cloud: EmbeddedCloud) -> None:
    answer, _ = invoke(runtime(cloud), HAIKU, {**ANTHROPIC_BODY, "max_tokens": 3})
    assert answer["stop_reason"] == "max_tokens"
    assert answer["usage"]["output_tokens"] == 3


def test_anthropic_stream_is_claudes_events_in_chunks(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud)
    events = streamed(client, HAIKU, ANTHROPIC_BODY)
    whole, _ = invoke(client, HAIKU, ANTHROPIC_BODY)
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == whole["content"][0]["text"]
    assert events[-2]["delta"]["stop_reason"] == "end_turn"
    assert events[-2]["usage"]["output_tokens"] == whole["usage"]["output_tokens"]
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == whole["usage"]["input_tokens"]
    assert metrics["outputTokenCount"] == whole["usage"]["output_tokens"]
    assert [call.operation for call in cloud.bedrock.calls()] == [
        "InvokeModelWithResponseStream",
        "InvokeModel",
    ]


# -- Amazon Nova ---------------------------------------------------------------------------


def test_nova_body_is_answered_in_novas_format(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud)
    answer, headers = invoke(client, NOVA_MICRO, NOVA_BODY)
    conversed = client.converse(modelId=NOVA_MICRO, **CONVERSATION)
    assert answer["output"]["message"] == conversed["output"]["message"]
    assert answer["stopReason"] == "end_turn"
    usage = answer["usage"]
    assert usage["inputTokens"] == conversed["usage"]["inputTokens"] > 0
    assert usage["outputTokens"] == conversed["usage"]["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert headers["x-amzn-bedrock-output-token-count"] == str(usage["outputTokens"])


def test_nova_stream_is_novas_events_in_chunks(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud)
    events = streamed(client, NOVA_MICRO, NOVA_BODY)
    whole, _ = invoke(client, NOVA_MICRO, NOVA_BODY)
    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == [
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:-3])
    assert text == whole["output"]["message"]["content"][0]["text"]
    assert events[-1]["metadata"]["usage"]["outputTokens"] == whole["usage"]["outputTokens"]


# -- held to IAM ---------------------------------------------------------------------------


def test_invoke_model_needs_bedrock_invoke_model_on_the_model(cloud: EmbeddedCloud) -> None:
    code, status, message = refusal(
        lambda: invoke(runtime(cloud, "haiku-only"), NOVA_MICRO, NOVA_BODY)
    )
    assert (code, status) == ("AccessDeniedException", 403)
    assert (
        f"bedrock:InvokeModel on resource: arn:aws:bedrock:{REGION}::foundation-model/{NOVA_MICRO}"
        in message
    )
    assert cloud.bedrock.calls()[-1].outcome == "AccessDeniedException"


def test_streaming_needs_its_own_action(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud, "haiku-only")
    invoke(client, HAIKU, ANTHROPIC_BODY)  # allowed: bedrock:InvokeModel
    code, _, message = refusal(lambda: streamed(client, HAIKU, ANTHROPIC_BODY))
    assert code == "AccessDeniedException"
    assert "bedrock:InvokeModelWithResponseStream" in message


def test_an_unauthorized_caller_is_refused_before_its_body_is_read(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud, "haiku-only")
    code, _, _ = refusal(lambda: invoke(client, NOVA_MICRO, {"not": "a nova body"}))
    assert code == "AccessDeniedException"


def test_unknown_keys_are_refused_as_unrecognized(cloud: EmbeddedCloud) -> None:
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=cloud.endpoint_url,
        region_name=REGION,
        aws_access_key_id="AKIAMADEUPMADEUP0000",
        aws_secret_access_key="made-up",
        config=Config(retries={"total_max_attempts": 1}),
    )
    code, status, _ = refusal(lambda: invoke(client, HAIKU, ANTHROPIC_BODY))
    assert (code, status) == ("UnrecognizedClientException", 403)


# -- faults apply as to Converse -----------------------------------------------------------


def test_throttling_applies_to_invoke_model(cloud: EmbeddedCloud) -> None:
    cloud.bedrock.throttle(1, model_id=HAIKU)
    code, status, _ = refusal(lambda: invoke(runtime(cloud), HAIKU, ANTHROPIC_BODY))
    assert (code, status) == ("ThrottlingException", 429)
    (call,) = cloud.bedrock.calls()
    assert (call.operation, call.outcome, call.http_status) == (
        "InvokeModel",
        "ThrottlingException",
        429,
    )
    invoke(runtime(cloud), HAIKU, ANTHROPIC_BODY)  # the fault was used up


# -- what Bedrock refuses ------------------------------------------------------------------


def test_other_model_families_are_refused_by_name(cloud: EmbeddedCloud) -> None:
    body = {"prompt": "Hello", "max_gen_len": 64}
    code, status, message = refusal(lambda: invoke(runtime(cloud), LLAMA, body))
    assert (code, status) == ("ValidationException", 400)
    assert LLAMA in message and "not emulated" in message


def test_a_made_up_model_is_invalid_once_the_caller_may_ask(cloud: EmbeddedCloud) -> None:
    made_up = "anthropic.claude-made-up-v9:0"
    code, status, message = refusal(lambda: invoke(runtime(cloud), made_up, ANTHROPIC_BODY))
    assert (code, status, message) == (
        "ValidationException",
        400,
        "The provided model identifier is invalid.",
    )
    code, _, _ = refusal(lambda: invoke(runtime(cloud, "haiku-only"), made_up, ANTHROPIC_BODY))
    assert code == "AccessDeniedException"


def test_a_made_up_model_is_invalid_for_converse_too(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud)
    code, _, message = refusal(lambda: client.converse(modelId="nonsense", **CONVERSATION))
    assert (code, message) == ("ValidationException", "The provided model identifier is invalid.")


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (
            HAIKU,
            {"messages": ANTHROPIC_BODY["messages"]},
            'Malformed input request: #: subject must not be valid against schema {"required":'
            '["messages"]}#: required key [max_tokens] not found#: required key '
            "[anthropic_version] not found, please reformat your input and try again.",
        ),
        (
            HAIKU,
            {**ANTHROPIC_BODY, "model": "claude-3-haiku", "stream": True},
            'Malformed input request: #: subject must not be valid against schema {"required":'
            '["messages"]}#: extraneous key [model] is not permitted#: extraneous key [stream] '
            "is not permitted, please reformat your input and try again.",
        ),
        (
            HAIKU,
            {**ANTHROPIC_BODY, "anthropic_version": "claude-3-haiku-20240307-v1:0"},
            "Invalid API version: claude-3-haiku-20240307-v1:0",
        ),
        (
            NOVA_MICRO,
            {"inferenceConfig": {"max_new_tokens": 10}},
            "Malformed input request: #: required key [messages] not found, "
            "please reformat your input and try again.",
        ),
        (
            NOVA_MICRO,
            {**NOVA_BODY, "textGenerationConfig": {}},
            "Malformed input request: #: extraneous key [textGenerationConfig] is not "
            "permitted, please reformat your input and try again.",
        ),
        (
            HAIKU,
            b"this is not JSON",
            "Malformed input request, please reformat your input and try again.",
        ),
    ],
    ids=[
        "anthropic-required-keys",
        "anthropic-extraneous-keys",
        "anthropic-version",
        "nova-messages",
        "nova-extraneous-key",
        "not-json",
    ],
)
def test_native_bodies_are_checked_with_bedrocks_messages(
    cloud: EmbeddedCloud, model: str, body: dict[str, Any] | bytes, message: str
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    client = runtime(cloud)
    code, status, said = refusal(lambda: client.invoke_model(modelId=model, body=raw))
    assert (code, status, said) == ("ValidationException", 400, message)


def test_anthropic_tools_are_called_as_converse_calls_them(cloud: EmbeddedCloud) -> None:
    weather = {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
    body = {
        **ANTHROPIC_BODY,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [weather],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }
    client = runtime(cloud)
    answer, _ = invoke(client, HAIKU, body)
    assert answer["stop_reason"] == "tool_use"
    (call,) = [block for block in answer["content"] if block["type"] == "tool_use"]
    assert call["name"] == "get_weather" and isinstance(call["input"]["city"], str)
    events = streamed(client, HAIKU, body)
    started = [e for e in events if e["type"] == "content_block_start"]
    assert started[-1]["content_block"]["name"] == "get_weather"
    partial = "".join(
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(partial) == call["input"]


def test_anthropic_cache_control_writes_then_reads_the_prompt_cache(cloud: EmbeddedCloud) -> None:
    # Claude 3.5 Haiku caches a prefix of at least 2,048 tokens.
    system = [
        {
            "type": "text",
            "text": "You answer questions about invoices. " * 400,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    body = {**ANTHROPIC_BODY, "system": system}
    client = runtime(cloud)
    first, headers = invoke(client, US_HAIKU_35, body)
    second, _ = invoke(client, US_HAIKU_35, body)
    written = first["usage"]["cache_creation_input_tokens"]
    assert written > 0 and first["usage"]["cache_read_input_tokens"] == 0
    assert headers["x-amzn-bedrock-cache-write-input-token-count"] == str(written)
    assert second["usage"]["cache_read_input_tokens"] == written
    assert second["usage"]["cache_creation_input_tokens"] == 0
