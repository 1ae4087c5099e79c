"""UsageRecorder (through UsageCallback), the outcome it records (BedrockAnswer, Failure)
and UsageLogWriter, with real LangChain objects shaped like ChatBedrockConverse's."""

from __future__ import annotations

import copy
import datetime
import json
import threading
import uuid
from typing import Any

import pytest
from bedrock_tenant_client.outcome import BedrockAnswer, CallTimer, Failure
from bedrock_tenant_client.usage.record import CallIdentity, UsageRecorder
from bedrock_tenant_client.usage.truncation import fit_record, fitted_line
from bedrock_tenant_client.usage.writer import (
    URGENT_WRITE_MAX_CALLS,
    StdoutUsageSink,
    UsageLogWriter,
)
from botocore.exceptions import ClientError
from invoker.callback import UsageCallback
from langchain_aws.chat_models.bedrock_converse import _parse_response
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from contracts.pricing import ModelPrice, PriceTable, Pricing, price_table
from contracts.usage_metrics import USAGE_METRICS, DimensionValues
from contracts.usage_record import LogContent, encode, stream_name_for

LOG_GROUP = "/aws/bedrock/langchain/logs"
IDENTITY = CallIdentity(
    tenant_id="acme",
    application_id="support-bot",
    user_id="alice@example.com",
    model_id="anthropic.claude-3-haiku-20240307-v1:0",
)
# acme's registry entry: the metric dimension values its calls may take.
DIMENSIONS = DimensionValues(models=(IDENTITY.model_id,), applications=(IDENTITY.application_id,))
EMF_DIMENSIONS = ("TenantId", "ApplicationId", "ModelId")
EMF_METRICS = tuple(metric.name for metric in USAGE_METRICS)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its EMF block and metric values (tested on their own)."""
    emf_keys = {"_aws", *EMF_DIMENSIONS, *EMF_METRICS}
    return {key: value for key, value in record.items() if key not in emf_keys}


FIXED_NOW = datetime.datetime(2025, 3, 1, 12, 30, 45, 123000, tzinfo=datetime.UTC)
INVOCATION_ID = "c6af9ac6-7b61-11e6-9a41-93e812345678"  # the Lambda context's aws_request_id

# A raw Converse response as bedrock-runtime returns it, with prompt caching in use.
RAW_CONVERSE_RESPONSE: dict[str, Any] = {
    "ResponseMetadata": {
        "RequestId": "9ef1e313-a4c1-4f79-b631-171f658d3c0e",
        "HTTPStatusCode": 200,
        "HTTPHeaders": {"x-amzn-requestid": "9ef1e313-a4c1-4f79-b631-171f658d3c0e"},
        "RetryAttempts": 0,
    },
    "output": {"message": {"role": "assistant", "content": [{"text": "Bonjour !"}]}},
    "stopReason": "end_turn",
    "usage": {
        "inputTokens": 25,
        "outputTokens": 11,
        "totalTokens": 136,
        "cacheReadInputTokens": 80,
        "cacheWriteInputTokens": 20,
    },
    "metrics": {"latencyMs": 609},
}

# What ChatBedrockConverse 1.9.1 turns that response into: usage moves to
# usage_metadata (input_tokens includes cache reads and writes), latencyMs becomes
# a one-element list, and there is no llm_output at all.
CONVERSE_ANSWER = AIMessage(
    content="Bonjour !",
    usage_metadata={
        "input_tokens": 125,
        "output_tokens": 11,
        "total_tokens": 136,
        "input_token_details": {"cache_read": 80, "cache_creation": 20},
    },
    response_metadata={
        "ResponseMetadata": RAW_CONVERSE_RESPONSE["ResponseMetadata"],
        "stopReason": "end_turn",
        "metrics": {"latencyMs": [609]},
        "model_provider": "bedrock_converse",
        "model_name": "anthropic.claude-3-haiku-20240307-v1:0",
    },
)


class FakeLogsClient:
    """Records CreateLogStream/PutLogEvents; ``fail_put`` makes every put raise."""

    def __init__(self) -> None:
        self.streams: set[str] = set()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.create_calls = 0
        self.fail_put: Exception | None = None
        self.streams_created_elsewhere: set[str] = set()

    def create_log_stream(self, *, logGroupName: str, logStreamName: str) -> Any:
        self.create_calls += 1
        if logStreamName in self.streams or logStreamName in self.streams_created_elsewhere:
            self.streams.add(logStreamName)
            raise _client_error("ResourceAlreadyExistsException", "CreateLogStream")
        self.streams.add(logStreamName)
        return {}

    def put_log_events(self, *, logGroupName: str, logStreamName: str, logEvents: Any) -> Any:
        if self.fail_put is not None:
            raise self.fail_put
        if logStreamName not in self.streams:
            raise _client_error("ResourceNotFoundException", "PutLogEvents")
        for event in logEvents:
            self.events.append((logStreamName, json.loads(event["message"])))
        return {"nextSequenceToken": "1"}


def _client_error(code: str, operation: str, message: str = "nope") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"RequestId": "req-err-1", "HTTPStatusCode": 400},
        },
        operation,
    )


class Printed:
    """Captures what the writer prints as its fallback."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


