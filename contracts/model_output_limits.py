"""The most output tokens each known model may be asked for, by base model id.

The function always sends Bedrock an explicit ``maxTokens``: Bedrock reserves
input + cache + ``maxTokens`` against the account's tokens-per-minute quota
before it answers, and an unset ``maxTokens`` reserves the model's maximum, so
one tenant's calls could hold the quota every tenant shares. An event that names
no ``max_tokens`` is sent ``min(the tenant's max_tokens, the model's limit)``:
asking more of a model than its limit is a ValidationException.

Limits from each provider's model card on Bedrock (the model's "max output
tokens"), taken 2026-11-15. A model not listed gets the tenant's cap alone.
"""

from __future__ import annotations

from contracts.model_access import parse_model_id

OUTPUT_TOKEN_LIMITS: dict[str, int] = {
    "anthropic.claude-3-haiku-20240307-v1:0": 4_096,
    "anthropic.claude-3-sonnet-20240229-v1:0": 4_096,
    "anthropic.claude-3-opus-20240229-v1:0": 4_096,
    "anthropic.claude-instant-v1": 4_096,
    "anthropic.claude-3-5-haiku-20241022-v1:0": 8_192,
    "anthropic.claude-3-5-sonnet-20240620-v1:0": 8_192,
    "anthropic.claude-3-5-sonnet-20241022-v2:0": 8_192,
    "anthropic.claude-3-7-sonnet-20250219-v1:0": 64_000,
    "anthropic.claude-sonnet-4-20250514-v1:0": 64_000,
    "anthropic.claude-opus-4-20250514-v1:0": 32_000,
    "anthropic.claude-opus-4-1-20250805-v1:0": 32_000,
    "anthropic.claude-sonnet-4-5-20250929-v1:0": 64_000,
    "anthropic.claude-haiku-4-5-20251001-v1:0": 64_000,
    "amazon.nova-micro-v1:0": 10_000,
    "amazon.nova-lite-v1:0": 10_000,
    "amazon.nova-pro-v1:0": 10_000,
    "amazon.titan-text-express-v1": 8_192,
    "meta.llama3-8b-instruct-v1:0": 2_048,
    "meta.llama3-70b-instruct-v1:0": 2_048,
    "mistral.mistral-large-2402-v1:0": 8_192,
}


def output_token_limit(model_id: str) -> int | None:
    """The model's own output limit (a cross-region profile id counts as its base
    model), or None for a model this table does not know."""
    try:
        _, foundation = parse_model_id(model_id)
    except ValueError:
        return None
    return OUTPUT_TOKEN_LIMITS.get(foundation)


def default_max_tokens(model_id: str, *, cap: int) -> int:
    """What a call names as ``maxTokens`` when its event names none: the tenant's
    cap, lowered to the model's own limit."""
    limit = output_token_limit(model_id)
    return cap if limit is None else min(cap, limit)
