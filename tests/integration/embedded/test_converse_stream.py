"""ConverseStream on the embedded cloud as Bedrock streams it: events sent as they are
produced, a client that leaves midway logged as ``cancelled``, a stream that fails
midway with an exception event; checked with raw boto3 and with langchain-aws's own
``ChatBedrockConverse.stream``/``astream`` (issue 21)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EventStreamError
from langchain_aws import ChatBedrockConverse
from langchain_core.messages import AIMessageChunk

from contracts.limits import METER_DIMENSION, METER_NAMESPACE, OUTPUT_TOKENS
from embedded_aws import EmbeddedCloud
from embedded_aws.bedrock import BedrockCall
from tests.integration.embedded.conftest import (
    HAIKU,
    OPS,
    REGION,
    allow,
    create_role,
    policy,
    session_for,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-converse-stream")

PROMPT = "Stream this answer, please."
# Long enough that a stream is still being produced when its client leaves: the
# latency is spread over the deltas, so the first event leaves at once.
STREAM_LATENCY_MS = 2000
# How long a test waits for the server to notice a client that left (its next write).
SERVER_NOTICES_WITHIN_S = 15.0
WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "The weather forecast for a city.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            }
        },
    }
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS]) as embedded:
        create_role(
            embedded,
            OPS,
            "bedrock-invoker-acme",
            trust({"AWS": f"arn:aws:iam::{OPS}:root"}),
            policy(
                allow(
                    ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                    f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}",
                )
            ),
        )
        yield embedded


@pytest.fixture(autouse=True)
def clean(cloud: EmbeddedCloud) -> Iterator[None]:
    cloud.bedrock.clear_calls()
    cloud.bedrock.clear_faults()
    yield
    cloud.bedrock.clear_faults()


@pytest.fixture(scope="module")
def session(cloud: EmbeddedCloud) -> boto3.Session:
    return session_for(cloud, OPS, f"arn:aws:iam::{OPS}:role/bedrock-invoker-acme", "acme")


@pytest.fixture(scope="module")
def client(cloud: EmbeddedCloud, session: boto3.Session) -> Any:
    # One attempt: a stream error must reach the test, not a retry.
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url, config=config)


@pytest.fixture(scope="module")
def model(cloud: EmbeddedCloud, session: boto3.Session, client: Any) -> ChatBedrockConverse:
    return ChatBedrockConverse(
        model=HAIKU,
        region_name=REGION,
        client=client,
        bedrock_client=session.client("bedrock", endpoint_url=cloud.endpoint_url),
        max_tokens=256,
    )


def ask(text: str = PROMPT) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def event_type(event: dict[str, Any]) -> str:
    [name] = event
    return str(name)


def text_of(chunks: list[AIMessageChunk]) -> str:
    return "".join(
        c.content
        if isinstance(c.content, str)
        else "".join(p.get("text", "") for p in c.content if isinstance(p, dict))
        for c in chunks
    )


def logged_call(cloud: EmbeddedCloud) -> BedrockCall:
    """The one call in the log, once its stream has ended on the server (a client that
    leaves is noticed at the server's next write)."""
    deadline = time.monotonic() + SERVER_NOTICES_WITHIN_S
    while not (calls := cloud.bedrock.calls()) and time.monotonic() < deadline:
        time.sleep(0.02)
    [call] = calls
    return call


def output_tokens_metered(cloud: EmbeddedCloud) -> float:
    """The AWS/Bedrock OutputTokenCount the limit enforcer's meter reads for HAIKU."""
    now = datetime.now(UTC)
    stats = cloud.client("cloudwatch", OPS).get_metric_statistics(
        Namespace=METER_NAMESPACE,
        MetricName=OUTPUT_TOKENS,
        Dimensions=[{"Name": METER_DIMENSION, "Value": HAIKU}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=7200,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in stats["Datapoints"]))


# -- the event sequence --------------------------------------------------------------------


def test_raw_stream_is_bedrocks_event_sequence_with_the_converse_answer(
    cloud: EmbeddedCloud, client: Any
) -> None:
    whole = client.converse(modelId=HAIKU, messages=ask())
    cloud.bedrock.clear_calls()
    events = list(client.converse_stream(modelId=HAIKU, messages=ask())["stream"])
    kinds = [event_type(e) for e in events]
    deltas = kinds.count("contentBlockDelta")
    assert deltas > 1
    assert kinds == [
        "messageStart",
        *["contentBlockDelta"] * deltas,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[0]["messageStart"] == {"role": "assistant"}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1 : 1 + deltas])
    assert text == whole["output"]["message"]["content"][0]["text"]
    assert events[-2]["messageStop"] == {"stopReason": "end_turn"}
    metadata = events[-1]["metadata"]
    assert metadata["usage"] == whole["usage"]
    assert metadata["metrics"]["latencyMs"] >= 1
    call = logged_call(cloud)
    assert (call.operation, call.outcome, call.http_status) == ("ConverseStream", "success", 200)
    assert (call.input_tokens, call.output_tokens, call.stop_reason) == (
        whole["usage"]["inputTokens"],
        whole["usage"]["outputTokens"],
        "end_turn",
    )