def _run_call(
    logger: UsageCallback,
    answer: AIMessage | None = CONVERSE_ANSWER,
    error: BaseException | None = None,
    prompt: str = "Translate 'good morning' to French.",
) -> None:
    """Drive one chat model run: LangChain's callbacks, then the invocation's outcome."""
    run_id = uuid.uuid4()
    messages = [[SystemMessage(content="You translate."), HumanMessage(content=prompt)]]
    logger.on_chat_model_start({}, messages, run_id=run_id)
    if error is not None:
        logger.on_llm_error(error, run_id=run_id)
        logger.recorder.failed(Failure.from_exception(error))
    else:
        assert answer is not None
        result = LLMResult(generations=[[ChatGeneration(message=answer)]], llm_output=None)
        logger.on_llm_end(result, run_id=run_id)
        logger.recorder.succeeded(_read(logger, answer))


def _read(logger: UsageCallback, answer: AIMessage = CONVERSE_ANSWER) -> BedrockAnswer:
    """The answer as the invocation reads it once the call is over, on the call's clock."""
    return BedrockAnswer.from_message(answer, latency_ms=logger.timer.elapsed_ms())


@pytest.fixture
def logs() -> FakeLogsClient:
    return FakeLogsClient()


@pytest.fixture
def printed() -> Printed:
    return Printed()


def _logger(
    logs: FakeLogsClient,
    printed: Printed,
    *,
    mode: LogContent = LogContent.METADATA,
    identity: CallIdentity = IDENTITY,
    max_record_bytes: int = 256 * 1024,
    ticks: list[float] | None = None,
    urgent_logs: FakeLogsClient | None = None,
    invocation_id: str | None = INVOCATION_ID,
) -> UsageCallback:
    clock = iter(ticks or [100.0, 100.250])
    timer = CallTimer(monotonic=lambda: next(clock))
    writer = UsageLogWriter(
        logs_client=logs,
        log_group=LOG_GROUP,
        max_record_bytes=max_record_bytes,
        print_line=printed,
        urgent_logs_client=urgent_logs,
    )
    recorder = UsageRecorder(
        writer=writer,
        identity=identity,
        timer=timer,
        dimensions=DIMENSIONS,
        log_content=mode,
        invocation_id=invocation_id,
        now=lambda: FIXED_NOW,
    )
    return UsageCallback(recorder, timer)


def test_fixture_answer_is_exactly_what_chat_bedrock_converse_produces() -> None:
    parsed = _parse_response(copy.deepcopy(RAW_CONVERSE_RESPONSE))
    assert parsed.usage_metadata == CONVERSE_ANSWER.usage_metadata
    assert parsed.response_metadata == {
        k: v for k, v in CONVERSE_ANSWER.response_metadata.items() if not k.startswith("model_")
    }
    assert parsed.content == CONVERSE_ANSWER.content


def test_success_record_carries_every_schema_field(logs: FakeLogsClient, printed: Printed) -> None:
    _run_call(_logger(logs, printed))

    [(stream, record)] = logs.events
    assert stream == "alice@example.com"
    assert _plain(record) == {
        "event": "bedrock.invocation",
        "invocation_id": INVOCATION_ID,
        "status": "success",
        "source": "function",
        "tenant_id": "acme",
        "application_id": "support-bot",
        "user_id": "alice@example.com",
        "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
        "service_tier": None,
        "input_tokens": 25,
        "output_tokens": 11,
        "total_tokens": 136,
        "cache_read_input_tokens": 80,
        "cache_write_input_tokens": 20,
        "latency_ms": 250,
        "bedrock_latency_ms": 609,
        "stop_reason": "end_turn",
        "guardrail_intervened": None,
        "guardrail_text_units": 0,
        "request_id": "9ef1e313-a4c1-4f79-b631-171f658d3c0e",
        "timestamp": "2025-03-01T12:30:45.123Z",
        "bedrock_retries": 0,
        # Claude 3 Haiku at $0.25/$1.25 per million; no cache prices, so cache
        # tokens are priced as input: (25 + 80 + 20) x 0.25 + 11 x 1.25 = 45 micro-dollars.
        "cost_usd": 0.000045,
        "price_table_version": price_table().version,
        "price_source": "estimate:us-list-price",
    }
    assert record["InputTokens"] == [25] and record["CostUSD"] == [0.000045]
    assert printed.lines == []


