"""InvokeModel's native request and response bodies, for the model families the emulator speaks.

InvokeModel and InvokeModelWithResponseStream carry each model family's own
body, where Converse has one shape for all. The emulator answers two families,
the ones this product's tenants use:

* **Anthropic Claude**, the Messages API as Bedrock serves it
  (``anthropic_version: bedrock-2023-05-31``, ``max_tokens``, ``messages``,
  ``system``, ``stop_sequences``, ``temperature``, ``tools`` ...), answered
  ``{id, type: message, role, content, model, stop_reason, stop_sequence,
  usage}``, and streamed as ``message_start`` ... ``message_stop`` events;
* **Amazon Nova** text models (``{schemaVersion, messages, system,
  inferenceConfig, toolConfig}``), answered ``{output: {message}, stopReason,
  usage}`` and streamed as ``messageStart`` ... ``metadata`` events.

A native body is checked as Bedrock checks it (its JSON-schema messages,
``Malformed input request: #: required key [max_tokens] not found, please
reformat your input and try again.``), then turned into a Converse request, so
the answer, its token counts and its caching are Converse's
(``embedded_aws.converse``), and the Converse result is turned back into the
family's native response. Other families (Titan, Llama, Mistral ...) are
refused with a ValidationException that names what is not emulated.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any, NoReturn

from moto.core.eventstream import EventStreamEncoder

ANTHROPIC_VERSION = "bedrock-2023-05-31"
NOVA_SCHEMA_VERSION = "messages-v1"

# Top-level keys Bedrock's schema for each family permits; anything else is an
# "extraneous key" (``model`` and ``stream``, which Anthropic's own API takes, included).
_ANTHROPIC_KEYS = frozenset(
    {
        "anthropic_version",
        "anthropic_beta",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
    }
)
_NOVA_KEYS = frozenset({"schemaVersion", "messages", "system", "inferenceConfig", "toolConfig"})
_NOVA_INFERENCE_KEYS = frozenset(
    {"max_new_tokens", "temperature", "top_p", "top_k", "stopSequences"}
)
# Nova models that take a text conversation (Canvas, Reel, Sonic and the embeddings do not).
_NOVA_TEXT_MODEL_RE = re.compile(r"amazon\.nova-(?:\d+-)?(?:micro|lite|pro|premier)-")


class ModelFamily(StrEnum):
    """A native body format the emulator answers in."""

    ANTHROPIC = "Anthropic Claude (Messages API)"
    NOVA = "Amazon Nova"


class NativeBodyError(Exception):
    """A native body (or model family) Bedrock answers with ValidationException and this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def family_of(foundation_model_id: str) -> ModelFamily:
    """The native format of a foundation model; NativeBodyError for one not emulated."""
    if foundation_model_id.startswith("anthropic."):
        return ModelFamily.ANTHROPIC
    if _NOVA_TEXT_MODEL_RE.match(foundation_model_id):
        return ModelFamily.NOVA
    families = " and ".join(family.value for family in ModelFamily)
    raise NativeBodyError(
        f"The embedded cloud answers InvokeModel in the native formats of {families} "
        f"text models only; the native format of {foundation_model_id} is not emulated. "
        "Use Converse for this model."
    )


def parse_body(body: bytes | str) -> dict[str, Any]:
    """A native body as JSON; NativeBodyError for one that is not a JSON object."""
    try:
        native = json.loads(body or b"{}")
    except ValueError:
        raise NativeBodyError(
            "Malformed input request, please reformat your input and try again."
        ) from None
    if not isinstance(native, dict):
        _malformed([f"#: expected type: JSONObject, found: {_json_type(native)}"])
    return dict(native)


def converse_request(family: ModelFamily, native: Mapping[str, Any]) -> dict[str, Any]:
    """The Converse request a native body asks for; NativeBodyError where Bedrock refuses it."""
    if family is ModelFamily.ANTHROPIC:
        return _anthropic_request(native)
    return _nova_request(native)


# -- checking a native body as Bedrock's schema does -----------------------------------------