def test_first_event_leaves_while_the_model_is_still_generating(
    cloud: EmbeddedCloud, client: Any
) -> None:
    cloud.bedrock.set_latency(STREAM_LATENCY_MS)
    arrivals: list[float] = []
    logged_at_first_event: list[BedrockCall] | None = None
    for event in client.converse_stream(modelId=HAIKU, messages=ask())["stream"]:
        arrivals.append(time.perf_counter())
        if logged_at_first_event is None:
            logged_at_first_event = cloud.bedrock.calls()
        last = event
    # The call is logged when its stream ends: at the first event it had not ended.
    assert logged_at_first_event == []
    assert arrivals[0] < arrivals[-1]
    assert last["metadata"]["metrics"]["latencyMs"] >= STREAM_LATENCY_MS
    assert logged_call(cloud).latency_ms == last["metadata"]["metrics"]["latencyMs"]


# -- langchain-aws -------------------------------------------------------------------------


def test_langchain_stream_joins_to_the_invoked_answer_with_its_usage(
    cloud: EmbeddedCloud, model: ChatBedrockConverse
) -> None:
    whole = model.invoke(PROMPT)
    chunks = [c for c in model.stream(PROMPT) if isinstance(c, AIMessageChunk)]
    assert text_of(chunks) == whole.content
    assert [c.usage_metadata for c in chunks if c.usage_metadata] == [whole.usage_metadata]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.response_metadata["stopReason"] == "end_turn"
    assert merged.response_metadata["metrics"]["latencyMs"] >= 1
    assert [(c.operation, c.outcome) for c in cloud.bedrock.calls()] == [
        ("Converse", "success"),
        ("ConverseStream", "success"),
    ]


def test_langchain_astream_joins_to_the_invoked_answer_with_its_usage(
    model: ChatBedrockConverse,
) -> None:
    whole = model.invoke(PROMPT)

    async def collect() -> list[AIMessageChunk]:
        return [c async for c in model.astream(PROMPT) if isinstance(c, AIMessageChunk)]

    chunks = asyncio.run(collect())
    assert text_of(chunks) == whole.content
    assert [c.usage_metadata for c in chunks if c.usage_metadata] == [whole.usage_metadata]


def test_langchain_streams_a_tool_call(model: ChatBedrockConverse) -> None:
    with_tool = model.bind_tools([WEATHER], tool_choice="get_weather")
    whole = with_tool.invoke("What is the weather in 'Paris'?")
    chunks = list(with_tool.stream("What is the weather in 'Paris'?"))
    merged: Any = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert isinstance(merged, AIMessageChunk)
    assert [(c["name"], c["args"], c["id"]) for c in merged.tool_calls] == [
        (c["name"], c["args"], c["id"]) for c in whole.tool_calls
    ]
    assert whole.tool_calls[0]["args"] == {"city": "Paris"}
    assert merged.response_metadata["stopReason"] == "tool_use"
    assert merged.usage_metadata == whole.usage_metadata


def test_langchain_time_to_first_chunk_is_before_the_last(
    cloud: EmbeddedCloud, model: ChatBedrockConverse
) -> None:
    cloud.bedrock.set_latency(STREAM_LATENCY_MS)
    arrivals: list[float] = []
    logged_at_first_chunk: list[BedrockCall] | None = None
    started = time.perf_counter()
    for _ in model.stream(PROMPT):
        arrivals.append(time.perf_counter())
        if logged_at_first_chunk is None:
            logged_at_first_chunk = cloud.bedrock.calls()
    assert logged_at_first_chunk == []
    assert started < arrivals[0] < arrivals[-1]


