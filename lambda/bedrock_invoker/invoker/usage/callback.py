"""The LangChain side of usage recording: a thin adapter over ``UsageRecorder``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from invoker.usage.record import UsageRecorder


class UsageCallback(BaseCallbackHandler):
    """Hands what LangChain sees to the recorder: the prompt, when the call starts and ends.

    It writes nothing: the invocation records the answer (``ChatBedrockConverse``
    puts the usage and response metadata on the returned message; it has no
    ``llm_output``) or the error once the call has returned, on its own thread,
    within the function's remaining time. Pass one per invocation through
    ``config={"callbacks": [...]}``.
    """

    def __init__(self, recorder: UsageRecorder) -> None:
        super().__init__()
        self.recorder = recorder

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
        """The call starts: the recorder's clock and, content mode allowing, the prompt."""
        self.recorder.started(messages[0] if messages else [])

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """The answer is in: the call's latency ends (the invocation records the answer)."""
        self.recorder.ended()

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """The call failed: its latency ends (the invocation records the error)."""
        self.recorder.ended()