def _malformed(violations: Sequence[str]) -> NoReturn:
    """Raise Bedrock's message for schema violations (its validator's text, concatenated)."""
    raise NativeBodyError(
        f"Malformed input request: {''.join(violations)}, please reformat your input and try again."
    )


def _json_type(value: Any) -> str:
    """The validator's name for a JSON value's type."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "BigDecimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    if isinstance(value, dict):
        return "JSONObject"
    return "Null"


def _typed(
    body: Mapping[str, Any], key: str, kind: str, check: Callable[[Any], bool], path: str = "#"
) -> list[str]:
    """A type violation of ``body[key]`` if present and of the wrong type."""
    if key in body and not check(body[key]):
        return [f"{path}/{key}: expected type: {kind}, found: {_json_type(body[key])}"]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _in_range(
    body: Mapping[str, Any], key: str, low: float, high: float | None, path: str = "#"
) -> list[str]:
    """Range violations of a numeric ``body[key]``, in the validator's words."""
    value = body.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return []
    if float(value) < low:
        return [f"{path}/{key}: {value} is not greater or equal to {low}"]
    if high is not None and float(value) > high:
        return [f"{path}/{key}: {value} is not less or equal to {high}"]
    return []


def _extraneous(body: Mapping[str, Any], allowed: frozenset[str], path: str = "#") -> list[str]:
    return [
        f"{path}: extraneous key [{key}] is not permitted" for key in body if key not in allowed
    ]


# -- Anthropic Claude ------------------------------------------------------------------------


def _anthropic_request(native: Mapping[str, Any]) -> dict[str, Any]:
    violations = [
        f"#: required key [{key}] not found"
        for key in ("max_tokens", "anthropic_version", "messages")
        if key not in native
    ]
    violations += _extraneous(native, _ANTHROPIC_KEYS)
    violations += _typed(native, "max_tokens", "Integer", _is_int)
    violations += _in_range(native, "max_tokens", 1, None)
    violations += _typed(native, "messages", "JSONArray", lambda v: isinstance(v, list))
    violations += _typed(native, "stop_sequences", "JSONArray", lambda v: isinstance(v, list))
    violations += _typed(
        native, "system", "String or JSONArray", lambda v: isinstance(v, str | list)
    )
    for key, high in (("temperature", 1), ("top_p", 1), ("top_k", None)):
        violations += _typed(native, key, "Number", _is_number)
        violations += _in_range(native, key, 0, high)
    if violations:
        if "messages" in native:
            # Bedrock's schema has a second branch, the legacy text completion, that
            # a body with messages must not match; its validator reports it first.
            violations.insert(
                0, '#: subject must not be valid against schema {"required":["messages"]}'
            )
        _malformed(violations)
    if native["anthropic_version"] != ANTHROPIC_VERSION:
        raise NativeBodyError(f"Invalid API version: {native['anthropic_version']}")
    request: dict[str, Any] = {
        "messages": [
            {"role": message.get("role"), "content": _anthropic_content(message.get("content"))}
            if isinstance(message, dict)
            else message
            for message in native["messages"]
        ],
        "inferenceConfig": _present(
            maxTokens=native["max_tokens"],
            temperature=native.get("temperature"),
            topP=native.get("top_p"),
            stopSequences=native.get("stop_sequences"),
        ),
    }
    system = native.get("system")
    if system:
        request["system"] = _anthropic_content(system)
    if "top_k" in native:
        request["additionalModelRequestFields"] = {"top_k": native["top_k"]}
    if native.get("tools"):
        request["toolConfig"] = _anthropic_tools(native["tools"], native.get("tool_choice"))
    return request


