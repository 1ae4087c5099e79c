"""Usage records: one JSON event per invocation, in the tenant's own CloudWatch Logs.

``UsageLogger`` is a LangChain callback that turns one model call into a record;
``UsageLogWriter`` delivers records to the tenant's log group, one stream per
user. The writer's logs client must be built from the Lambda's own credentials:
a client on the assumed operations-account credentials would write the tenant's
records into the operations account.

Logging never raises into the caller's path: a record that cannot be delivered
is printed to stdout (the function's own log group, still in the tenant account)
with ``"delivery": "fallback"``, and the model's answer is returned regardless.

Every record carries ``invocation_id`` (the Lambda request id). Normally there is
one record per invocation. When the timeout watchdog fires first, it writes a
record with ``"provisional": true``; if the call then ends after all, its real
record is still written, with ``"supersedes": "<provisional error_type>"``, and
aggregators count that one and drop the provisional record of the same
``invocation_id``.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from uuid import UUID

from botocore.exceptions import ClientError
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from invoker.chat import describe_model_error
from invoker.redaction import redact
from invoker.settings import DEFAULT_MAX_RECORD_BYTES, LogContent

# Plain logging: handler.py hands these loggers the Powertools JSON formatter.
logger = logging.getLogger(__name__)

RECORD_EVENT = "bedrock.invocation"
# An urgent write (the timeout watchdog's) makes at most this many Logs API calls:
# CreateLogStream for a stream this container has not used yet, then PutLogEvents.
URGENT_WRITE_MAX_CALLS = 2
TRUNCATION_MARKER = "…[truncated]"
MAX_STREAM_NAME_CHARS = 512
UNKNOWN_STREAM = "unknown"
# CloudWatch forbids ':' and '*' in stream names; control characters make them unreadable.
_STREAM_NAME_FORBIDDEN = re.compile(r"[:*\x00-\x1f\x7f]")

Delivery = Literal["cloudwatch", "fallback"]
Record = dict[str, Any]


class LogsClient(Protocol):
    """The two CloudWatch Logs calls the writer makes (a boto3 ``logs`` client)."""

    def create_log_stream(self, *, logGroupName: str, logStreamName: str) -> Any:
        """Create a stream in a log group."""

    def put_log_events(
        self, *, logGroupName: str, logStreamName: str, logEvents: Sequence[Mapping[str, Any]]
    ) -> Any:
        """Append events to a stream."""


def stream_name_for(user_id: str) -> str:
    """The log stream holding ``user_id``'s records: ':' and '*' replaced, <= 512 chars."""
    name = _STREAM_NAME_FORBIDDEN.sub("_", user_id)[:MAX_STREAM_NAME_CHARS]
    return name if name.strip() else UNKNOWN_STREAM


