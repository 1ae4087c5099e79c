"""What each model refuses in Converse, as Bedrock refuses it, and tool inputs that
always validate against the tool's schema (embedded_aws.converse)."""

from __future__ import annotations

import io
from typing import Any

import jsonschema
import pytest
from PIL import Image

from embedded_aws import converse
from embedded_aws.bedrock_answers import count_tokens, stop_at_sequences, truncate

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_35 = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
TITAN = "amazon.titan-text-express-v1"
MISTRAL_LARGE = "mistral.mistral-large-2402-v1:0"
NOVA_LITE = "amazon.nova-lite-v1:0"
ASK = [{"role": "user", "content": [{"text": "hi"}]}]
TOOL = {
    "toolSpec": {
        "name": "lookup",
        "inputSchema": {"json": {"type": "object", "properties": {}, "required": []}},
    }
}
_PNG = io.BytesIO()
Image.new("RGB", (1, 1)).save(_PNG, format="PNG")
PNG_1X1 = _PNG.getvalue()


def refusal(
    model_id: str, body: dict[str, Any], **options: Any
) -> converse.ConverseValidationError:
    with pytest.raises(converse.ConverseValidationError) as exc:
        converse.check_request(body, model_id=model_id, **options)
    return exc.value


@pytest.mark.parametrize(
    ("model_id", "extra", "message"),
    [
        (HAIKU, {"inferenceConfig": {"maxTokens": 4_097}}, "The maximum tokens you requested exceeds the model limit of 4096. Try again with a maximum tokens value that is lower than 4096."),
        (TITAN, {"toolConfig": {"tools": [TOOL]}}, "This model doesn't support tool use."),
        (TITAN, {"system": [{"text": "be brief"}]}, "This model doesn't support system messages. Try again without system messages."),
        (MISTRAL_LARGE, {"toolConfig": {"tools": [TOOL], "toolChoice": {"tool": {"name": "lookup"}}}}, "This model doesn't support the toolConfig.toolChoice.tool field. Remove toolConfig.toolChoice.tool and try again."),
        (HAIKU, {"toolConfig": {"tools": [TOOL], "toolChoice": {"tool": {"name": "other"}}}}, "The model returned the following errors: tool_choice.name: Tool 'other' not found in provided tools"),
        (HAIKU, {"additionalModelRequestFields": {"cacheControl": {"type": "ephemeral"}}}, "Malformed input request: #: extraneous key [cacheControl] is not permitted, please reformat your input and try again."),
        (HAIKU_35, {"messages": [{"role": "user", "content": [{"text": "look"}, {"image": {"format": "png", "source": {"bytes": PNG_1X1}}}]}]}, "This model doesn't support the image content block that you provided. Update the content block and try again."),
        (NOVA_LITE, {"toolConfig": {"tools": [TOOL, {"cachePoint": {"type": "default"}}]}}, "Malformed input request: #/toolConfig/tools/1: extraneous key [cachePoint] is not permitted, please reformat your input and try again."),
        (HAIKU_35, {"system": [{"text": "a"}, {"cachePoint": {"type": "default"}}] * 5}, "The model returned the following errors: A maximum of 4 blocks with cache_control may be provided. Found 5."),
    ],
    ids=[
        "max-tokens-above-the-model-limit",
        "tools-on-a-model-without-tool-use",
        "system-prompt-on-titan",
        "forced-tool-on-mistral-large",
        "forced-tool-that-is-not-there",
        "unknown-additional-field",
        "image-on-claude-3-5-haiku",
        "cache-point-in-nova-tools",
        "five-cache-points",
    ],
)  # fmt: skip
def test_each_model_refuses_what_it_does_not_support(
    model_id: str, extra: dict[str, Any], message: str
) -> None:
    error = refusal(model_id, {"messages": ASK, **extra})
    assert (error.code, error.status, error.message) == ("ValidationException", 400, message)


def test_what_a_model_supports_is_accepted() -> None:
    converse.check_request(
        {
            "messages": ASK,
            "system": [{"text": "be brief"}],
            "inferenceConfig": {"maxTokens": 4_096, "temperature": 1, "topP": 0},
            "toolConfig": {"tools": [TOOL], "toolChoice": {"tool": {"name": "lookup"}}},
            "additionalModelRequestFields": {"top_k": 5},
        },
        model_id=HAIKU,
        streaming=True,
    )


def test_streamed_tool_use_is_refused_where_the_model_has_none() -> None:
    body = {"messages": ASK, "toolConfig": {"tools": [TOOL]}}
    converse.check_request(body, model_id=MISTRAL_LARGE)  # Converse: fine
    error = refusal(MISTRAL_LARGE, body, streaming=True)
    assert error.message == "This model doesn't support tool use in streaming mode."


