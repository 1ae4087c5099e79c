"""What one model call produced, read once: a ``BedrockAnswer`` or a ``Failure``.

The usage record and the Lambda response are both built from these objects, so
the two cannot disagree about the tokens, the request id, the latency or the
error. ``CallTimer`` is the call's one clock: LangChain's callbacks start and
stop it, and the answer, the error records and the timeout records all read it.

Reading an answer's figures never raises: a model answer is never lost because
its metadata came back in an unexpected shape (a missing figure reads as 0 or None).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from langchain_core.messages import BaseMessage

from bedrock_tenant_client.errors import ExplainedError
from bedrock_tenant_client.redaction import redact_credentials

MAX_ERROR_MESSAGE_CHARS = 500
INTERNAL_ERROR = "InternalError"


class CallTimer:
    """The model call's one clock, in whole milliseconds on a monotonic clock.

    ``start`` when LangChain sends the request, ``stop`` when the answer or the
    error is in (the first stop counts: a call given up at the deadline may still
    end later). Until stopped, ``elapsed_ms`` is the time so far, which is what a
    record written while the call is still running (the timeout watchdog's) needs.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._started: float | None = None
        self._stopped: float | None = None

    def start(self) -> None:
        """The request is on its way."""
        with self._lock:
            if self._started is None:
                self._started = self._monotonic()

    def stop(self) -> None:
        """The answer or the error is in."""
        with self._lock:
            if self._started is not None and self._stopped is None:
                self._stopped = self._monotonic()

    def elapsed_ms(self) -> int | None:
        """The call's latency so far, or None if it never started."""
        with self._lock:
            if self._started is None:
                return None
            ended = self._stopped if self._stopped is not None else self._monotonic()
            return max(0, round((ended - self._started) * 1000))


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
        usage = _mapping(getattr(message, "usage_metadata", None))
        raw = _mapping(getattr(message, "response_metadata", None)).get("usage")
        output_tokens = _int(usage.get("output_tokens"))
        if isinstance(raw, Mapping):
            # Bedrock's own counts, when LangChain passes them through: use as is.
            input_tokens = _int(raw.get("inputTokens"))
            cache_read = _int(raw.get("cacheReadInputTokens"))
            cache_write = _int(raw.get("cacheWriteInputTokens"))
            output_tokens = _int(raw.get("outputTokens", output_tokens))
            total = _int(raw.get("totalTokens", usage.get("total_tokens")))
        else:
            details = _mapping(usage.get("input_token_details"))
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


GUARDRAIL_INTERVENED = "guardrail_intervened"
# Bedrock's GuardrailUsage fields that count text units (up to 1,000 characters
# each); the automated-reasoning policy count is not a text-unit count.
GUARDRAIL_UNIT_FIELDS = (
    "contentPolicyUnits",
    "topicPolicyUnits",
    "wordPolicyUnits",
    "sensitiveInformationPolicyUnits",
    "sensitiveInformationPolicyFreeUnits",
    "contextualGroundingPolicyUnits",
)


def guardrail_units(metadata: Mapping[str, Any]) -> dict[str, int]:
    """Text units the guardrail assessed per policy, summed over the input and every
    output assessment of Converse's ``trace.guardrail`` (present when the call
    asked for the trace); empty without a trace."""
    trace = _mapping(_mapping(metadata.get("trace")).get("guardrail"))
    assessments: list[Any] = list(_mapping(trace.get("inputAssessment")).values())
    for outputs in _mapping(trace.get("outputAssessments")).values():
        assessments.extend(outputs if isinstance(outputs, list) else [])
    units: dict[str, int] = {}
    for assessment in assessments:
        usage = _mapping(_mapping(_mapping(assessment).get("invocationMetrics")).get("usage"))
        for name in GUARDRAIL_UNIT_FIELDS:
            if count := _int(usage.get(name)):
                units[name] = units.get(name, 0) + count
    return units


@dataclass(frozen=True)
class BedrockAnswer:
    """The model's answer and everything the record and the response say about it.

    ``latency_ms`` is the call as the function timed it (``CallTimer``);
    ``bedrock_latency_ms`` is Bedrock's own figure; ``bedrock_retries`` is how many
    times botocore retried (throttling, 5xx) before this answer.
    """

    text: str
    usage: TokenUsage
    latency_ms: int | None = None
    bedrock_latency_ms: int | None = None
    stop_reason: str | None = None
    request_id: str | None = None
    bedrock_retries: int | None = None
    # The tier Bedrock says served the call (Converse ``serviceTier.type``).
    service_tier: str | None = None
    # Text units the guardrail assessed, per GuardrailUsage field (billed).
    guardrail_units: Mapping[str, int] = field(default_factory=dict)

    @property
    def guardrail_intervened(self) -> bool:
        """Whether the guardrail blocked or masked the prompt or the answer."""
        return self.stop_reason == GUARDRAIL_INTERVENED

    @classmethod
    def from_message(cls, message: BaseMessage, *, latency_ms: int | None) -> BedrockAnswer:
        """Read ChatBedrockConverse's answer once; a missing figure reads as 0 or None."""
        metadata = _mapping(getattr(message, "response_metadata", None))
        response_metadata = metadata.get("ResponseMetadata")
        stop_reason = metadata.get("stopReason")
        tier = _mapping(metadata.get("serviceTier")).get("type")
        return cls(
            text=_text(message),
            usage=TokenUsage.from_message(message),
            latency_ms=latency_ms,
            bedrock_latency_ms=_bedrock_latency_ms(metadata),
            stop_reason=str(stop_reason) if stop_reason else None,
            request_id=_request_id(response_metadata),
            bedrock_retries=_retries(response_metadata),
            service_tier=str(tier) if tier else None,
            guardrail_units=guardrail_units(metadata),
        )


@dataclass(frozen=True)
class Failure:
    """An invocation that ends without an answer, described once for the record and the caller.

    ``message`` is safe to return and to log; ``request_id`` and
    ``bedrock_retries`` are Bedrock's, when the failure came from Bedrock.
    """

    error_type: str
    message: str
    request_id: str | None = None
    bedrock_retries: int | None = None

    @classmethod
    def from_exception(cls, error: BaseException) -> Failure:
        """A refused request or a failed model call, as the caller and the record see it.

        AWS error codes pass through (``ThrottlingException``, ``AccessDeniedException``,
        ``ValidationException`` ...) with the service's own message; anything else
        gets a generic message so no stack detail or credential material leaks.
        """
        if isinstance(error, ExplainedError):
            # Written for the caller: a refused request names its field, a
            # configuration error says what to fix.
            message = str(error)
            return cls(error.error_type, _safe_message(message) if error.sanitized else message)
        if isinstance(error, ClientError):
            details = error.response.get("Error", {})
            response_metadata = error.response.get("ResponseMetadata", {})
            return cls(
                str(details.get("Code") or "ClientError"),
                _safe_message(str(details.get("Message") or "the model call failed")),
                request_id=_request_id(response_metadata),
                bedrock_retries=_retries(response_metadata),
            )
        if isinstance(error, BotoCoreError):
            return cls(type(error).__name__, _safe_message(str(error)))
        return cls(INTERNAL_ERROR, "the model call failed")


def _safe_message(message: str) -> str:
    message = redact_credentials(" ".join(message.split()))
    if len(message) > MAX_ERROR_MESSAGE_CHARS:
        message = message[: MAX_ERROR_MESSAGE_CHARS - 1] + "…"
    return message


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0


def _text(message: BaseMessage) -> str:
    # .text joins the text blocks and skips reasoning or tool-use blocks; it is a
    # str subclass (also callable, deprecated), kept out of the answer.
    return str(message.text)


def _bedrock_latency_ms(metadata: Mapping[str, Any]) -> int | None:
    # ChatBedrockConverse wraps latencyMs in a one-element list (response_metadata
    # only holds str, list or dict); the raw API returns a bare number.
    value = _mapping(metadata.get("metrics")).get("latencyMs")
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _request_id(response_metadata: Any) -> str | None:
    value = _mapping(response_metadata).get("RequestId")
    return str(value) if value else None


def _retries(response_metadata: Any) -> int | None:
    value = _mapping(response_metadata).get("RetryAttempts")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
