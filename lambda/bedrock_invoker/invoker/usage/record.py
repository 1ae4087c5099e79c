"""One invocation's usage record: built from the outcome, written exactly once."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from langchain_core.messages import BaseMessage

from contracts.pricing import PriceOverrides, PriceTable, base_model_id, price_table
from contracts.usage_record import Delivery, LogContent, Record, Status, new_record
from invoker.chat import describe_model_error
from invoker.redaction import redact
from invoker.usage.metrics import with_metrics
from invoker.usage.writer import RecordSink

# Plain logging: handler.py hands these loggers the Powertools JSON formatter.
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallIdentity:
    """Who made a call and to which model: the record's identifying fields."""

    tenant_id: str
    application_id: str
    user_id: str
    model_id: str


@dataclass(frozen=True)
class Pricing:
    """How a record is priced: the region Bedrock is called in and the registry's overrides."""

    region: str
    overrides: PriceOverrides = field(default_factory=dict)
    table: PriceTable = field(default_factory=price_table)

    def price(self, record: Record) -> None:
        """Set ``cost_usd``, ``price_table_version`` and ``price_source`` on ``record``.

        A model nobody priced gets ``cost_usd: null``; readers may price it later.
        """
        model_id = str(record.get("model_id") or "")
        price = self.table.price(model_id, self.region, self.overrides)
        record["price_table_version"] = self.table.version
        if price is None:
            record["cost_usd"] = None
            record["price_source"] = None
            return
        overridden = model_id in self.overrides or base_model_id(model_id) in self.overrides
        record["cost_usd"] = price.cost_usd(
            input_tokens=_int(record.get("input_tokens")),
            output_tokens=_int(record.get("output_tokens")),
            cache_read_input_tokens=_int(record.get("cache_read_input_tokens")),
            cache_write_input_tokens=_int(record.get("cache_write_input_tokens")),
        )
        record["price_source"] = "registry" if overridden else "table"


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


def retries_from(response_metadata: Any) -> int | None:
    """How many times botocore retried the Bedrock call (throttling, 5xx), if known."""
    if isinstance(response_metadata, Mapping):
        value = response_metadata.get("RetryAttempts")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _message_text(message: BaseMessage) -> str:
    # .text joins the text blocks and skips reasoning or tool-use blocks.
    return message.text