def test_cache_tokens_match_bedrocks_own_fields_so_billing_adds_up(
    logs: FakeLogsClient, printed: Printed
) -> None:
    _run_call(_logger(logs, printed))

    [(_, record)] = logs.events
    usage = RAW_CONVERSE_RESPONSE["usage"]
    assert record["input_tokens"] == usage["inputTokens"]
    assert record["cache_read_input_tokens"] == usage["cacheReadInputTokens"]
    assert record["cache_write_input_tokens"] == usage["cacheWriteInputTokens"]
    assert record["total_tokens"] == usage["totalTokens"]


def test_per_ttl_cache_writes_are_summed_back_into_cache_write_tokens(
    logs: FakeLogsClient, printed: Printed
) -> None:
    raw = copy.deepcopy(RAW_CONVERSE_RESPONSE)
    raw["usage"]["cacheDetails"] = [
        {"ttl": "5m", "inputTokens": 15},
        {"ttl": "1h", "inputTokens": 5},
    ]
    answer = _parse_response(raw)  # LangChain zeroes cache_creation here

    _run_call(_logger(logs, printed), answer=answer)

    [(_, record)] = logs.events
    assert record["cache_write_input_tokens"] == 20
    assert record["input_tokens"] == 25


def test_call_without_caching_logs_zero_cache_tokens(
    logs: FakeLogsClient, printed: Printed
) -> None:
    raw = copy.deepcopy(RAW_CONVERSE_RESPONSE)
    raw["usage"] = {"inputTokens": 25, "outputTokens": 11, "totalTokens": 36}

    _run_call(_logger(logs, printed), answer=_parse_response(raw))

    [(_, record)] = logs.events
    assert (record["input_tokens"], record["cache_read_input_tokens"]) == (25, 0)
    assert (record["cache_write_input_tokens"], record["total_tokens"]) == (0, 36)


def test_bedrock_latency_is_read_from_the_one_element_list(
    logs: FakeLogsClient, printed: Printed
) -> None:
    answer = CONVERSE_ANSWER.model_copy(
        update={
            "response_metadata": {
                **CONVERSE_ANSWER.response_metadata,
                "metrics": {"latencyMs": [42]},
            }
        }
    )
    _run_call(_logger(logs, printed), answer=answer)

    assert logs.events[0][1]["bedrock_latency_ms"] == 42


def test_throttled_call_is_recorded_as_throttling_error(
    logs: FakeLogsClient, printed: Printed
) -> None:
    throttled = _client_error("ThrottlingException", "Converse", "Too many requests")

    _run_call(_logger(logs, printed), error=throttled)

    [(_, record)] = logs.events
    assert record["status"] == "error"
    assert record["error_type"] == "ThrottlingException"
    assert record["error_message"] == "Too many requests"
    assert record["request_id"] == "req-err-1"
    assert (record["input_tokens"], record["output_tokens"], record["total_tokens"]) == (0, 0, 0)
    assert record["latency_ms"] == 250


def test_unexpected_error_is_recorded_without_its_internal_message(
    logs: FakeLogsClient, printed: Printed
) -> None:
    _run_call(_logger(logs, printed), error=RuntimeError("secret=hunter2 at line 42"))

    [(_, record)] = logs.events
    assert record["error_type"] == "InternalError"
    assert "hunter2" not in json.dumps(record)


def test_one_invocation_writes_exactly_one_record(logs: FakeLogsClient, printed: Printed) -> None:
    logger = _logger(logs, printed)
    _run_call(logger)
    logger.recorder.succeeded(_read(logger))  # the handler's safety net must not duplicate
    logger.recorder.failed(Failure.from_exception(RuntimeError("late")))

    assert len(logs.events) == 1


def test_metadata_mode_logs_no_content(logs: FakeLogsClient, printed: Printed) -> None:
    _run_call(
        _logger(logs, printed, mode=LogContent.METADATA), prompt="my card is 4111111111111111"
    )

    [(_, record)] = logs.events
    assert "prompt" not in record and "response" not in record
    assert "4111" not in json.dumps(record)


def test_full_mode_logs_prompt_and_response_as_sent(logs: FakeLogsClient, printed: Printed) -> None:
    _run_call(_logger(logs, printed, mode=LogContent.FULL), prompt="mail bob@example.com")

    [(_, record)] = logs.events
    assert record["prompt"] == [
        {"role": "system", "content": "You translate."},
        {"role": "user", "content": "mail bob@example.com"},
    ]
    assert record["response"] == "Bonjour !"


