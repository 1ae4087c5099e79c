"""ConverseStream's events as the emulator builds them, read back by botocore's own
event-stream parser for bedrock-runtime (issue 21)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser

from embedded_aws import converse
from embedded_aws.bedrock import BedrockEmulator
from embedded_aws.bedrock_answers import (
    block_tokens,
    converse_stream_events,
    stream_exception,
)
from embedded_aws.bedrock_operations import stream_exceptions

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "The weather forecast for a city.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            }
        },
    }
}


class _Wire:
    """An HTTP body as botocore reads it: the bytes in small pieces, as a network splits them."""

    def __init__(self, data: bytes, piece: int = 7) -> None:
        self._data, self._piece = data, piece

    def stream(self) -> Iterator[bytes]:
        for i in range(0, len(self._data), self._piece):
            yield self._data[i : i + self._piece]

    def close(self) -> None:
        pass


def botocore_stream(data: bytes) -> Iterator[dict[str, Any]]:
    """A ConverseStream body as botocore's bedrock-runtime client reads it."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    output: Any = model.operation_model("ConverseStream").output_shape
    return iter(
        EventStream(
            _Wire(data), output.members["stream"], EventStreamJSONParser(), "ConverseStream"
        )
    )


def botocore_reads(data: bytes) -> list[dict[str, Any]]:
    """The events botocore yields for a ConverseStream body."""
    return list(botocore_stream(data))


def answered(body: dict[str, Any]) -> dict[str, Any]:
    """Converse's answer to ``body`` from the emulated model, with metrics."""
    result = converse.answer(HAIKU, body, account_id=None, cache=converse.PromptCache())
    return {**result, "metrics": {"latencyMs": 12}}


def ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}]}


def test_a_text_answer_streams_as_bedrock_orders_it_and_botocore_reads_it() -> None:
    result = answered(ask("Tell me about tenants."))
    events = converse_stream_events(result)
    read = botocore_reads(b"".join(e.encode() for e in events))
    kinds = [next(iter(e)) for e in read]
    deltas = kinds.count("contentBlockDelta")
    assert kinds == [
        "messageStart",
        *["contentBlockDelta"] * deltas,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert read[0] == {"messageStart": {"role": "assistant"}}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in read[1 : 1 + deltas])
    assert text == result["output"]["message"]["content"][0]["text"]
    assert read[-2] == {"messageStop": {"stopReason": "end_turn"}}
    assert read[-1] == {"metadata": {"usage": result["usage"], "metrics": {"latencyMs": 12}}}


def test_the_tokens_the_events_carry_add_up_to_the_answers_output_tokens() -> None:
    text = answered(ask("Tell me about tenants."))
    tool = answered(
        {
            **ask("Weather in 'Paris'?"),
            "toolConfig": {"tools": [WEATHER], "toolChoice": {"any": {}}},
        }
    )
    for result in (text, tool):
        carried = [e.output_tokens for e in converse_stream_events(result)]
        assert sum(carried) == result["usage"]["outputTokens"] > 0
        assert all(tokens >= 0 for tokens in carried)
    # A text delta carries three tokens (the last one the rest).
    deltas = [e for e in converse_stream_events(text) if e.is_delta]
    assert [e.output_tokens for e in deltas[:-1]] == [3] * (len(deltas) - 1)


def test_a_tool_use_streams_its_start_then_its_input_as_partial_json() -> None:
    result = answered(
        {
            **ask("Weather in 'Paris'?"),
            "toolConfig": {"tools": [WEATHER], "toolChoice": {"any": {}}},
        }
    )
    [block] = result["output"]["message"]["content"]
    read = botocore_reads(b"".join(e.encode() for e in converse_stream_events(result)))
    assert read[1] == {
        "contentBlockStart": {
            "contentBlockIndex": 0,
            "start": {
                "toolUse": {"toolUseId": block["toolUse"]["toolUseId"], "name": "get_weather"}
            },
        }
    }
    pieces = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in read
        if "contentBlockDelta" in e
    ]
    assert len(pieces) > 1
    assert json.loads("".join(pieces)) == block["toolUse"]["input"] == {"city": "Paris", "days": 0}
    assert result["usage"]["outputTokens"] == block_tokens(block)
    assert read[-2] == {"messageStop": {"stopReason": "tool_use"}}


def test_the_metadata_keeps_the_answers_trace_and_service_tier() -> None:
    trace: dict[str, Any] = {"guardrail": {"inputAssessment": {"gr1": {}}}}
    result = {**answered(ask("hello")), "trace": trace, "serviceTier": {"type": "priority"}}
    [metadata] = [e for e in converse_stream_events(result) if e.event_type == "metadata"]
    assert metadata.payload == {
        "usage": result["usage"],
        "metrics": {"latencyMs": 12},
        "trace": trace,
        "serviceTier": {"type": "priority"},
    }
    assert botocore_reads(metadata.encode())[0]["metadata"]["serviceTier"] == {"type": "priority"}


def test_a_stream_exception_is_raised_by_botocore_after_the_events_before_it() -> None:
    events = converse_stream_events(answered(ask("hello")))
    data = b"".join(e.encode() for e in events[:2])
    data += stream_exception("modelStreamErrorException", "A streaming error occurred.")
    received: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as raised:
        for event in botocore_stream(data):
            received.append(event)
    assert [next(iter(e)) for e in received] == ["messageStart", "contentBlockDelta"]
    assert raised.value.response["Error"] == {
        "Code": "modelStreamErrorException",
        "Message": "A streaming error occurred.",
    }


def test_converse_streams_exceptions_come_from_botocores_model() -> None:
    assert stream_exceptions("ConverseStream") == {
        "internalServerException": 500,
        "modelStreamErrorException": 424,
        "validationException": 400,
        "throttlingException": 429,
        "serviceUnavailableException": 503,
    }
    assert stream_exceptions("Converse") == {}


def test_fail_stream_takes_only_converse_streams_exceptions() -> None:
    emulator = BedrockEmulator()
    with pytest.raises(ValueError, match="no ConverseStream exception"):
        emulator.fail_stream("ModelTimeoutException")  # InvokeModel's stream has it, not Converse's
    emulator.fail_stream("ThrottlingException", after_events=0, count=2)
    [fault] = emulator.fault_state()["faults"]
    assert (fault["code"], fault["status"], fault["after_events"], fault["remaining"]) == (
        "throttlingException",
        429,
        0,
        2,
    )
