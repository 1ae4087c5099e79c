"""One invocation's usage record: built from the outcome, written exactly once."""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from bedrock_tenant_client.outcome import BedrockAnswer, CallTimer, Failure, TokenUsage
from bedrock_tenant_client.redaction import redact
from bedrock_tenant_client.usage.metrics import with_metrics
from bedrock_tenant_client.usage.writer import RecordSink
from contracts.pricing import Pricing
from contracts.usage_metrics import DimensionValues
from contracts.usage_record import Delivery, LogContent, Record, Source, Status, new_record

# Plain logging: handler.py hands these loggers the Powertools JSON formatter.
logger = logging.getLogger(__name__)

# What a success record says when it could not be built (content capture or
# redaction failed): the call still counts, as an error of this function.
UNREADABLE_ANSWER = Failure("InternalError", "usage could not be read")


@dataclass(frozen=True)
class CallIdentity:
    """Who made a call and to which model: the record's identifying fields."""

    tenant_id: str
    application_id: str
    user_id: str
    model_id: str
    # The tier the call asks for; an answer's record says the tier Bedrock served.
    service_tier: str | None = None
    # Whether the tenant's calls carry a guardrail (else the record says null).
    guarded: bool = False


class UsageRecorder:
    """Builds and writes exactly one usage record for one invocation.

    Create one per invocation. The invocation reports the outcome once it is
    known (``succeeded`` with the ``BedrockAnswer``, ``failed`` with the
    ``Failure``: refused before any call, failed, or given up at the deadline;
    ``provisional_failure`` from the timeout watchdog while the call still runs);
    ``UsageCallback`` only hands over the prompt LangChain sends. Latencies are
    the invocation's ``CallTimer``'s, the one clock of the call.
    ``record`` holds the invocation's real record once written (never the
    provisional one, which is in ``provisional_record``). Nothing here raises: a
    failure to log must not fail the call.

    ``invocation_id`` (the Lambda request id) goes into every record, so a
    provisional record and the one superseding it can be matched. ``pricing``
    (``contracts.pricing.Pricing``, the tenant's region and overrides) sets each
    record's ``cost_usd``, ``price_table_version`` and ``price_source``.
    ``dimensions`` (the tenant's models and applications) bounds the metric
    dimension values, whatever the caller named.
    """

    def __init__(
        self,
        *,
        writer: RecordSink,
        identity: CallIdentity,
        timer: CallTimer,
        dimensions: DimensionValues,
        log_content: LogContent = LogContent.METADATA,
        invocation_id: str | None = None,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        remaining_ms: Callable[[], int] | None = None,
        pricing: Pricing | None = None,
        source: Source = "function",
    ) -> None:
        self._writer = writer
        self._source = source
        # Unknown region: the price table's any-region entry.
        self._pricing = pricing or Pricing(region="")
        self._identity = identity
        self._dimensions = dimensions
        self._timer = timer
        self._log_content = log_content
        self._invocation_id = invocation_id
        self._now = now
        # The function's remaining time: every write of the real record fits in it.
        self._remaining_ms = remaining_ms
        self._prompt: list[dict[str, str]] | None = None
        self._emit_lock = threading.Lock()
        self.record: Record | None = None
        self.delivery: Delivery | None = None
        self.provisional_record: Record | None = None
        self.provisional_delivery: Delivery | None = None

    # The outcome ------------------------------------------------------------------------

    def prompt_sent(self, prompt: list[BaseMessage]) -> None:
        """Keep the prompt LangChain sends, if the tenant's content mode allows it."""
        try:
            if self._log_content is not LogContent.METADATA:
                self._prompt = [
                    {"role": _role(message), "content": self._content(str(message.text))}
                    for message in prompt
                ]
        except Exception:
            logger.warning("could not capture the prompt for the usage record")

    def succeeded(
        self, answer: BedrockAnswer, *, time_to_first_token_ms: int | None = None
    ) -> None:
        """Write the success record for ``answer`` (once per invocation); a streamed
        call says when its first token came (``time_to_first_token_ms``)."""
        if self.record is not None:
            return
        try:
            usage = answer.usage
            record = self._base_record("success", latency_ms=answer.latency_ms)
            _add_usage(record, usage, time_to_first_token_ms)
            record.update(
                bedrock_latency_ms=answer.bedrock_latency_ms,
                stop_reason=answer.stop_reason,
                request_id=answer.request_id,
                bedrock_retries=answer.bedrock_retries,
                service_tier=answer.service_tier or self._identity.service_tier,
                guardrail_intervened=(
                    answer.guardrail_intervened if self._identity.guarded else None
                ),
                guardrail_text_units=sum(answer.guardrail_units.values()),
            )
            if self._log_content is not LogContent.METADATA:
                record["response"] = self._content(answer.text)
        except Exception:
            logger.exception("could not build the usage record")
            self.failed(UNREADABLE_ANSWER)
            return
        self._emit(record, usage, answer.guardrail_units)

    def failed(
        self,
        failure: Failure,
        *,
        usage: TokenUsage | None = None,
        time_to_first_token_ms: int | None = None,
    ) -> None:
        """Write the error record for an invocation that ends without an answer (once).

        ``usage``: the tokens known when it failed (a stream that failed midway
        may have had Bedrock's counts already); none by default.
        """
        if self.record is not None:
            return
        try:
            record = self._error_record(failure)
            _add_usage(record, usage, time_to_first_token_ms)
        except Exception:
            logger.exception("could not build the usage error record")
            return
        self._emit(record, usage or TokenUsage())

    def cancelled(
        self, *, usage: TokenUsage | None = None, time_to_first_token_ms: int | None = None
    ) -> None:
        """Write the record of a stream its caller abandoned before the answer ended
        (closed, broke out of, cancelled): status ``cancelled``, the tokens known then."""
        if self.record is not None:
            return
        try:
            record = self._base_record("cancelled", latency_ms=self._timer.elapsed_ms())
            _add_usage(record, usage, time_to_first_token_ms)
        except Exception:
            logger.exception("could not build the usage record of a cancelled stream")
            return
        self._emit(record, usage or TokenUsage())

    def provisional_failure(self, failure: Failure) -> None:
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
                record = self._error_record(failure)
                record["provisional"] = True
                record = self._priced_with_metrics(record, TokenUsage())
                self.provisional_record = record
            self.provisional_delivery = self._writer.write(record, urgent=True)
        except Exception:
            logger.exception("could not write the provisional usage record")

    # Internals ------------------------------------------------------------------------

    def _base_record(self, status: Status, *, latency_ms: int | None) -> Record:
        record = new_record(
            status=status,
            invocation_id=self._invocation_id,
            tenant_id=self._identity.tenant_id,
            application_id=self._identity.application_id,
            user_id=self._identity.user_id,
            model_id=self._identity.model_id,
            latency_ms=latency_ms,
            timestamp=self._now(),
            service_tier=self._identity.service_tier,
            source=self._source,
        )
        if self._prompt is not None:
            record["prompt"] = self._prompt
        return record

    def _error_record(self, failure: Failure) -> Record:
        # The call's time so far: it may have ended (an error) or still run (a timeout).
        record = self._base_record("error", latency_ms=self._timer.elapsed_ms())
        record.update(
            request_id=failure.request_id,
            error_type=failure.error_type,
            error_message=failure.message,
        )
        if failure.bedrock_retries is not None:
            record["bedrock_retries"] = failure.bedrock_retries
        return record

    def _priced_with_metrics(
        self,
        record: Record,
        usage: TokenUsage,
        guardrail_units: Mapping[str, int] | None = None,
    ) -> Record:
        """``record`` with its cost and EMF metrics; as it was should either fail.

        A record without a price or metrics still counts the call; a record lost
        to a pricing bug would not. A model nobody priced gets ``cost_usd: null``;
        readers may price it later. The cost is at the record's service tier, plus
        the text units the guardrail assessed (``guardrail_units``).
        """
        try:
            quote = self._pricing.quote(
                self._identity.model_id,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens,
                cache_write_input_tokens=usage.cache_write_input_tokens,
                service_tier=record.get("service_tier"),
                guardrail_units=guardrail_units,
            )
            record.update(
                cost_usd=quote.usd,
                price_table_version=quote.version,
                price_source=quote.source,
            )
        except Exception:
            logger.exception("could not price the usage record")
        try:
            return with_metrics(record, self._dimensions)
        except Exception:
            logger.exception("could not add metrics to the usage record")
            return record

    def _content(self, text: str) -> str:
        return redact(text) if self._log_content is LogContent.REDACTED else text

    def _emit(
        self,
        record: Record,
        usage: TokenUsage,
        guardrail_units: Mapping[str, int] | None = None,
    ) -> None:
        # One real record per invocation. The watchdog's provisional record does not
        # count: the real one is still written and names what it supersedes. Only the
        # decision is under the lock; neither write waits for the other.
        try:
            with self._emit_lock:
                if self.record is not None:
                    return
                if self.provisional_record is not None:
                    record["supersedes"] = self.provisional_record["error_type"]
                record = self._priced_with_metrics(record, usage, guardrail_units)
                self.record = record
            self.delivery = self._writer.write(record, remaining_ms=self._remaining_ms)
        except Exception:
            logger.exception("could not write the usage record")


def _add_usage(
    record: Record, usage: TokenUsage | None, time_to_first_token_ms: int | None
) -> None:
    # Bedrock's counts and, for a stream, its first token's time. An unfinished
    # call has what it received: a stream's counts arrive in its last event, so
    # usually none.
    if usage is not None:
        record.update(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
            cache_write_input_tokens=usage.cache_write_input_tokens,
        )
    if time_to_first_token_ms is not None:
        record["time_to_first_token_ms"] = time_to_first_token_ms


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant"}.get(message.type, message.type)