def test_redacted_mode_masks_personal_data_and_secrets(
    logs: FakeLogsClient, printed: Printed
) -> None:
    prompt = (
        "I am bob@example.com, call +1 (555) 123-4567, card 4111 1111 1111 1111, "
        "key AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, password=hunter2"
    )
    answer = CONVERSE_ANSWER.model_copy(update={"content": "Sure bob@example.com"})

    _run_call(_logger(logs, printed, mode=LogContent.REDACTED), answer=answer, prompt=prompt)

    [(_, record)] = logs.events
    text = json.dumps(record)
    for leaked in (
        "bob@example.com",
        "123-4567",
        "4111",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtn",
        "hunter2",
    ):
        assert leaked not in text
    assert record["prompt"][1]["content"] == (
        "I am [EMAIL], call [PHONE], card [CARD], key [AWS_ACCESS_KEY_ID] / [SECRET], "
        "password=[SECRET]"
    )
    assert record["response"] == "Sure [EMAIL]"


def test_oversized_record_is_truncated_not_dropped(logs: FakeLogsClient, printed: Printed) -> None:
    huge = "é" * 20_000 + "x" * 20_000  # multi-byte text must still fit by bytes
    _run_call(_logger(logs, printed, mode=LogContent.FULL, max_record_bytes=8192), prompt=huge)

    [(_, record)] = logs.events
    assert record["truncated"] is True
    assert record["prompt"][1]["content"].endswith("…[truncated]")
    assert record["response"] == "Bonjour !"  # short fields are kept whole
    assert record["input_tokens"] == 25
    assert len(json.dumps(record, ensure_ascii=False).encode()) <= 8192


def test_truncation_leaves_small_records_untouched() -> None:
    record = {"event": "bedrock.invocation", "response": "short"}
    assert fit_record(record, 4096) is record


def test_a_record_of_exactly_the_limit_is_written_whole_and_one_byte_over_is_cut() -> None:
    record = {"event": "bedrock.invocation", "response": "é" * 100}
    size = len(encode(record).encode("utf-8"))

    assert fitted_line(record, size) == (record, encode(record))
    cut, line = fitted_line(record, size - 1)
    assert cut["truncated"] is True and cut["response"].endswith("…[truncated]")
    assert line == encode(cut) and len(line.encode("utf-8")) <= size - 1


def test_stdout_sink_prints_an_oversized_record_cut_to_one_line_within_the_limit() -> None:
    lines: list[str] = []
    sink = StdoutUsageSink(max_record_bytes=8192, print_line=lines.append)
    record = {"invocation_id": "i-1", "timestamp": "t", "response": "é" * 20_000}

    sink.write(record)

    [line] = lines
    printed = json.loads(line)
    assert printed["truncated"] is True and printed["level"] == "INFO"
    assert printed["response"].endswith("…[truncated]")
    assert len(line.encode("utf-8")) <= 8192


@pytest.mark.parametrize(
    ("user_id", "stream"),
    [
        ("alice@example.com", "alice@example.com"),
        ("us-east-1:1234-abcd", "us-east-1%3A1234-abcd"),
        ("a*b:c", "a%2Ab%3Ac"),
        ("100%", "100%25"),
        ("tab\there", "tab%09here"),
        ("  ", "%20%20"),
        ("", "%"),
    ],
)
def test_stream_name_is_a_valid_cloudwatch_name_for_any_user_id(user_id: str, stream: str) -> None:
    assert stream_name_for(user_id) == stream


def test_two_users_never_share_a_stream() -> None:
    # Before: ':' and '*' became '_', so these were all one stream.
    ids = ["a:b", "a_b", "a*b", "a%3Ab", "a%b", " ", "%20", "", "%"]
    assert len({stream_name_for(u) for u in ids}) == len(ids)
    long_a, long_b = "x" * 600 + "a", "x" * 600 + "b"
    assert len(stream_name_for(long_a)) == 512
    assert stream_name_for(long_a) != stream_name_for(long_b)
    assert stream_name_for(long_a).startswith("x" * 400)


def test_user_with_colon_in_id_gets_records_in_its_own_stream(
    logs: FakeLogsClient, printed: Printed
) -> None:
    identity = CallIdentity("acme", "app", "us-east-1:42", "m")
    _run_call(_logger(logs, printed, identity=identity))

    [(stream, record)] = logs.events
    assert stream == "us-east-1%3A42"
    assert record["user_id"] == "us-east-1:42"  # the record keeps the real id


def test_stream_is_created_once_per_container(logs: FakeLogsClient, printed: Printed) -> None:
    writer = UsageLogWriter(logs_client=logs, log_group=LOG_GROUP, print_line=printed)
    for _ in range(5):
        assert writer.write({"user_id": "alice", "status": "success"}) == "cloudwatch"

    assert logs.create_calls == 1
    assert len(logs.events) == 5