def _present(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _anthropic_content(content: Any) -> list[dict[str, Any]]:
    """Anthropic content (a string or typed blocks) as Converse content blocks."""
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise NativeBodyError(
            "Malformed input request: #/messages/content: expected type: String or JSONArray, "
            f"found: {_json_type(content)}, please reformat your input and try again."
        )
    blocks: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            raise NativeBodyError("messages: each content block must be an object")
        blocks.append(_anthropic_block(block))
        if block.get("cache_control"):
            blocks.append({"cachePoint": {"type": "default"}})
    return blocks


def _anthropic_block(block: Mapping[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"text": block.get("text")}
    if kind in ("image", "document"):
        source = block.get("source") or {}
        media_type = str(source.get("media_type", ""))
        return {
            str(kind): {
                "format": media_type.rpartition("/")[2],
                "source": {"bytes": source.get("data", "")},
                **({"name": "document"} if kind == "document" else {}),
            }
        }
    if kind == "tool_use":
        return {
            "toolUse": {
                "toolUseId": block.get("id"),
                "name": block.get("name"),
                "input": block.get("input", {}),
            }
        }
    if kind == "tool_result":
        result = block.get("content", "")
        content = [{"text": result}] if isinstance(result, str) else _anthropic_content(result)
        return {
            "toolResult": {
                "toolUseId": block.get("tool_use_id"),
                "content": content,
                **({"status": "error"} if block.get("is_error") else {}),
            }
        }
    raise NativeBodyError(
        f"The embedded cloud does not emulate Anthropic content blocks of type {kind!r} "
        "in InvokeModel (text, image, document, tool_use and tool_result are)."
    )


def _anthropic_tools(tools: Any, choice: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "tools": [
            {
                "toolSpec": _present(
                    name=tool.get("name"),
                    description=tool.get("description"),
                    inputSchema={"json": tool.get("input_schema", {})},
                )
            }
            for tool in tools
            if isinstance(tool, dict)
        ]
    }
    if isinstance(choice, dict):
        kind = choice.get("type")
        config["toolChoice"] = (
            {"tool": {"name": choice.get("name")}} if kind == "tool" else {kind: {}}
        )
    return config


def _anthropic_model_name(foundation_model_id: str) -> str:
    """``anthropic.claude-3-haiku-20240307-v1:0`` answers as ``claude-3-haiku-20240307``."""
    return re.sub(r"-v\d+(?::\d+)?$", "", foundation_model_id.removeprefix("anthropic."))


def _anthropic_usage(usage: Mapping[str, int]) -> dict[str, int]:
    native = {"input_tokens": usage["inputTokens"], "output_tokens": usage["outputTokens"]}
    if "cacheWriteInputTokens" in usage:
        native["cache_creation_input_tokens"] = usage["cacheWriteInputTokens"]
    if "cacheReadInputTokens" in usage:
        native["cache_read_input_tokens"] = usage["cacheReadInputTokens"]
    return native


def _anthropic_block_out(block: Mapping[str, Any]) -> dict[str, Any]:
    if "toolUse" in block:
        tool = block["toolUse"]
        return {
            "type": "tool_use",
            "id": tool["toolUseId"],
            "name": tool["name"],
            "input": tool.get("input", {}),
        }
    return {"type": "text", "text": block.get("text", "")}


def _stop_sequence(result: Mapping[str, Any], request: Mapping[str, Any]) -> str | None:
    """Which stop sequence ended the answer: Converse's own word for it, else the only one asked."""
    if result["stopReason"] != "stop_sequence":
        return None
    fields = result.get("additionalModelResponseFields") or {}
    if isinstance(fields.get("stop_sequence"), str):
        return str(fields["stop_sequence"])
    asked = (request.get("inferenceConfig") or {}).get("stopSequences") or []
    return str(asked[0]) if len(asked) == 1 else None


# -- Amazon Nova -----------------------------------------------------------------------------


def _nova_request(native: Mapping[str, Any]) -> dict[str, Any]:
    violations = [] if "messages" in native else ["#: required key [messages] not found"]
    violations += _extraneous(native, _NOVA_KEYS)
    violations += _typed(native, "messages", "JSONArray", lambda v: isinstance(v, list))
    violations += _typed(native, "system", "JSONArray", lambda v: isinstance(v, list))
    for index, message in enumerate(native.get("messages") or []):
        if isinstance(message, dict):
            violations += _typed(
                message,
                "content",
                "JSONArray",
                lambda v: isinstance(v, list),
                f"#/messages/{index}",
            )
    inference = native.get("inferenceConfig", {})
    violations += _typed(native, "inferenceConfig", "JSONObject", lambda v: isinstance(v, dict))
    if isinstance(inference, dict):
        path = "#/inferenceConfig"
        violations += _extraneous(inference, _NOVA_INFERENCE_KEYS, path)
        violations += _typed(inference, "max_new_tokens", "Integer", _is_int, path)
        violations += _in_range(inference, "max_new_tokens", 1, None, path)
        for key, high in (("temperature", 1), ("top_p", 1), ("top_k", None)):
            violations += _typed(inference, key, "Number", _is_number, path)
            violations += _in_range(inference, key, 0, high, path)
    schema_version = native.get("schemaVersion", NOVA_SCHEMA_VERSION)
    if schema_version != NOVA_SCHEMA_VERSION:
        violations.append(f"#/schemaVersion: {schema_version} is not a valid enum value")
    if violations:
        _malformed(violations)
    inference = native.get("inferenceConfig") or {}
    request: dict[str, Any] = {
        "messages": native["messages"],
        "inferenceConfig": _present(
            maxTokens=inference.get("max_new_tokens"),
            temperature=inference.get("temperature"),
            topP=inference.get("top_p"),
            stopSequences=inference.get("stopSequences"),
        ),
    }
    if native.get("system"):
        request["system"] = native["system"]
    if "top_k" in inference:
        request["additionalModelRequestFields"] = {"inferenceConfig": {"topK": inference["top_k"]}}
    if native.get("toolConfig"):
        request["toolConfig"] = native["toolConfig"]
    return request


def _nova_usage(usage: Mapping[str, int]) -> dict[str, int]:
    return {
        "inputTokens": usage["inputTokens"],
        "outputTokens": usage["outputTokens"],
        "totalTokens": usage["totalTokens"],
        "cacheReadInputTokenCount": usage.get("cacheReadInputTokens", 0),
        "cacheWriteInputTokenCount": usage.get("cacheWriteInputTokens", 0),
    }


# -- the answer ------------------------------------------------------------------------------


def response_body(
    family: ModelFamily,
    foundation_model_id: str,
    request: Mapping[str, Any],
    result: Mapping[str, Any],
    message_id: str,
) -> dict[str, Any]:
    """InvokeModel's native answer for a Converse ``result`` (the body of the HTTP 200)."""
    content = result["output"]["message"]["content"]
    if family is ModelFamily.ANTHROPIC:
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": _anthropic_model_name(foundation_model_id),
            "content": [_anthropic_block_out(block) for block in content],
            "stop_reason": result["stopReason"],
            "stop_sequence": _stop_sequence(result, request),
            "usage": _anthropic_usage(result["usage"]),
        }
    return {
        "output": {"message": {"role": "assistant", "content": list(content)}},
        "stopReason": result["stopReason"],
        "usage": _nova_usage(result["usage"]),
    }


def response_headers(result: Mapping[str, Any]) -> dict[str, str]:
    """The token and latency headers Bedrock adds to every InvokeModel answer."""
    usage = result["usage"]
    headers = {
        "X-Amzn-Bedrock-Input-Token-Count": str(usage["inputTokens"]),
        "X-Amzn-Bedrock-Output-Token-Count": str(usage["outputTokens"]),
        "X-Amzn-Bedrock-Invocation-Latency": str(result["metrics"]["latencyMs"]),
    }
    if "cacheReadInputTokens" in usage:
        headers["X-Amzn-Bedrock-Cache-Read-Input-Token-Count"] = str(usage["cacheReadInputTokens"])
    if "cacheWriteInputTokens" in usage:
        headers["X-Amzn-Bedrock-Cache-Write-Input-Token-Count"] = str(
            usage["cacheWriteInputTokens"]
        )
    return headers


def _invocation_metrics(result: Mapping[str, Any]) -> dict[str, int]:
    """``amazon-bedrock-invocationMetrics``: what the last stream event adds for the caller."""
    usage, latency = result["usage"], result["metrics"]["latencyMs"]
    metrics = {
        "inputTokenCount": usage["inputTokens"],
        "outputTokenCount": usage["outputTokens"],
        "invocationLatency": latency,
        "firstByteLatency": latency,
    }
    if "cacheReadInputTokens" in usage:
        metrics["cacheReadInputTokenCount"] = usage["cacheReadInputTokens"]
    if "cacheWriteInputTokens" in usage:
        metrics["cacheWriteInputTokenCount"] = usage["cacheWriteInputTokens"]
    return metrics


def _text_deltas(text: str) -> list[str]:
    """A few words per delta, as a model streams sub-word chunks."""
    words = text.split(" ")
    return [
        " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "")
        for i in range(0, len(words), 3)
    ]


def _anthropic_events(
    foundation_model_id: str,
    request: Mapping[str, Any],
    result: Mapping[str, Any],
    message_id: str,
) -> Iterator[dict[str, Any]]:
    answer = response_body(ModelFamily.ANTHROPIC, foundation_model_id, request, result, message_id)
    usage = answer["usage"]
    # Output tokens so far: Claude reports 1 at the start and the total in message_delta.
    start_usage = {**usage, "output_tokens": 1}
    message = {**answer, "content": [], "stop_reason": None, "stop_sequence": None}
    yield {"type": "message_start", "message": {**message, "usage": start_usage}}
    for index, block in enumerate(answer["content"]):
        if block["type"] == "tool_use":
            yield {
                "type": "content_block_start",
                "index": index,
                "content_block": {**block, "input": {}},
            }
            yield {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
            }
        else:
            yield {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
            for delta in _text_deltas(block["text"]):
                yield {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": delta},
                }
        yield {"type": "content_block_stop", "index": index}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": answer["stop_reason"], "stop_sequence": answer["stop_sequence"]},
        "usage": {"output_tokens": usage["output_tokens"]},
    }
    yield {"type": "message_stop", "amazon-bedrock-invocationMetrics": _invocation_metrics(result)}


def _nova_events(result: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield {"messageStart": {"role": "assistant"}}
    for index, block in enumerate(result["output"]["message"]["content"]):
        if "toolUse" in block:
            tool = block["toolUse"]
            yield {
                "contentBlockStart": {
                    "start": {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}},
                    "contentBlockIndex": index,
                }
            }
            yield {
                "contentBlockDelta": {
                    "delta": {"toolUse": {"input": json.dumps(tool.get("input", {}))}},
                    "contentBlockIndex": index,
                }
            }
        else:
            for delta in _text_deltas(block.get("text", "")):
                yield {"contentBlockDelta": {"delta": {"text": delta}, "contentBlockIndex": index}}
        yield {"contentBlockStop": {"contentBlockIndex": index}}
    yield {"messageStop": {"stopReason": result["stopReason"]}}
    usage = _nova_usage(result["usage"])
    yield {
        "metadata": {"usage": usage, "metrics": {}, "trace": {}},
        "amazon-bedrock-invocationMetrics": _invocation_metrics(result),
    }


_ENCODER = EventStreamEncoder()  # stateless: one serves every stream


def _chunk(event: Mapping[str, Any]) -> bytes:
    """One ``chunk`` event of the response stream: the native event, base64 in ``bytes``."""
    payload = {"bytes": base64.b64encode(json.dumps(event).encode()).decode()}
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return _ENCODER.encode_message(headers, json.dumps(payload).encode())


def response_stream(
    family: ModelFamily,
    foundation_model_id: str,
    request: Mapping[str, Any],
    result: Mapping[str, Any],
    message_id: str,
) -> bytes:
    """InvokeModelWithResponseStream's event stream for a Converse ``result``."""
    events = (
        _anthropic_events(foundation_model_id, request, result, message_id)
        if family is ModelFamily.ANTHROPIC
        else _nova_events(result)
    )
    return b"".join(_chunk(event) for event in events)
