"""Bedrock guardrails in the embedded cloud: a deterministic stand-in for their assessment.

Bedrock's guardrails run trained classifiers; the embedded cloud cannot. An
emulated guardrail holds what a registry or a test declares (blocked words, and
whether content filters are on) and assesses a Converse request as Bedrock
documents the outcome ("How Amazon Bedrock Guardrails works"):

* the trigger is deterministic and documented: the prompt (system or any user
  turn) contains one of the guardrail's blocked words, as a whole word, in any
  case. The guardrail then intervenes on the input: the model is not called, the
  answer is the guardrail's blocked-input message, ``stopReason`` is
  ``guardrail_intervened``, and no model tokens are counted;
* otherwise the answer passes (the emulator never blocks an output);
* with ``trace`` enabled the response carries ``trace.guardrail`` with an input
  assessment (and an output assessment for an answer) keyed by the guardrail id,
  each with ``invocationMetrics.usage``: the text units assessed per configured
  policy, one unit per started 1,000 characters (Bedrock's text unit). Word
  filters count as ``wordPolicyUnits`` (free on AWS), content filters as
  ``contentPolicyUnits``.

Content filters are recorded but never trigger: there is no classifier here.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

GUARDRAIL_INTERVENED = "guardrail_intervened"
TEXT_UNIT_CHARS = 1000
DEFAULT_BLOCKED_INPUT_MESSAGING = "Sorry, the model cannot answer this question."


@dataclass(frozen=True)
class EmulatedGuardrail:
    """One guardrail version as the emulator assesses it."""

    arn: str
    guardrail_id: str
    account_id: str
    region: str
    name: str
    version: str
    blocked_words: tuple[str, ...] = ()
    content_filters: bool = False
    blocked_input_messaging: str = DEFAULT_BLOCKED_INPUT_MESSAGING

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as served by the admin endpoint."""
        return asdict(self)


def new_guardrail(
    *,
    account_id: str,
    region: str,
    partition: str,
    name: str,
    version: str = "1",
    blocked_words: Sequence[str] = (),
    content_filters: bool = False,
    blocked_input_messaging: str = DEFAULT_BLOCKED_INPUT_MESSAGING,
) -> EmulatedGuardrail:
    """A guardrail with an id generated as Bedrock does (12 lowercase letters and digits)."""
    guardrail_id = uuid.uuid4().hex[:12]
    return EmulatedGuardrail(
        arn=f"arn:{partition}:bedrock:{region}:{account_id}:guardrail/{guardrail_id}",
        guardrail_id=guardrail_id,
        account_id=account_id,
        region=region,
        name=name,
        version=version,
        blocked_words=tuple(blocked_words),
        content_filters=content_filters,
        blocked_input_messaging=blocked_input_messaging,
    )


def _texts(body: Mapping[str, Any]) -> list[str]:
    """The prompt's text: the system blocks and every user turn's text blocks."""
    texts = [b["text"] for b in body.get("system") or [] if isinstance(b.get("text"), str)]
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            texts += [
                b["text"] for b in message.get("content") or [] if isinstance(b.get("text"), str)
            ]
    return texts


def _blocked_word(guardrail: EmulatedGuardrail, texts: Sequence[str]) -> str | None:
    for word in guardrail.blocked_words:
        pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
        if any(pattern.search(text) for text in texts):
            return word
    return None


def _assessment(guardrail: EmulatedGuardrail, chars: int, matched: str | None) -> dict[str, Any]:
    units = math.ceil(chars / TEXT_UNIT_CHARS) if chars else 0
    usage = {
        "topicPolicyUnits": 0,
        "contentPolicyUnits": units if guardrail.content_filters else 0,
        "wordPolicyUnits": units if guardrail.blocked_words else 0,
        "sensitiveInformationPolicyUnits": 0,
        "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": 0,
    }
    assessment: dict[str, Any] = {
        "invocationMetrics": {
            "guardrailProcessingLatency": 1,
            "usage": usage,
            "guardrailCoverage": {"textCharacters": {"guarded": chars, "total": chars}},
        }
    }
    if matched is not None:
        assessment["wordPolicy"] = {
            "customWords": [{"match": matched, "action": "BLOCKED", "detected": True}]
        }
    return assessment


def assess(
    guardrail: EmulatedGuardrail,
    body: Mapping[str, Any],
    answer: Any,
    *,
    trace: bool,
) -> dict[str, Any]:
    """The Converse response with ``guardrail`` applied to ``body``.

    ``answer`` is a callable giving the model's response (without ``metrics``); it
    is not called when the guardrail intervenes on the input.
    """
    texts = _texts(body)
    input_chars = sum(len(text) for text in texts)
    matched = _blocked_word(guardrail, texts)
    if matched is not None:
        result: dict[str, Any] = {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [{"text": guardrail.blocked_input_messaging}],
                }
            },
            "stopReason": GUARDRAIL_INTERVENED,
            "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
        }
        output_assessments: dict[str, list[dict[str, Any]]] = {}
    else:
        result = dict(answer())
        answer_chars = sum(
            len(block["text"])
            for block in result["output"]["message"]["content"]
            if isinstance(block.get("text"), str)
        )
        output_assessments = {guardrail.guardrail_id: [_assessment(guardrail, answer_chars, None)]}
    if trace:
        # Another guardrail's assessments (an account's floor and the call's own) stay.
        earlier = result.get("trace", {}).get("guardrail", {})
        result["trace"] = {
            "guardrail": {
                "inputAssessment": {
                    **earlier.get("inputAssessment", {}),
                    guardrail.guardrail_id: _assessment(guardrail, input_chars, matched),
                },
                "outputAssessments": {
                    **earlier.get("outputAssessments", {}),
                    **output_assessments,
                },
            }
        }
    return result