def test_a_cache_point_on_a_model_without_prompt_caching_is_access_denied() -> None:
    body = {"messages": ASK, "system": [{"text": "x"}, {"cachePoint": {"type": "default"}}]}
    error = refusal(HAIKU, body)
    assert (error.code, error.status) == ("AccessDeniedException", 403)
    assert error.message == (
        "You invoked an unsupported model or your request did not allow prompt caching. "
        "See the documentation for more information."
    )
    converse.check_request(body, model_id=HAIKU_35)


def test_max_tokens_below_one_names_the_constraint() -> None:
    error = refusal(HAIKU, {"messages": ASK, "inferenceConfig": {"maxTokens": 0}})
    assert error.message == (
        "1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to "
        "satisfy constraint: Member must have value greater than or equal to 1"
    )


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5}, "b": {"type": "number", "exclusiveMaximum": -1}}, "required": ["a", "b"]},
        {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "minItems": 3, "maxItems": 3}}, "required": ["tags"]},
        {"type": "object", "properties": {"when": {"type": "string", "format": "date"}, "mail": {"type": "string", "format": "email"}}, "required": ["when", "mail"]},
        {"type": "object", "properties": {"x": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Point"}]}}, "required": ["x"], "$defs": {"Point": {"type": "object", "properties": {"lat": {"type": "number"}, "ok": {"type": "boolean"}}, "required": ["lat", "ok"]}}},
        {"type": "object", "properties": {"kind": {"const": "fixed"}, "level": {"type": ["null", "integer"], "maximum": -3}, "name": {"type": "string", "minLength": 40}}, "required": ["kind", "level", "name"]},
        {"type": "object", "properties": {"setup": {"type": "string"}, "punchline": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}}, "required": ["setup"]},
    ],
)  # fmt: skip
def test_a_tool_input_always_validates_against_its_schema(schema: dict[str, Any]) -> None:
    spec = {"name": "tool", "inputSchema": {"json": schema}}
    value = converse.tool_input(spec, "please use tool", b"\x07" * 32)
    jsonschema.validate(value, schema)


def test_arguments_that_break_the_schema_are_not_used() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "maximum": 10}},
        "required": ["n"],
    }
    spec = {"name": "f", "inputSchema": {"json": schema}}
    assert converse.tool_input(spec, "f(7)", b"\0" * 32) == {"n": 7}
    assert converse.tool_input(spec, "f(n=99)", b"\0" * 32) == {"n": 0}


@pytest.mark.parametrize("limit", range(1, 12))
def test_truncation_keeps_exactly_the_tokens_asked_for(limit: int) -> None:
    answer = "Deterministic answers keep tests repeatable. (ref 0a1b2c3d)"
    text, reason = truncate(answer, limit)
    assert (count_tokens(text), reason) == (limit, "max_tokens")
    assert answer.startswith(text)


def test_a_stop_sequence_past_max_tokens_is_not_reached() -> None:
    answer = "one two three four five six"
    assert stop_at_sequences(answer, ["five"], 2) == ("one two", "max_tokens")
    assert stop_at_sequences(answer, ["five"], None) == ("one two three four ", "stop_sequence")


def _tools(*names: str) -> dict[str, Any]:
    return {
        "tools": [
            {"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object"}}}} for n in names
        ]
    }


@pytest.mark.parametrize(
    ("text", "called"),
    [
        ("What is the weather in San Francisco, CA?", "get_weather"),
        ("Please run magic_function(3).", "magic_function"),
        ("What does getStockPrice say?", "getStockPrice"),
        ("Tell me a story.", None),
    ],
)
def test_auto_calls_the_tool_the_last_user_turn_names(text: str, called: str | None) -> None:
    body = {
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "toolConfig": _tools("magic_function", "get_weather", "getStockPrice"),
    }
    spec = converse.tool_to_call(body)
    assert (spec or {}).get("name") == called


def test_quoted_text_fills_string_arguments_in_order() -> None:
    schema = {
        "type": "object",
        "properties": {"customer_name": {"type": "string"}, "description": {"type": "string"}},
        "required": ["customer_name", "description"],
    }
    spec = {"name": "unicode_customer", "inputSchema": {"json": schema}}
    value = converse.tool_input(
        spec, "Create a customer named '你好啊集团' (Hello Group)", b"\1" * 32
    )
    assert value["customer_name"] == "你好啊集团"
    jsonschema.validate(value, schema)