class UsageRecorder:
    """Builds and writes exactly one usage record for one invocation.

    Create one per invocation. The invocation reports the outcome (``succeeded``
    with the answer, ``failed`` with the exception, ``refused`` before any call or
    at the deadline, ``provisional_failure`` from the timeout watchdog);
    ``UsageCallback`` only hands over what LangChain sees (the prompt, when the
    call started and ended).
    ``record`` holds the invocation's real record once written (never the
    provisional one, which is in ``provisional_record``). Nothing here raises: a
    failure to log must not fail the call.

    ``invocation_id`` (the Lambda request id) goes into every record, so a
    provisional record and the one superseding it can be matched.
    """

    def __init__(
        self,
        *,
        writer: RecordSink,
        identity: CallIdentity,
        log_content: LogContent = LogContent.METADATA,
        invocation_id: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        remaining_ms: Callable[[], int] | None = None,
        pricing: Pricing | None = None,
    ) -> None:
        self._writer = writer
        # Unknown region: the price table's any-region entry.
        self._pricing = pricing or Pricing(region="")
        self._identity = identity
        self._log_content = log_content
        self._invocation_id = invocation_id
        self._monotonic = monotonic
        self._now = now
        # The function's remaining time: every write of the real record fits in it.
        self._remaining_ms = remaining_ms
        self._started: float | None = None
        self._ended: float | None = None
        self._prompt: list[dict[str, str]] | None = None
        self._emit_lock = threading.Lock()
        self.record: Record | None = None
        self.delivery: Delivery | None = None
        self.provisional_record: Record | None = None
        self.provisional_delivery: Delivery | None = None

    # The outcome ------------------------------------------------------------------------

    def started(self, prompt: list[BaseMessage]) -> None:
        """Start the clock; keep the prompt if the tenant's content mode allows it."""
        self._started = self._monotonic()
        try:
            if self._log_content is not LogContent.METADATA:
                self._prompt = [
                    {"role": _role(message), "content": self._content(_message_text(message))}
                    for message in prompt
                ]
        except Exception:
            logger.warning("could not capture the prompt for the usage record")

    def ended(self) -> None:
        """The model call is over (answer or error): the record's latency ends here.

        Only the time: the invocation writes the record once the call has returned
        to it, so a slow write never counts against the model's deadline.
        """
        if self._ended is None:
            self._ended = self._monotonic()

    def succeeded(self, message: BaseMessage) -> None:
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
                bedrock_retries=retries_from(metadata.get("ResponseMetadata")),
            )
            if self._log_content is not LogContent.METADATA:
                record["response"] = self._content(_message_text(message))
            self._emit(record)
        except Exception:
            logger.exception("could not build the usage record")
            self.refused("InternalError", "usage could not be read", request_id=None)

    def failed(self, error: BaseException) -> None:
        """Write the error record for a failed model call (once per invocation)."""
        error_type, message = describe_model_error(error)
        request_id = retries = None
        if isinstance(error, ClientError):
            response_metadata = error.response.get("ResponseMetadata", {})
            request_id = response_metadata.get("RequestId") or None
            retries = retries_from(response_metadata)
        self.refused(error_type, message, request_id=request_id, retries=retries)

    def refused(
        self,
        error_type: str,
        message: str,
        *,
        request_id: str | None = None,
        retries: int | None = None,
    ) -> None:
        """Write an error record with the given type and (already safe) message."""
        if self.record is not None:
            return
        try:
            record = self._base_record("error")
            record.update(request_id=request_id, error_type=error_type, error_message=message)
            if retries is not None:
                record["bedrock_retries"] = retries
            self._emit(record)
        except Exception:
            logger.exception("could not write the usage error record")

    def provisional_failure(self, error_type: str, message: str) -> None:
        """Write a provisional error record for a call that is still running.

        For the timeout watchdog: Lambda kills the function at its timeout with no
        chance to log, so this record is written first, on the writer's urgent path.
        It is marked ``"provisional": true``; should the call end after all, its
        real record is still written and says ``"supersedes": error_type``. Does
        nothing once the real record is delivered, or a provisional one was written.

        A real record that is built but not yet delivered (its write still in
        flight when the deadline nears) is printed to stdout at once instead: the
        write may never finish before Lambda stops the function. Should it land
        after all, readers keep the usage log group's copy and drop the printed one.
        """
        try:
            with self._emit_lock:
                in_flight = self.record if self.delivery is None else None
                if in_flight is not None:
                    self.provisional_delivery = self._writer.fallback(in_flight)
                    return
                if self.record is not None or self.provisional_record is not None:
                    return
                record = self._base_record("error")
                record.update(
                    request_id=None, error_type=error_type, error_message=message, provisional=True
                )
                record = self._priced_with_metrics(record)
                self.provisional_record = record
            self.provisional_delivery = self._writer.write(record, urgent=True)
        except Exception:
            logger.exception("could not write the provisional usage record")

    # Internals ------------------------------------------------------------------------

    def _base_record(self, status: Status) -> Record:
        latency_ms = None
        if self._started is not None:
            ended = self._ended if self._ended is not None else self._monotonic()
            latency_ms = max(0, round((ended - self._started) * 1000))
        record = new_record(
            status=status,
            invocation_id=self._invocation_id,
            tenant_id=self._identity.tenant_id,
            application_id=self._identity.application_id,
            user_id=self._identity.user_id,
            model_id=self._identity.model_id,
            latency_ms=latency_ms,
            timestamp=self._now(),
        )
        if self._prompt is not None:
            record["prompt"] = self._prompt
        return record

    def _priced_with_metrics(self, record: Record) -> Record:
        """``record`` with its cost and EMF metrics; as it was should either fail.

        A record without a price or metrics still counts the call; a record lost
        to a pricing bug would not.
        """
        try:
            self._pricing.price(record)
        except Exception:
            logger.exception("could not price the usage record")
        try:
            return with_metrics(record)
        except Exception:
            logger.exception("could not add metrics to the usage record")
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
            record = self._priced_with_metrics(record)
            self.record = record
        self.delivery = self._writer.write(record, remaining_ms=self._remaining_ms)


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant"}.get(message.type, message.type)
