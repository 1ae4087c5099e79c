"""The LangChain callback that writes one usage record per model call of a workload.

LangChain reports every call made through a chat model to its callbacks: the
start (with the messages), each streamed token, then exactly one of the end (with
the answer, or a stream's merged chunks) or the error. This callback keeps one
``UsageRecorder`` per run and writes the record at that one ending:

- an answer, streamed or not: ``success``, with Bedrock's usage (a stream's comes in
  its last event, ``metadata``) and, for a stream, the time to its first token;
- a stream its caller abandoned (broke out of the loop, closed the generator,
  cancelled the task: LangChain reports ``GeneratorExit`` or ``CancelledError``):
  ``cancelled``, with the tokens known by then. A stream abandoned after Bedrock's
  last event had arrived is a ``success``: the answer was whole;
- anything else (a stream that failed midway, a refused call): ``error``.

It never raises into the call (``raise_error`` is False) and runs inline: at the
call's end it only stops the clock and hands the rest (reading the answer,
pricing it, its metrics, the record) to the sink's thread when the sink has one
(``submit``), so neither a caller nor an event loop waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from bedrock_tenant_client.outcome import BedrockAnswer, CallTimer, Failure, TokenUsage
from bedrock_tenant_client.usage.record import CallIdentity, UsageRecorder
from bedrock_tenant_client.usage.writer import RecordSink
from contracts.pricing import Pricing
from contracts.usage_metrics import DimensionValues
from contracts.usage_record import LogContent

logger = logging.getLogger(__name__)

# What a caller that walks away from a stream raises into it.
_ABANDONED = (GeneratorExit, asyncio.CancelledError, KeyboardInterrupt)
# A call's identity may be given per call: config={"metadata": {"user_id": ...}}.
IDENTITY_METADATA_KEYS = ("application_id", "user_id")


@dataclass
class _Call:
    recorder: UsageRecorder
    timer: CallTimer
    first_token_ms: int | None = None


@dataclass(frozen=True)
class RecordingContext:
    """Everything a record needs besides the call: the tenant's side of it."""

    sink: RecordSink
    identity: CallIdentity
    dimensions: DimensionValues
    pricing: Pricing
    log_content: LogContent = LogContent.METADATA


class UsageRecordingCallback(BaseCallbackHandler):
    """Writes exactly one usage record for each model call it sees (see the module)."""

    raise_error = False
    run_inline = True

    def __init__(self, context: RecordingContext) -> None:
        super().__init__()
        self._context = context
        self._calls: dict[UUID, _Call] = {}
        self._lock = threading.Lock()

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
        """A call starts: its clock, its recorder and, content mode allowing, the prompt."""
        try:
            context = self._context
            overrides: dict[str, Any] = {
                key: str(value)
                for key, value in (metadata or {}).items()
                if key in IDENTITY_METADATA_KEYS and value
            }
            timer = CallTimer()
            recorder = UsageRecorder(
                writer=context.sink,
                identity=replace(context.identity, **overrides),
                timer=timer,
                dimensions=context.dimensions,
                log_content=context.log_content,
                # LangChain's run id: unique per call, the key readers match copies on.
                invocation_id=str(run_id),
                pricing=context.pricing,
                source="library",
            )
            with self._lock:
                self._calls[run_id] = _Call(recorder, timer)
            timer.start()
            recorder.prompt_sent(messages[0] if messages else [])
        except Exception:
            logger.exception("could not start the usage record")

    def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """A streamed chunk: the first with text fixes the time to first token."""
        call = self._calls.get(run_id)
        if call is not None and call.first_token_ms is None and token:
            call.first_token_ms = call.timer.elapsed_ms()

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """The answer is whole: the success record."""
        call = self._finish(run_id)
        if call is not None:
            self._later(lambda: self._answered(call, response))

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        response: LLMResult | None = None,
        **kwargs: Any,
    ) -> None:
        """The call ended without a whole answer: cancelled, or an error."""
        call = self._finish(run_id)
        if call is not None:
            self._later(lambda: self._ended_early(call, error, response))

    def _later(self, task: Callable[[], None]) -> None:
        submit = getattr(self._context.sink, "submit", None)
        if submit is None:
            task()
        else:
            submit(task)

    @staticmethod
    def _answered(call: _Call, response: LLMResult) -> None:
        try:
            message = response.generations[0][0]
            assert isinstance(message, ChatGeneration)
            answer = BedrockAnswer.from_message(message.message, latency_ms=call.timer.elapsed_ms())
        except Exception:
            logger.exception("could not read the answer for the usage record")
            call.recorder.failed(Failure("InternalError", "usage could not be read"))
            return
        call.recorder.succeeded(answer, time_to_first_token_ms=call.first_token_ms)

    @staticmethod
    def _ended_early(call: _Call, error: BaseException, response: LLMResult | None) -> None:
        partial = _partial_message(response)
        if isinstance(error, _ABANDONED):
            if partial is not None and _is_whole(partial):
                # Abandoned after Bedrock's last event: the answer was whole.
                answer = BedrockAnswer.from_message(partial, latency_ms=call.timer.elapsed_ms())
                call.recorder.succeeded(answer, time_to_first_token_ms=call.first_token_ms)
                return
            call.recorder.cancelled(
                usage=_usage(partial), time_to_first_token_ms=call.first_token_ms
            )
            return
        call.recorder.failed(
            Failure.from_exception(error),
            usage=_usage(partial),
            time_to_first_token_ms=call.first_token_ms,
        )

    def _finish(self, run_id: UUID) -> _Call | None:
        with self._lock:
            call = self._calls.pop(run_id, None)
        if call is not None:
            call.timer.stop()
        return call


def _partial_message(response: LLMResult | None) -> BaseMessage | None:
    """The chunks a stream had yielded before it ended, merged (LangChain puts them
    first, before the error's own generation, when there were any)."""
    if response is None or len(response.generations) < 2 or not response.generations[0]:
        return None
    generation = response.generations[0][0]
    return generation.message if isinstance(generation, ChatGeneration) else None


def _is_whole(message: BaseMessage) -> bool:
    # Bedrock's stopReason (messageStop) and usage (metadata) both arrived.
    return bool(
        getattr(message, "usage_metadata", None)
        and getattr(message, "response_metadata", {}).get("stopReason")
    )


def _usage(message: BaseMessage | None) -> TokenUsage | None:
    if message is None or not getattr(message, "usage_metadata", None):
        return None
    return TokenUsage.from_message(message)