def test_stream_created_concurrently_by_another_container_is_used(
    logs: FakeLogsClient, printed: Printed
) -> None:
    logs.streams_created_elsewhere.add("alice")
    writer = UsageLogWriter(logs_client=logs, log_group=LOG_GROUP, print_line=printed)

    assert writer.write({"user_id": "alice"}) == "cloudwatch"
    assert logs.events == [("alice", {"user_id": "alice"})]
    assert printed.lines == []


def test_stream_deleted_behind_the_containers_back_is_recreated(
    logs: FakeLogsClient, printed: Printed
) -> None:
    writer = UsageLogWriter(logs_client=logs, log_group=LOG_GROUP, print_line=printed)
    writer.write({"user_id": "alice", "n": 1})
    logs.streams.clear()

    assert writer.write({"user_id": "alice", "n": 2}) == "cloudwatch"
    assert [record["n"] for _, record in logs.events] == [1, 2]


def test_undeliverable_record_is_printed_as_fallback_and_nothing_raises(
    logs: FakeLogsClient, printed: Printed
) -> None:
    logs.fail_put = _client_error("ServiceUnavailableException", "PutLogEvents")
    logger = _logger(logs, printed)

    _run_call(logger)

    assert logger.recorder.delivery == "fallback"
    [line] = printed.lines
    record = json.loads(line)
    assert record["delivery"] == "fallback"
    assert record["user_id"] == "alice@example.com"
    assert record["input_tokens"] == 25


def test_fallback_goes_to_stdout_as_one_json_line(
    logs: FakeLogsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.fail_put = ConnectionError("endpoint unreachable")
    writer = UsageLogWriter(logs_client=logs, log_group=LOG_GROUP)

    assert writer.write({"user_id": "alice", "status": "success"}) == "fallback"

    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"delivery"' in line
    ]
    assert lines == [{"user_id": "alice", "status": "success", "delivery": "fallback"}]


def test_record_without_a_lambda_context_has_a_null_invocation_id(
    logs: FakeLogsClient, printed: Printed
) -> None:
    _run_call(_logger(logs, printed, invocation_id=None))

    [(_, record)] = logs.events
    assert record["invocation_id"] is None


def test_error_truncated_and_fallback_records_all_carry_the_invocation_id(
    logs: FakeLogsClient, printed: Printed
) -> None:
    _run_call(_logger(logs, printed), error=_client_error("ThrottlingException", "Converse"))
    _run_call(
        _logger(logs, printed, mode=LogContent.FULL, max_record_bytes=8192), prompt="x" * 20_000
    )
    logs.fail_put = _client_error("ServiceUnavailableException", "PutLogEvents")
    _run_call(_logger(logs, printed))

    [(_, error), (_, truncated)] = logs.events
    [fallback] = [json.loads(line) for line in printed.lines]
    assert error["status"] == "error" and truncated["truncated"] is True
    assert fallback["delivery"] == "fallback"
    assert [r["invocation_id"] for r in (error, truncated, fallback)] == [INVOCATION_ID] * 3


# --- The timeout watchdog's provisional record --------------------------------------------


def _start(logger: UsageCallback) -> uuid.UUID:
    run_id = uuid.uuid4()
    logger.on_chat_model_start({}, [[HumanMessage(content="Hi")]], run_id=run_id)
    return run_id


def _end(logger: UsageCallback, run_id: uuid.UUID, answer: AIMessage = CONVERSE_ANSWER) -> None:
    result = LLMResult(generations=[[ChatGeneration(message=answer)]], llm_output=None)
    logger.on_llm_end(result, run_id=run_id)
    logger.recorder.succeeded(_read(logger, answer))


