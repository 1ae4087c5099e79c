"""The Converse model behind the emulated endpoint: what a request must look like, and its answer.

``embedded_aws.bedrock`` owns the endpoint (routing, identity, IAM, faults, the
call log); this module owns the request body and the answer, so Converse's
fidelity (validation, tool use, stop sequences, token counts, caching) grows
here without touching authorization:

* :func:`check_request` raises Bedrock's ValidationException for a body Bedrock
  would refuse;
* :func:`answer` is the deterministic answer with its ``usage``, reading and
  writing the per-account :class:`PromptCache`;
* :func:`input_tokens` is what ``usage.inputTokens`` counts before caching and
  what CountTokens answers.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

from embedded_aws.bedrock_answers import (
    count_tokens,
    deterministic_answer,
    request_segments,
    truncate,
)


class ConverseValidationError(Exception):
    """A request Bedrock answers with ValidationException (HTTP 400) and this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PromptCache:
    """Prompt prefixes written by earlier calls, per account and model (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: set[tuple[str | None, str, str]] = set()

    def hit(self, account_id: str | None, model_id: str, prefix: str) -> bool:
        """Was this prefix cached before? It is cached from now on either way."""
        key = (account_id, model_id, hashlib.sha256(prefix.encode()).hexdigest())
        with self._lock:
            seen = key in self._entries
            self._entries.add(key)
        return seen


def check_request(body: Any) -> None:
    """Raise ConverseValidationError for a conversation Bedrock would not accept."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ConverseValidationError(
            "The model returned the following errors: messages: at least one message is required"
        )
    if not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        raise ConverseValidationError(
            "A conversation must start with a user message. "
            "Try again with a conversation that starts with a user message."
        )


def input_tokens(body: Mapping[str, Any]) -> int:
    """The input tokens of a Converse request before caching: what Converse's
    ``usage`` counts (cached parts included) and what CountTokens answers."""
    texts, _ = request_segments(body)
    return count_tokens(" ".join(texts))


def answer(
    model_id: str, body: Mapping[str, Any], *, account_id: str | None, cache: PromptCache
) -> dict[str, Any]:
    """Converse's response body for a checked request, without ``metrics``."""
    inference = body.get("inferenceConfig") or {}
    max_tokens = inference.get("maxTokens")
    text, stop_reason = truncate(deterministic_answer(model_id, body), max_tokens)
    texts, cache_upto = request_segments(body)
    total_in = input_tokens(body)
    usage: dict[str, int] = {}
    if cache_upto:
        prefix = " ".join(texts[:cache_upto])
        cached = count_tokens(prefix)
        hit = cache.hit(account_id, model_id, prefix)
        usage["cacheReadInputTokens" if hit else "cacheWriteInputTokens"] = cached
        usage["cacheReadInputTokens" if not hit else "cacheWriteInputTokens"] = 0
        total_in = max(0, total_in - cached)
    out = count_tokens(text)
    cached_total = usage.get("cacheReadInputTokens", 0) + usage.get("cacheWriteInputTokens", 0)
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": total_in,
            "outputTokens": out,
            "totalTokens": total_in + out + cached_total,
            **usage,
        },
    }
