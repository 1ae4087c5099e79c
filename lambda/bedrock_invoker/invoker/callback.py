"""The LangChain side of an invocation: the call's clock and the prompt, nothing more."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bedrock_tenant_client.outcome import CallTimer
from bedrock_tenant_client.usage.record import UsageRecorder
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult


class UsageCallback(BaseCallbackHandler):
    """Starts and stops the call's ``CallTimer`` and hands the prompt to the recorder.

    It writes nothing: the invocation reads the answer once (``ChatBedrockConverse``
    puts the usage and response metadata on the returned message; it has no
    ``llm_output``) and records it, or the error, once the call has returned, on
    its own thread, within the function's remaining time. Pass one per invocation
    through ``config={"callbacks": [...]}``.
    """

    def __init__(self, recorder: UsageRecorder, timer: CallTimer) -> None:
        super().__init__()
        self.recorder = recorder
        self.timer = timer

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
        """The call starts: the clock and, content mode allowing, the prompt."""
        self.timer.start()
        self.recorder.prompt_sent(messages[0] if messages else [])

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
        self.timer.stop()

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
        self.timer.stop()
