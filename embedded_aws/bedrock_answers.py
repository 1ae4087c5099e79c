"""What the Bedrock emulator's model says, how many tokens it counts, and how it streams.

* answers are deterministic: the same model and conversation always get the
  same text (derived from a SHA-256 of the request), so tests and demos can
  compare runs; ``maxTokens`` cuts an answer short with ``stopReason: max_tokens``;
* tokens are counted from the text, about one token per 0.75 words (the rule of
  thumb AWS documents);
* a request's text is read in order across system and message blocks, with the
  position of its last ``cachePoint`` for prompt caching;
* ConverseStream's answer is Amazon event-stream messages in Bedrock's order.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from moto.core.eventstream import EventStreamEncoder

# Words the deterministic answers are made of: plain, so a demo reads well.
_VOCABULARY_TEXT = (
    "the tenant usage record stays in its own account while the operations account "
    "holds model access and quota each call is attributed logged and counted with "
    "tokens latency and a request id so billing matches what bedrock reports answers "
    "are deterministic for a given prompt which keeps tests and demos repeatable"
)
_VOCABULARY = tuple(_VOCABULARY_TEXT.split())


def count_tokens(text: str) -> int:
    """Approximate a model tokenizer: one token per 0.75 words, at least one."""
    words = len(re.findall(r"\S+", text))
    return max(1, math.ceil(words / 0.75)) if words else 0


def _block_text(block: Mapping[str, Any]) -> str:
    if "text" in block and isinstance(block["text"], str):
        return block["text"]
    if "toolResult" in block:
        return json.dumps(block["toolResult"].get("content", []), sort_keys=True)
    if "toolUse" in block:
        return json.dumps(block["toolUse"].get("input", {}), sort_keys=True)
    return ""


def request_segments(body: Mapping[str, Any]) -> tuple[list[str], int | None]:
    """All request text in order, and the index after the last cachePoint (if any)."""
    texts: list[str] = []
    cache_upto: int | None = None
    blocks: list[Mapping[str, Any]] = list(body.get("system") or [])
    for message in body.get("messages") or []:
        blocks.extend(message.get("content") or [])
    for block in blocks:
        if "cachePoint" in block:
            cache_upto = len(texts)
        else:
            texts.append(_block_text(block))
    return texts, cache_upto


def deterministic_answer(model_id: str, body: Mapping[str, Any]) -> str:
    """The answer text for a request: a pure function of the model and conversation."""
    digest = hashlib.sha256(
        json.dumps(
            {"model": model_id, "system": body.get("system"), "messages": body.get("messages")},
            sort_keys=True,
        ).encode()
    ).digest()
    n_words = 8 + digest[0] % 25
    words = [_VOCABULARY[digest[(i % 31) + 1] * (i + 1) % len(_VOCABULARY)] for i in range(n_words)]
    return f"{' '.join(words).capitalize()}. (ref {digest.hex()[:8]})"


def truncate(answer: str, max_tokens: int | None) -> tuple[str, str]:
    """The answer cut to ``max_tokens`` words' worth, and the stop reason Bedrock gives."""
    if max_tokens is None or count_tokens(answer) <= max_tokens:
        return answer, "end_turn"
    words = answer.split()
    while words and count_tokens(" ".join(words)) > max_tokens:
        words.pop()
    return " ".join(words), "max_tokens"


_ENCODER = EventStreamEncoder()  # stateless: one serves every stream


def _event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return _ENCODER.encode_message(headers, json.dumps(payload).encode())


def converse_stream_events(result: Mapping[str, Any]) -> bytes:
    """ConverseStream's events for a finished Converse ``result``, in Bedrock's order."""
    text = result["output"]["message"]["content"][0]["text"]
    words = text.split(" ")
    # A few words per delta, as a model streams sub-word chunks.
    chunks = [
        " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "")
        for i in range(0, len(words), 3)
    ]
    parts = [_event("messageStart", {"role": "assistant"})]
    parts += [
        _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": chunk}})
        for chunk in chunks
    ]
    parts.append(_event("contentBlockStop", {"contentBlockIndex": 0}))
    parts.append(_event("messageStop", {"stopReason": result["stopReason"]}))
    parts.append(_event("metadata", {"usage": result["usage"], "metrics": result["metrics"]}))
    return b"".join(parts)