# -- a client that leaves ------------------------------------------------------------------


def test_breaking_out_of_a_langchain_stream_logs_the_call_cancelled(
    cloud: EmbeddedCloud, model: ChatBedrockConverse, caplog: pytest.LogCaptureFixture
) -> None:
    full = model.invoke(PROMPT).usage_metadata
    assert full is not None
    before = output_tokens_metered(cloud)
    cloud.bedrock.clear_calls()
    cloud.bedrock.set_latency(STREAM_LATENCY_MS)
    with caplog.at_level(logging.DEBUG):
        for chunk in model.stream(PROMPT):
            assert isinstance(chunk, AIMessageChunk)
            break
        call = logged_call(cloud)
    assert (call.operation, call.outcome, call.http_status) == ("ConverseStream", "cancelled", 200)
    assert call.output_tokens < full["output_tokens"]
    assert call.input_tokens == full["input_tokens"]
    assert call.stop_reason is None
    # The meter counts what the cancelled call produced, as Bedrock bills it.
    assert output_tokens_metered(cloud) - before == call.output_tokens
    # The server took the dropped connection quietly: no traceback, no error.
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def test_closing_a_raw_stream_after_its_first_event_logs_the_call_cancelled(
    cloud: EmbeddedCloud, client: Any
) -> None:
    cloud.bedrock.set_latency(STREAM_LATENCY_MS)
    stream = client.converse_stream(modelId=HAIKU, messages=ask())["stream"]
    first = next(iter(stream))
    stream.close()
    assert first == {"messageStart": {"role": "assistant"}}
    call = logged_call(cloud)
    assert call.outcome == "cancelled"
    assert call.latency_ms < STREAM_LATENCY_MS  # it stopped producing


def test_cancelling_an_astream_logs_the_call_cancelled(
    cloud: EmbeddedCloud, model: ChatBedrockConverse
) -> None:
    cloud.bedrock.set_latency(STREAM_LATENCY_MS)

    async def first_chunk_then_close() -> None:
        chunks = model.astream(PROMPT)
        await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]

    asyncio.run(first_chunk_then_close())
    assert logged_call(cloud).outcome == "cancelled"


# -- a stream that fails midway ------------------------------------------------------------


def test_a_stream_failing_midway_raises_event_stream_error_after_chunks(
    cloud: EmbeddedCloud, model: ChatBedrockConverse
) -> None:
    cloud.bedrock.fail_stream("modelStreamErrorException", after_events=3)
    chunks: list[AIMessageChunk] = []
    with pytest.raises(EventStreamError) as raised:
        for chunk in model.stream(PROMPT):
            assert isinstance(chunk, AIMessageChunk)
            chunks.append(chunk)
    assert raised.value.response["Error"] == {
        "Code": "modelStreamErrorException",
        "Message": "A streaming error occurred. Retry your request.",
    }
    # messageStart and two text deltas reached the caller before the exception.
    assert len(chunks) == 3 and text_of(chunks)
    call = logged_call(cloud)
    assert (call.outcome, call.http_status) == ("ModelStreamErrorException", 200)
    assert call.output_tokens == 6  # two deltas of three tokens
    # The fault was for one stream: the next is whole.
    assert text_of([c for c in model.stream(PROMPT) if isinstance(c, AIMessageChunk)])


def test_a_stream_fault_from_the_admin_endpoint_reaches_raw_boto3(
    cloud: EmbeddedCloud, client: Any
) -> None:
    spec = {"stream_error": {"exception": "ThrottlingException", "after_events": 1}}
    request = urllib.request.Request(
        f"{cloud.endpoint_url}/_embedded/bedrock/faults",
        data=json.dumps(spec).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        [fault] = json.load(response)["faults"]
    assert (fault["code"], fault["after_events"]) == ("throttlingException", 1)
    # Converse does not take a stream's fault.
    assert client.converse(modelId=HAIKU, messages=ask())["stopReason"] == "end_turn"
    received: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as raised:
        for event in client.converse_stream(modelId=HAIKU, messages=ask())["stream"]:
            received.append(event)
    assert received == [{"messageStart": {"role": "assistant"}}]
    assert raised.value.response["Error"]["Code"] == "throttlingException"
    assert [c.outcome for c in cloud.bedrock.calls()] == ["success", "ThrottlingException"]
