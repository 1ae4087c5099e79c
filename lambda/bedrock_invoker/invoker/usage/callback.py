"""The LangChain side of usage recording: a thin adapter over ``UsageRecorder``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from invoker.usage.record import UsageRecorder


class UsageCallback(BaseCallbackHandler):
    """Hands the prompt, the answer (its usage and response metadata) or the error over.

    ``ChatBedrockConverse`` returns no ``llm_output``: the usage is on the
    generation's message. Pass one per invocation through
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
        """The answer, with the usage and response metadata ChatBedrockConverse put on it."""
        generation = response.generations[0][0] if response.generations else None
        if isinstance(generation, ChatGeneration):
            self.recorder.succeeded(generation.message)
        else:
            self.recorder.refused("InternalError", "the model returned no chat generation")

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """A failed call (throttling, access denied, validation ...)."""
        self.recorder.failed(error)