def test_answer_after_the_timeout_record_is_written_and_supersedes_it(
    logs: FakeLogsClient, printed: Printed
) -> None:
    # Clock: call starts at 100 s, the watchdog fires at 157.5 s, the answer at 158 s.
    logger = _logger(logs, printed, ticks=[100.0, 157.5, 158.0])
    run_id = _start(logger)

    logger.recorder.provisional_failure(Failure("FunctionTimeout", "the function timed out"))
    _end(logger, run_id)

    [(_, provisional), (_, final)] = logs.events
    assert _plain(provisional) == {
        "event": "bedrock.invocation",
        "invocation_id": INVOCATION_ID,
        "status": "error",
        "source": "function",
        "tenant_id": "acme",
        "application_id": "support-bot",
        "user_id": "alice@example.com",
        "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
        "service_tier": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "latency_ms": 57500,
        "bedrock_latency_ms": None,
        "stop_reason": None,
        "guardrail_intervened": None,
        "guardrail_text_units": 0,
        "request_id": None,
        "timestamp": "2025-03-01T12:30:45.123Z",
        "error_type": "FunctionTimeout",
        "error_message": "the function timed out",
        "provisional": True,
        "cost_usd": 0.0,
        "price_table_version": price_table().version,
        "price_source": "estimate:us-list-price",
    }
    # The provisional record counts the invocation as an error; the real one adds
    # its tokens without counting the invocation again.
    assert (provisional["Invocations"], provisional["Errors"]) == ([1], [1])
    assert (final["Invocations"], final["Errors"], final["InputTokens"]) == ([0], [0], [25])
    assert final["status"] == "success"
    assert final["supersedes"] == "FunctionTimeout"
    assert final["invocation_id"] == INVOCATION_ID
    assert (final["input_tokens"], final["total_tokens"]) == (25, 136)
    assert final["request_id"] == "9ef1e313-a4c1-4f79-b631-171f658d3c0e"
    assert final["latency_ms"] == 58000
    assert "provisional" not in final
    assert logger.recorder.record == final and logger.recorder.provisional_record == provisional
    assert (logger.recorder.delivery, logger.recorder.provisional_delivery) == (
        "cloudwatch",
        "cloudwatch",
    )


def test_bedrock_error_after_the_timeout_record_supersedes_it(
    logs: FakeLogsClient, printed: Printed
) -> None:
    logger = _logger(logs, printed, ticks=[100.0, 157.5, 158.0])
    run_id = _start(logger)

    logger.recorder.provisional_failure(Failure("FunctionTimeout", "the function timed out"))
    throttled = _client_error("ThrottlingException", "Converse", "Too many requests")
    logger.on_llm_error(throttled, run_id=run_id)
    logger.recorder.failed(Failure.from_exception(throttled))

    [(_, provisional), (_, final)] = logs.events
    assert provisional["provisional"] is True
    assert (final["error_type"], final["supersedes"]) == ("ThrottlingException", "FunctionTimeout")
    assert final["request_id"] == "req-err-1"
    assert "provisional" not in final


def test_timeout_record_after_the_real_one_is_not_written(
    logs: FakeLogsClient, printed: Printed
) -> None:
    logger = _logger(logs, printed)
    _end(logger, _start(logger))

    logger.recorder.provisional_failure(Failure("FunctionTimeout", "the function timed out"))

    [(_, record)] = logs.events
    assert record["status"] == "success"
    assert "provisional" not in record and "supersedes" not in record
    assert logger.recorder.provisional_record is None


def test_at_most_one_provisional_and_one_real_record(
    logs: FakeLogsClient, printed: Printed
) -> None:
    logger = _logger(logs, printed, ticks=[100.0, 101.0, 102.0, 103.0, 104.0])
    run_id = _start(logger)
    logger.recorder.provisional_failure(Failure("FunctionTimeout", "first"))
    logger.recorder.provisional_failure(Failure("FunctionTimeout", "second"))
    _end(logger, run_id)
    logger.recorder.succeeded(_read(logger))  # the handler's safety net
    logger.recorder.failed(Failure.from_exception(RuntimeError("late")))

    assert [r.get("provisional", False) for _, r in logs.events] == [True, False]


def test_timeout_record_takes_the_urgent_client_and_shares_known_streams(
    logs: FakeLogsClient, printed: Printed
) -> None:
    urgent = FakeLogsClient()
    urgent.streams = logs.streams  # one log group seen through two clients
    logger = _logger(logs, printed, urgent_logs=urgent, ticks=[100.0, 101.0, 102.0])
    run_id = _start(logger)

    logger.recorder.provisional_failure(Failure("FunctionTimeout", "the function timed out"))
    _end(logger, run_id)

    assert [r["provisional"] for _, r in urgent.events] == [True]
    assert [r["supersedes"] for _, r in logs.events] == ["FunctionTimeout"]
    assert (urgent.create_calls, logs.create_calls) == (1, 0)  # the stream is known after


class _CountingLogsClient(FakeLogsClient):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def create_log_stream(self, *, logGroupName: str, logStreamName: str) -> Any:
        self.calls += 1
        return super().create_log_stream(logGroupName=logGroupName, logStreamName=logStreamName)

    def put_log_events(self, *, logGroupName: str, logStreamName: str, logEvents: Any) -> Any:
        self.calls += 1
        self.streams.discard(logStreamName)  # deleted behind the container's back, always
        return super().put_log_events(
            logGroupName=logGroupName, logStreamName=logStreamName, logEvents=logEvents
        )


