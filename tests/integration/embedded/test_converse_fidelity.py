"""Converse as Bedrock documents it, through boto3 against the embedded cloud: tool use,
stop sequences, exact maxTokens, prompt caching minimums, image tokens, and Bedrock's
ValidationException messages (issue 18, defect 4)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError
from PIL import Image

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

pytestmark = pytest.mark.xdist_group("embedded-converse-fidelity")

FOUNDATION_35 = US_HAIKU_35.removeprefix("us.")
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "where": {
            "type": "object",
            "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
            "required": ["lat", "lon"],
        },
        "fields": {"type": "array", "items": {"$ref": "#/$defs/field"}, "minItems": 2},
        "note": {"type": "string"},
    },
    "required": ["city", "unit", "days", "where", "fields"],
    "$defs": {"field": {"type": "string", "enum": ["temperature", "wind"]}},
}
WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "The weather forecast for a city.",
        "inputSchema": {"json": WEATHER_SCHEMA},
    }
}
MAGIC = {
    "toolSpec": {
        "name": "magic_function",
        "description": "Apply a magic function to an input.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "input": {
                        "type": "integer",
                        "exclusiveMinimum": -1000,
                        "exclusiveMaximum": 1000,
                    }
                },
                "required": ["input"],
            }
        },
    }
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS]) as embedded:
        resources = [
            f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}",
            f"arn:aws:bedrock:{REGION}:{OPS}:inference-profile/{US_HAIKU_35}",
            *(
                f"arn:aws:bedrock:{r}::foundation-model/{FOUNDATION_35}"
                for r in ("us-east-1", "us-east-2", "us-west-2")
            ),
        ]
        create_role(
            embedded,
            OPS,
            "bedrock-invoker-acme",
            trust({"AWS": f"arn:aws:iam::{OPS}:root"}),
            policy(
                allow(
                    [
                        "bedrock:InvokeModel",
                        "bedrock:InvokeModelWithResponseStream",
                        "bedrock:CountTokens",
                    ],
                    resources,
                )
            ),
        )
        yield embedded


@pytest.fixture(scope="module")
def client(cloud: EmbeddedCloud) -> Any:
    session: boto3.Session = session_for(
        cloud, OPS, f"arn:aws:iam::{OPS}:role/bedrock-invoker-acme", "acme"
    )
    return session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url)


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def ask(text: str) -> list[dict[str, Any]]:
    return [user({"text": text})]


def stream_events(client: Any, **request: Any) -> list[dict[str, Any]]:
    return list(client.converse_stream(**request)["stream"])


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# -- tool use -------------------------------------------------------------------------------


def test_forced_tool_choice_calls_the_tool_with_an_input_its_schema_accepts(client: Any) -> None:
    response = client.converse(
        modelId=HAIKU,
        messages=ask("Hello!"),
        toolConfig={"tools": [WEATHER], "toolChoice": {"any": {}}},
    )
    assert response["stopReason"] == "tool_use"
    [block] = response["output"]["message"]["content"]
    tool_use = block["toolUse"]
    assert tool_use["name"] == "get_weather"
    assert tool_use["toolUseId"].startswith("tooluse_")
    jsonschema.validate(tool_use["input"], WEATHER_SCHEMA)


def test_tool_choice_tool_calls_the_named_tool(client: Any) -> None:
    response = client.converse(
        modelId=HAIKU,
        messages=ask("Hello!"),
        toolConfig={"tools": [WEATHER, MAGIC], "toolChoice": {"tool": {"name": "magic_function"}}},
    )
    assert response["stopReason"] == "tool_use"
    assert response["output"]["message"]["content"][0]["toolUse"]["name"] == "magic_function"


def test_auto_calls_the_tool_the_user_names_with_the_arguments_written(client: Any) -> None:
    response = client.converse(
        modelId=HAIKU,
        messages=ask("What is the value of magic_function(3)? Use the tool."),
        toolConfig={"tools": [WEATHER, MAGIC]},
    )
    assert response["stopReason"] == "tool_use"
    tool_use = response["output"]["message"]["content"][0]["toolUse"]
    assert (tool_use["name"], tool_use["input"]) == ("magic_function", {"input": 3})


def test_auto_answers_in_text_when_no_tool_is_named(client: Any) -> None:
    response = client.converse(
        modelId=HAIKU, messages=ask("Tell me a story."), toolConfig={"tools": [WEATHER]}
    )
    assert response["stopReason"] == "end_turn"
    assert response["output"]["message"]["content"][0]["text"]


def test_after_a_tool_result_the_model_answers_in_text(client: Any) -> None:
    config = {"tools": [WEATHER]}
    messages = ask("What does get weather say for Paris?")
    first = client.converse(modelId=HAIKU, messages=messages, toolConfig=config)
    tool_use = first["output"]["message"]["content"][0]["toolUse"]
    result = {"toolUseId": tool_use["toolUseId"], "content": [{"json": {"temperature": 21}}]}
    messages += [first["output"]["message"], user({"toolResult": result})]
    second = client.converse(modelId=HAIKU, messages=messages, toolConfig=config)
    assert second["stopReason"] == "end_turn"
    assert second["output"]["message"]["content"][0]["text"]


def test_converse_stream_streams_tool_use_as_bedrock_does(client: Any) -> None:
    request = {
        "modelId": HAIKU,
        "messages": ask("Hello!"),
        "toolConfig": {"tools": [WEATHER], "toolChoice": {"any": {}}},
    }
    whole = client.converse(**request)["output"]["message"]["content"][0]["toolUse"]
    events = stream_events(client, **request)
    [start] = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert start == {
        "contentBlockIndex": 0,
        "start": {"toolUse": {"toolUseId": whole["toolUseId"], "name": "get_weather"}},
    }
    pieces = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e
    ]
    assert len(pieces) > 1  # partial JSON, as a model streams it
    assert json.loads("".join(pieces)) == whole["input"]
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["tool_use"]


# -- stop sequences and maxTokens -------------------------------------------------------------


def test_stop_sequence_ends_the_answer_where_it_occurs(client: Any) -> None:
    messages = ask("Tell me a fact.")
    whole = client.converse(modelId=HAIKU, messages=messages)
    text = whole["output"]["message"]["content"][0]["text"]
    assert "(ref" in text  # every deterministic answer ends with its reference
    cut = client.converse(
        modelId=HAIKU, messages=messages, inferenceConfig={"stopSequences": ["(ref"]}
    )
    assert cut["stopReason"] == "stop_sequence"
    assert cut["output"]["message"]["content"][0]["text"] == text[: text.index("(ref")]
    assert cut["usage"]["outputTokens"] < whole["usage"]["outputTokens"]
    absent = client.converse(
        modelId=HAIKU, messages=messages, inferenceConfig={"stopSequences": ["never written"]}
    )
    assert absent["stopReason"] == "end_turn"
    assert absent["output"]["message"]["content"][0]["text"] == text


@pytest.mark.parametrize("max_tokens", [1, 2, 5])
def test_max_tokens_gives_exactly_that_many_output_tokens(client: Any, max_tokens: int) -> None:
    request = {
        "modelId": HAIKU,
        "messages": ask("Write a long essay."),
        "inferenceConfig": {"maxTokens": max_tokens},
    }
    response = client.converse(**request)
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == max_tokens
    text = response["output"]["message"]["content"][0]["text"]
    assert text.strip()
    streamed = stream_events(client, **request)
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in streamed if "contentBlockDelta" in e]
    assert "".join(deltas) == text
    [metadata] = [e["metadata"] for e in streamed if "metadata" in e]
    assert metadata["usage"]["outputTokens"] == max_tokens


# -- tokens of images and cached prefixes ------------------------------------------------------


def test_an_image_counts_width_times_height_over_750_input_tokens(client: Any) -> None:
    text_only = ask("What is in this picture?")
    with_image = [user({"text": "What is in this picture?"}, {"image": {"format": "png", "source": {"bytes": png(300, 200)}}})]  # fmt: skip
    plain = client.converse(modelId=HAIKU, messages=text_only)["usage"]["inputTokens"]
    pictured = client.converse(modelId=HAIKU, messages=with_image)["usage"]["inputTokens"]
    assert pictured - plain == math.ceil(300 * 200 / 750)
    counted = client.count_tokens(modelId=HAIKU, input={"converse": {"messages": with_image}})
    assert counted["inputTokens"] == pictured


def test_a_cache_point_below_the_models_minimum_caches_nothing(client: Any) -> None:
    system = [{"text": "You are a helpful assistant. " * 20}, {"cachePoint": {"type": "default"}}]
    for _ in range(2):
        usage = client.converse(modelId=US_HAIKU_35, system=system, messages=ask("hi"))["usage"]
        assert usage["cacheReadInputTokens"] == usage["cacheWriteInputTokens"] == 0


def test_a_cache_point_past_the_minimum_writes_then_reads(client: Any) -> None:
    system = [{"text": "Answer briefly. " * 1100}, {"cachePoint": {"type": "default"}}]
    first = client.converse(modelId=US_HAIKU_35, system=system, messages=ask("hi"))["usage"]
    second = client.converse(modelId=US_HAIKU_35, system=system, messages=ask("hi"))["usage"]
    assert first["cacheWriteInputTokens"] >= 2_048 and first["cacheReadInputTokens"] == 0
    assert second["cacheReadInputTokens"] == first["cacheWriteInputTokens"]
    assert second["cacheWriteInputTokens"] == 0


# -- Bedrock's ValidationException -------------------------------------------------------------

IMAGE_OF = {"image": {"format": "png", "source": {"bytes": b"\x89PNG\r\n\x1a\nnot really a png"}}}
JPEG_AS_PNG = io.BytesIO()
Image.new("RGB", (4, 4)).save(JPEG_AS_PNG, format="JPEG")
TOOL_RESULT = {"toolResult": {"toolUseId": "tooluse_nothing", "content": [{"text": "42"}]}}


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        (
            {"messages": [user({"text": "one"}), user({"text": "two"})]},
            "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
        ),
        (
            {"messages": ask("hi"), "inferenceConfig": {"temperature": 5}},
            "1 validation error detected: Value '5.0' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1",
        ),
        (
            {"messages": ask("hi"), "inferenceConfig": {"topP": 1.5}},
            "1 validation error detected: Value '1.5' at 'inferenceConfig.topP' failed to satisfy constraint: Member must have value less than or equal to 1",
        ),
        (
            {"messages": ask("   ")},
            "The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again.",
        ),
        (
            {"messages": [user(TOOL_RESULT)], "toolConfig": {"tools": [MAGIC]}},
            "The number of toolResult blocks at messages.0.content exceeds the number of toolUse blocks of previous turn.",
        ),
        (
            {"messages": [user({"text": "look"}, IMAGE_OF)]},
            "The model returned the following errors: messages.0.content.1.image.source.base64: The image was specified using the image/png media type, but does not appear to be a valid png image",
        ),
        (
            {
                "messages": [
                    user(
                        {"text": "look"},
                        {"image": {"format": "png", "source": {"bytes": JPEG_AS_PNG.getvalue()}}},
                    )
                ]
            },
            "The model returned the following errors: messages.0.content.1.image.source.base64.data: The image was specified using the image/png media type, but the image appears to be a image/jpeg image",
        ),
        (
            {
                "messages": [
                    user({"text": "use magic_function(1)"}),
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "toolUse": {
                                    "toolUseId": "tooluse_a",
                                    "name": "magic_function",
                                    "input": {"input": 1},
                                }
                            }
                        ],
                    },
                    user(TOOL_RESULT),
                ]
            },
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        ),
    ],
    ids=[
        "consecutive-user-turns",
        "temperature-5",
        "top-p-1.5",
        "blank-text",
        "tool-result-without-tool-use",
        "corrupt-image",
        "jpeg-sent-as-png",
        "tool-blocks-without-tool-config",
    ],
)
def test_bedrock_refuses_with_its_validation_message(
    client: Any, request_fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as exc:
        client.converse(modelId=HAIKU, **request_fields)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert exc.value.response["Error"] == {"Code": "ValidationException", "Message": message}


def test_a_cache_point_on_a_model_without_prompt_caching_is_refused(client: Any) -> None:
    system = [{"text": "You are a helpful assistant."}, {"cachePoint": {"type": "default"}}]
    with pytest.raises(ClientError) as exc:
        client.converse(modelId=HAIKU, system=system, messages=ask("hi"))
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert exc.value.response["Error"] == {
        "Code": "AccessDeniedException",
        "Message": "You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information.",
    }


def test_a_model_refuses_input_it_cannot_read(client: Any) -> None:
    image = {"image": {"format": "png", "source": {"bytes": png(8, 8)}}}
    with pytest.raises(ClientError) as exc:
        client.converse(modelId=US_HAIKU_35, messages=[user({"text": "look"}, image)])
    assert exc.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "This model doesn't support the image content block that you provided. Update the content block and try again.",
    }
    too_many = {"maxTokens": 8_193}
    with pytest.raises(ClientError, match="exceeds the model limit of 8192"):
        client.converse(modelId=US_HAIKU_35, messages=ask("hi"), inferenceConfig=too_many)