def utc_timestamp(now: datetime.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, e.g. ``2025-01-31T12:00:00.123Z``."""
    return now.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fit_record(record: Record, max_bytes: int) -> Record:
    """Return ``record`` cut to ``max_bytes`` of UTF-8 JSON, never dropping it.

    Every long text (prompt turns, the response, the error message) is capped at
    the same length, the largest that fits, so each keeps its beginning; cut
    texts end with a marker and ``"truncated": true`` says so.
    """
    if _encoded_size(record) <= max_bytes:
        return record
    base: Record = json.loads(json.dumps(record, default=str))
    base["truncated"] = True
    low, high = 0, max((len(text) for text in _texts(base)), default=0)
    best = _capped(base, 0)
    while low <= high:  # binary search for the longest cap that fits
        cap = (low + high) // 2
        candidate = _capped(base, cap)
        if _encoded_size(candidate) <= max_bytes:
            best, low = candidate, cap + 1
        else:
            high = cap - 1
    if _encoded_size(best) > max_bytes:
        # Only metadata left and still too big (cannot happen with validated ids);
        # drop content entirely rather than lose the record.
        best.pop("prompt", None)
        best.pop("response", None)
    return best


def _texts(record: Record) -> list[str]:
    texts = [
        record[key] for key in ("response", "error_message") if isinstance(record.get(key), str)
    ]
    prompt = record.get("prompt")
    if isinstance(prompt, list):
        texts += [
            t["content"]
            for t in prompt
            if isinstance(t, dict) and isinstance(t.get("content"), str)
        ]
    return texts


def _capped(record: Record, cap: int) -> Record:
    def cut(text: str) -> str:
        return text if len(text) <= cap else text[:cap] + TRUNCATION_MARKER

    capped = dict(record)
    for key in ("response", "error_message"):
        if isinstance(capped.get(key), str):
            capped[key] = cut(capped[key])
    prompt = capped.get("prompt")
    if isinstance(prompt, list):
        capped["prompt"] = [
            {**turn, "content": cut(turn["content"])}
            if isinstance(turn, dict) and isinstance(turn.get("content"), str)
            else turn
            for turn in prompt
        ]
    return capped


def _encoded_size(record: Record) -> int:
    return len(json.dumps(record, ensure_ascii=False, default=str).encode("utf-8"))


class UsageLogWriter:
    """Delivers usage records to one log group, one stream per (sanitized) user id.

    Streams are created on first use and remembered for the life of the container;
    another container creating the same stream first is fine.
    """

    def __init__(
        self,
        *,
        logs_client: LogsClient,
        log_group: str,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        print_line: Callable[[str], None] | None = None,
        urgent_logs_client: LogsClient | None = None,
    ) -> None:
        """``urgent_logs_client`` serves ``write(..., urgent=True)``: a client with short
        timeouts and no retries, so a write racing the function timeout ends in time.
        Both clients must be on the Lambda's own credentials."""
        self._client = logs_client
        self._urgent_client = urgent_logs_client or logs_client
        self._log_group = log_group
        self._max_record_bytes = max_record_bytes
        self._print_line = print_line or _print_line
        self._known_streams: set[str] = set()

    def write(self, record: Record, *, urgent: bool = False) -> Delivery:
        """Write one record; print it to stdout if CloudWatch Logs will not take it.

        ``urgent`` takes the fast path: the urgent client, at most
        ``URGENT_WRITE_MAX_CALLS`` calls and no recreate-and-retry, then stdout.
        """
        try:
            record = fit_record(record, self._max_record_bytes)
            stream = stream_name_for(str(record.get("user_id") or ""))
            if urgent:
                self._put_urgent(stream, record)
            else:
                self._put(stream, record)
            return "cloudwatch"
        except Exception as error:  # the caller's answer matters more than this record
            logger.warning(
                "usage record not delivered to CloudWatch Logs; printed instead",
                extra={"error_type": _error_code(error)},
            )
            self._fallback(record)
            return "fallback"

    def _put(self, stream: str, record: Record) -> None:
        event = _log_event(record)
        self._ensure_stream(self._client, stream)
        try:
            response = self._client.put_log_events(
                logGroupName=self._log_group, logStreamName=stream, logEvents=[event]
            )
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
            # The stream was deleted behind this container's back: recreate it once.
            self._known_streams.discard(stream)
            self._ensure_stream(self._client, stream)
            response = self._client.put_log_events(
                logGroupName=self._log_group, logStreamName=stream, logEvents=[event]
            )
        _check_accepted(response)

    def _put_urgent(self, stream: str, record: Record) -> None:
        # At most URGENT_WRITE_MAX_CALLS calls: the time budget is counted in calls.
        event = _log_event(record)
        self._ensure_stream(self._urgent_client, stream)
        response = self._urgent_client.put_log_events(
            logGroupName=self._log_group, logStreamName=stream, logEvents=[event]
        )
        _check_accepted(response)

    def _ensure_stream(self, client: LogsClient, stream: str) -> None:
        if stream in self._known_streams:
            return
        try:
            client.create_log_stream(logGroupName=self._log_group, logStreamName=stream)
        except ClientError as error:
            if _error_code(error) != "ResourceAlreadyExistsException":
                raise
        self._known_streams.add(stream)

    def _fallback(self, record: Record) -> None:
        try:
            self._print_line(
                json.dumps({**record, "delivery": "fallback"}, ensure_ascii=False, default=str)
            )
        except Exception:  # stdout itself failing leaves nothing else to try
            logger.error("usage record could not be printed either")


def _log_event(record: Record) -> dict[str, Any]:
    return {
        "timestamp": int(time.time() * 1000),
        "message": json.dumps(record, ensure_ascii=False, default=str),
    }


def _check_accepted(response: Any) -> None:
    rejected = (response or {}).get("rejectedLogEventsInfo")
    if rejected:
        raise RuntimeError(f"PutLogEvents rejected the event: {sorted(rejected)}")


def _print_line(line: str) -> None:
    # print, not logging: under Lambda's JSON log format a printed JSON line stays a
    # top-level object, while a logging record would be wrapped in "message".
    print(line, flush=True)


def _error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__


@dataclass(frozen=True)
class CallIdentity:
    """Who made a call and to which model: the record's identifying fields."""

    tenant_id: str
    application_id: str
    user_id: str
    model_id: str


@dataclass(frozen=True)
class TokenUsage:
    """Token counts as Bedrock bills them.

    ``input_tokens`` is Bedrock's ``inputTokens``: input billed at the normal rate,
    *without* cache reads and writes, which are counted separately. (LangChain's
    ``usage_metadata.input_tokens`` adds the cache tokens in; that figure is
    ``input_tokens + cache_read_input_tokens + cache_write_input_tokens``.)
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0

    @classmethod
    def from_message(cls, message: BaseMessage) -> TokenUsage:
        """Read the usage ChatBedrockConverse attached to its answer."""
        usage: Mapping[str, Any] = getattr(message, "usage_metadata", None) or {}
        metadata: Mapping[str, Any] = getattr(message, "response_metadata", None) or {}
        raw = metadata.get("usage")
        output_tokens = _int(usage.get("output_tokens"))
        if isinstance(raw, Mapping):
            # Bedrock's own counts, when LangChain passes them through: use as is.
            input_tokens = _int(raw.get("inputTokens"))
            cache_read = _int(raw.get("cacheReadInputTokens"))
            cache_write = _int(raw.get("cacheWriteInputTokens"))
            output_tokens = _int(raw.get("outputTokens", output_tokens))
            total = _int(raw.get("totalTokens", usage.get("total_tokens")))
        else:
            details: Mapping[str, Any] = usage.get("input_token_details") or {}
            cache_read = _int(details.get("cache_read"))
            # With per-TTL cacheDetails, LangChain zeroes cache_creation and reports
            # the writes per TTL instead; their sum is Bedrock's cacheWriteInputTokens.
            cache_write = (
                _int(details.get("cache_creation"))
                + _int(details.get("ephemeral_5m_input_tokens"))
                + _int(details.get("ephemeral_1h_input_tokens"))
            )
            input_tokens = max(0, _int(usage.get("input_tokens")) - cache_read - cache_write)
            total = _int(usage.get("total_tokens"))
        return cls(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=total or input_tokens + cache_read + cache_write + output_tokens,
            cache_read_input_tokens=cache_read,
            cache_write_input_tokens=cache_write,
        )


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0


def _bedrock_latency_ms(metadata: Mapping[str, Any]) -> int | None:
    # ChatBedrockConverse wraps latencyMs in a one-element list (response_metadata
    # only holds str, list or dict); the raw API returns a bare number.
    metrics = metadata.get("metrics")
    value = metrics.get("latencyMs") if isinstance(metrics, Mapping) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def request_id_from(metadata: Mapping[str, Any]) -> str | None:
    """Bedrock's request id from a message's ``response_metadata``, if it has one."""
    response_metadata = metadata.get("ResponseMetadata")
    if isinstance(response_metadata, Mapping):
        value = response_metadata.get("RequestId")
        return str(value) if value else None
    return None


def _message_text(message: BaseMessage) -> str:
    # .text joins the text blocks and skips reasoning or tool-use blocks.
    return message.text


class UsageLogger(BaseCallbackHandler):
    """LangChain callback that writes exactly one usage record for one invocation.

    Create one per invocation and pass it through ``config={"callbacks": [...]}``.
    ``record`` holds the invocation's real record once written (never the
    provisional one, which is in ``provisional_record``). Nothing here raises: a
    failure to log must not fail the call.

    ``invocation_id`` (the Lambda request id) goes into every record, so a
    provisional record and the one superseding it can be matched.
    """

    def __init__(
        self,
        *,
        writer: UsageLogWriter,
        identity: CallIdentity,
        log_content: LogContent = LogContent.METADATA,
        invocation_id: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        super().__init__()
        self._writer = writer
        self._identity = identity
        self._log_content = log_content
        self._invocation_id = invocation_id
        self._monotonic = monotonic
        self._now = now
        self._started: float | None = None
        self._prompt: list[dict[str, str]] | None = None
        self._emit_lock = threading.Lock()
        self.record: Record | None = None
        self.delivery: Delivery | None = None
        self.provisional_record: Record | None = None
        self.provisional_delivery: Delivery | None = None

    # LangChain callback interface ---------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start the clock; keep the prompt if the tenant's content mode allows it."""
        self._started = self._monotonic()
        try:
            if self._log_content is not LogContent.METADATA and messages:
                self._prompt = [
                    {"role": _role(message), "content": self._content(_message_text(message))}
                    for message in messages[0]
                ]
        except Exception:
            logger.warning("could not capture the prompt for the usage record")

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record a successful call from the generation's usage and response metadata."""
        generation = response.generations[0][0] if response.generations else None
        if isinstance(generation, ChatGeneration):
            self.record_success(generation.message)
        else:
            self.record_failure(
                "InternalError", "the model returned no chat generation", request_id=None
            )

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record a failed call (throttling, access denied, validation ...)."""
        self.record_error(error)

    # Direct use, for outcomes LangChain never reports ---------------------------------

    def record_success(self, message: BaseMessage) -> None:
        """Write the success record for ``message`` (once per invocation)."""
        if self.record is not None:
            return
        try:
            metadata: Mapping[str, Any] = message.response_metadata or {}
            usage = TokenUsage.from_message(message)
            record = self._base_record("success")
            record.update(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.total_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens,
                cache_write_input_tokens=usage.cache_write_input_tokens,
                bedrock_latency_ms=_bedrock_latency_ms(metadata),
                stop_reason=metadata.get("stopReason"),
                request_id=request_id_from(metadata),
            )
            if self._log_content is not LogContent.METADATA:
                record["response"] = self._content(_message_text(message))
            self._emit(record)
        except Exception:
            logger.exception("could not build the usage record")
            self.record_failure("InternalError", "usage could not be read", request_id=None)

    def record_error(self, error: BaseException) -> None:
        """Write the error record for a failed model call (once per invocation)."""
        error_type, message = describe_model_error(error)
        request_id = None
        if isinstance(error, ClientError):
            request_id = error.response.get("ResponseMetadata", {}).get("RequestId") or None
        self.record_failure(error_type, message, request_id=request_id)

    def record_failure(self, error_type: str, message: str, *, request_id: str | None) -> None:
        """Write an error record with the given type and (already safe) message."""
        if self.record is not None:
            return
        try:
            record = self._base_record("error")
            record.update(request_id=request_id, error_type=error_type, error_message=message)
            self._emit(record)
        except Exception:
            logger.exception("could not write the usage error record")

    def record_provisional_failure(self, error_type: str, message: str) -> None:
        """Write a provisional error record for a call that is still running.

        For the timeout watchdog: Lambda kills the function at its timeout with no
        chance to log, so this record is written first, on the writer's urgent path.
        It is marked ``"provisional": true``; should the call end after all, its
        real record is still written and says ``"supersedes": error_type``. Does
        nothing once the real record exists, or a provisional one was written.
        """
        try:
            with self._emit_lock:
                if self.record is not None or self.provisional_record is not None:
                    return
                record = self._base_record("error")
                record.update(
                    request_id=None, error_type=error_type, error_message=message, provisional=True
                )
                self.provisional_record = record
            self.provisional_delivery = self._writer.write(record, urgent=True)
        except Exception:
            logger.exception("could not write the provisional usage record")

    # Internals ------------------------------------------------------------------------

    def _base_record(self, status: Literal["success", "error"]) -> Record:
        latency_ms = None
        if self._started is not None:
            latency_ms = max(0, round((self._monotonic() - self._started) * 1000))
        record: Record = {
            "event": RECORD_EVENT,
            "invocation_id": self._invocation_id,
            "status": status,
            "tenant_id": self._identity.tenant_id,
            "application_id": self._identity.application_id,
            "user_id": self._identity.user_id,
            "model_id": self._identity.model_id,
            "input_tokens": 0,
            "output_tokens": 0,
            "total_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_write_input_tokens": 0,
            "latency_ms": latency_ms,
            "bedrock_latency_ms": None,
            "stop_reason": None,
            "request_id": None,
            "timestamp": utc_timestamp(self._now()),
        }
        if self._prompt is not None:
            record["prompt"] = self._prompt
        return record

    def _content(self, text: str) -> str:
        return redact(text) if self._log_content is LogContent.REDACTED else text

    def _emit(self, record: Record) -> None:
        # One real record per invocation. The watchdog's provisional record does not
        # count: the real one is still written and names what it supersedes. Only the
        # decision is under the lock; neither write waits for the other.
        with self._emit_lock:
            if self.record is not None:
                return
            if self.provisional_record is not None:
                record["supersedes"] = self.provisional_record["error_type"]
            self.record = record
        self.delivery = self._writer.write(record)


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant"}.get(message.type, message.type)