def test_urgent_write_stays_within_its_call_budget_then_prints(printed: Printed) -> None:
    urgent = _CountingLogsClient()
    writer = UsageLogWriter(
        logs_client=FakeLogsClient(),
        urgent_logs_client=urgent,
        log_group=LOG_GROUP,
        print_line=printed,
    )

    delivery = writer.write({"user_id": "alice", "invocation_id": "i-1"}, urgent=True)

    assert delivery == "fallback"
    assert urgent.calls == URGENT_WRITE_MAX_CALLS == 2  # no recreate-and-retry here
    [line] = printed.lines
    assert json.loads(line) == {"user_id": "alice", "invocation_id": "i-1", "delivery": "fallback"}


class _BlockingLogsClient(FakeLogsClient):
    """A put that hangs until released: a slow CloudWatch Logs on the urgent path."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def put_log_events(self, *, logGroupName: str, logStreamName: str, logEvents: Any) -> Any:
        self.entered.set()
        self.release.wait(timeout=30)  # a safety net for a broken test, not a timing
        return super().put_log_events(
            logGroupName=logGroupName, logStreamName=logStreamName, logEvents=logEvents
        )


def test_real_record_does_not_wait_for_a_slow_timeout_record(
    logs: FakeLogsClient, printed: Printed
) -> None:
    urgent = _BlockingLogsClient()
    logger = _logger(logs, printed, urgent_logs=urgent, ticks=[100.0, 101.0, 102.0])
    run_id = _start(logger)
    watchdog = threading.Thread(
        target=logger.recorder.provisional_failure, args=(Failure("FunctionTimeout", "timed out"),)
    )
    watchdog.start()
    assert urgent.entered.wait(timeout=30)

    _end(logger, run_id)  # while the provisional write is still in flight
    written_before_release = list(logs.events)
    urgent.release.set()
    watchdog.join()

    [(_, final)] = written_before_release
    assert final["supersedes"] == "FunctionTimeout"
    assert [r["provisional"] for _, r in urgent.events] == [True]


# --- writes bounded by the function's remaining time (a scaled timeline) ---------------------

# One second of the function's life is one millisecond here; the figures are the
# invoker's own (invocation.py): a normal call can take 21 s, an urgent one 2 s.
CALL_WORST_CASE_MS = 21
URGENT_CALL_WORST_CASE_MS = 2
RESERVE_MS = 1


class Timeline:
    """The function's remaining time, which each Logs call spends."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def __call__(self) -> int:
        return self.remaining_ms


class HangingLogsClient(FakeLogsClient):
    """CloudWatch Logs that never answers: every call runs out its client's worst case."""

    def __init__(self, timeline: Timeline, worst_case_ms: int) -> None:
        super().__init__()
        self.timeline = timeline
        self.worst_case_ms = worst_case_ms
        self.calls = 0

    def _hang(self) -> None:
        self.calls += 1
        self.timeline.remaining_ms -= self.worst_case_ms
        assert self.timeline.remaining_ms >= 0, "a Logs call ran past the function's timeout"
        raise _client_error("RequestTimeout", "PutLogEvents")

    def create_log_stream(self, *, logGroupName: str, logStreamName: str) -> Any:
        self._hang()

    def put_log_events(self, *, logGroupName: str, logStreamName: str, logEvents: Any) -> Any:
        self._hang()


def _bounded_writer(
    logs: FakeLogsClient, urgent: FakeLogsClient, printed: Printed
) -> UsageLogWriter:
    return UsageLogWriter(
        logs_client=logs,
        urgent_logs_client=urgent,
        log_group=LOG_GROUP,
        print_line=printed,
        call_worst_case_ms=CALL_WORST_CASE_MS,
        urgent_call_worst_case_ms=URGENT_CALL_WORST_CASE_MS,
        reserve_ms=RESERVE_MS,
    )


@pytest.mark.parametrize(
    ("remaining_ms", "normal_calls", "urgent_calls", "delivery"),
    [
        (60, 1, 0, "fallback"),  # time for the normal client: it hangs, then stdout
        (10, 0, 1, "fallback"),  # only the fast client's worst case fits
        (2, 0, 0, "fallback"),  # no call fits: stdout at once
    ],
)
def test_a_slow_logs_service_never_holds_the_answer_past_the_deadline(
    printed: Printed, remaining_ms: int, normal_calls: int, urgent_calls: int, delivery: str
) -> None:
    timeline = Timeline(remaining_ms)
    normal = HangingLogsClient(timeline, CALL_WORST_CASE_MS)
    urgent = HangingLogsClient(timeline, URGENT_CALL_WORST_CASE_MS)
    writer = _bounded_writer(normal, urgent, printed)

    result = writer.write({"user_id": "alice", "status": "success"}, remaining_ms=timeline)

    assert result == delivery
    assert (normal.calls, urgent.calls) == (normal_calls, urgent_calls)
    assert timeline.remaining_ms >= RESERVE_MS  # time left to answer the caller
    [line] = printed.lines
    assert json.loads(line)["delivery"] == "fallback"


def test_a_healthy_logs_service_near_the_deadline_takes_the_fast_client(printed: Printed) -> None:
    normal, urgent = FakeLogsClient(), FakeLogsClient()
    writer = _bounded_writer(normal, urgent, printed)

    assert writer.write({"user_id": "alice"}, remaining_ms=Timeline(10)) == "cloudwatch"

    assert normal.events == [] and len(urgent.events) == 1
    assert printed.lines == []


def test_the_watchdog_prints_a_record_whose_write_is_still_in_flight(printed: Printed) -> None:
    # The model answered near the deadline and PutLogEvents hangs: the watchdog
    # must not stand down just because the record is built.
    released = threading.Event()
    entered = threading.Event()

    class StuckLogsClient(FakeLogsClient):
        def put_log_events(self, **kwargs: Any) -> Any:
            entered.set()
            released.wait(timeout=30)
            return super().put_log_events(**kwargs)

    logs = StuckLogsClient()
    callback = _logger(logs, printed)
    recorder = callback.recorder
    run_id = _start(callback)
    writer_thread = threading.Thread(target=_end, args=(callback, run_id))
    writer_thread.start()
    assert entered.wait(timeout=30)

    recorder.provisional_failure(Failure("FunctionTimeout", "the function timed out"))

    [line] = printed.lines  # printed at once, while the write is still stuck
    printed_record = json.loads(line)
    assert printed_record["status"] == "success" and printed_record["delivery"] == "fallback"
    assert printed_record["input_tokens"] == 25
    assert recorder.provisional_record is None  # no timeout record: the real one exists
    released.set()
    writer_thread.join(timeout=30)
    [(_, delivered)] = logs.events
    assert {**delivered, "delivery": "fallback"} == printed_record
    # Readers count it once: the usage log group's copy wins over the printed one.
    from contracts.usage_record import parse_record
    from tenantctl.usage_reader import merge_fallback

    primary = [parse_record(json.dumps(delivered))]
    fallback = [parse_record(line)]
    assert len(merge_fallback([r for r in primary if r], [r for r in fallback if r])) == 1


# --- cost -------------------------------------------------------------------------------


def _priced_logger(logs: FakeLogsClient, printed: Printed, pricing: Pricing) -> UsageCallback:
    clock = iter([100.0, 100.250])
    timer = CallTimer(monotonic=lambda: next(clock))
    writer = UsageLogWriter(logs_client=logs, log_group=LOG_GROUP, print_line=printed)
    recorder = UsageRecorder(
        writer=writer,
        identity=IDENTITY,
        timer=timer,
        dimensions=DIMENSIONS,
        invocation_id=INVOCATION_ID,
        now=lambda: FIXED_NOW,
        pricing=pricing,
    )
    return UsageCallback(recorder, timer)


def test_a_negotiated_price_from_the_registry_replaces_the_table(
    logs: FakeLogsClient, printed: Printed
) -> None:
    overrides = {IDENTITY.model_id: ModelPrice(input=0.2, output=1.0, cache_read=0.02)}
    _run_call(_priced_logger(logs, printed, Pricing(region="us-east-1", overrides=overrides)))

    [(_, record)] = logs.events
    # 25 x 0.2 + 11 x 1.0 + 80 x 0.02 + 20 x 0.2 (no cache-write price: input's) = 21.6 µ$
    assert record["cost_usd"] == pytest.approx(0.0000216)
    assert record["price_source"] == "override"
    assert record["CostUSD"] == [pytest.approx(0.0000216)]


def test_an_unpriced_model_is_recorded_with_no_cost_rather_than_zero(
    logs: FakeLogsClient, printed: Printed
) -> None:
    table = PriceTable(version="test", taken="2026-01-01", models={})
    _run_call(_priced_logger(logs, printed, Pricing(region="us-east-1", table=table)))

    [(_, record)] = logs.events
    assert (record["cost_usd"], record["price_table_version"]) == (None, "test")
    assert "CostUSD" not in record


def test_a_pricing_failure_still_writes_the_record(logs: FakeLogsClient, printed: Printed) -> None:
    class BrokenTable(PriceTable):
        def price(self, *args: Any, **kwargs: Any) -> ModelPrice | None:
            raise RuntimeError("price table unreadable")

    table = BrokenTable(version="broken", taken="2026-01-01", models={})
    _run_call(_priced_logger(logs, printed, Pricing(region="us-east-1", table=table)))

    [(_, record)] = logs.events
    assert record["status"] == "success" and record["input_tokens"] == 25
    assert record["cost_usd"] is None and record["Invocations"] == [1]
