"""The foundation models the emulated Bedrock knows, and what each supports in Converse.

One catalogue for the endpoint (an id not in it is Bedrock's "The provided model
identifier is invalid.") and for the Converse emulator (what a request may ask
of the model). The figures are AWS's, from:

* the Converse "Supported models and model features" table
  (https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html):
  system prompts, document chat, vision, tool use, streamed tool use;
* ToolChoice (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html):
  ``any`` and ``tool`` are honoured by Anthropic Claude 3 and later and Amazon
  Nova; Mistral Large takes ``any`` but not ``tool``;
* prompt caching (https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html):
  the models with caching, their minimum tokens per cache checkpoint, at most 4
  checkpoints, and the fields a checkpoint may sit in;
* each model's parameters page for its maximum output tokens and the native
  fields ``additionalModelRequestFields`` may carry.

Every model in ``contracts/prices.json`` is here (a test holds them equal), plus
the newer Claude models a tenant may name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from contracts.model_access import model_id_of_source_arn, parse_model_id

TOOL_CHOICES_CLAUDE = frozenset({"auto", "any", "tool"})
TOOL_CHOICES_NOVA = frozenset({"auto", "any", "tool"})
TOOL_CHOICES_MISTRAL_LARGE = frozenset({"auto", "any"})
NO_TOOLS: frozenset[str] = frozenset()

# Native Anthropic Messages fields Converse does not map itself (top_k has no
# Converse field; anthropic_beta turns on beta features). ``thinking`` only on
# models with extended thinking (Claude 3.7 Sonnet and Claude 4).
_CLAUDE_FIELDS = frozenset({"top_k", "anthropic_beta"})
_CLAUDE_THINKING_FIELDS = _CLAUDE_FIELDS | {"thinking"}
# Nova's native body nests topK under inferenceConfig.
_NOVA_FIELDS = frozenset({"inferenceConfig"})
_MISTRAL_FIELDS = frozenset({"top_k"})


@dataclass(frozen=True, kw_only=True)
class ModelFeatures:
    """What one foundation model accepts and honours through Converse on Bedrock."""

    model_id: str
    name: str
    max_output_tokens: int
    system_prompts: bool = True
    document_input: bool = True
    image_input: bool = False
    tool_use: bool = False
    streamed_tool_use: bool = False
    tool_choices: frozenset[str] = NO_TOOLS
    # None: the model has no prompt caching, a cachePoint is refused.
    cache_min_tokens: int | None = None
    max_cache_checkpoints: int = 4
    # Where a cachePoint may sit: Claude also caches tool definitions, Nova does not.
    cache_fields: frozenset[str] = frozenset({"system", "messages"})
    additional_fields: frozenset[str] = frozenset()

    @property
    def prompt_caching(self) -> bool:
        """Does the model cache prompt prefixes at explicit cache points?"""
        return self.cache_min_tokens is not None


def _claude3(model_id: str, name: str, *, max_output: int, **changes: Any) -> ModelFeatures:
    """A Claude 3-generation or later model: vision, documents, tools and forced tools."""
    claude = ModelFeatures(
        model_id=model_id,
        name=name,
        max_output_tokens=max_output,
        image_input=True,
        tool_use=True,
        streamed_tool_use=True,
        tool_choices=TOOL_CHOICES_CLAUDE,
        cache_fields=frozenset({"system", "messages", "tools"}),
        additional_fields=_CLAUDE_FIELDS,
    )
    return replace(claude, **changes)


def _nova(model_id: str, name: str, *, images: bool) -> ModelFeatures:
    """Amazon Nova: tools and tool choice, caching from 1K tokens, 10K output tokens."""
    return ModelFeatures(
        model_id=model_id,
        name=name,
        max_output_tokens=10_000,
        document_input=images,
        image_input=images,
        tool_use=True,
        streamed_tool_use=True,
        tool_choices=TOOL_CHOICES_NOVA,
        cache_min_tokens=1_000,
        additional_fields=_NOVA_FIELDS,
    )


_CATALOGUE: tuple[ModelFeatures, ...] = (
    # Claude 3 Haiku and Claude 3 Opus have no prompt caching on Bedrock.
    _claude3("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", max_output=4_096),
    _claude3("anthropic.claude-3-sonnet-20240229-v1:0", "Claude 3 Sonnet", max_output=4_096),
    _claude3("anthropic.claude-3-opus-20240229-v1:0", "Claude 3 Opus", max_output=4_096),
    # Claude 3.5 Haiku reads no images on Bedrock (the features table: Vision "No").
    _claude3(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "Claude 3.5 Haiku",
        max_output=8_192,
        image_input=False,
        cache_min_tokens=2_048,
    ),
    _claude3("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", max_output=8_192),
    # Caching on Claude 3.5 Sonnet v2 is the preview AWS lists with 1,024 tokens.
    _claude3(
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "Claude 3.5 Sonnet v2",
        max_output=8_192,
        cache_min_tokens=1_024,
    ),
    _claude3(
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        "Claude 3.7 Sonnet",
        max_output=64_000,
        cache_min_tokens=1_024,
        additional_fields=_CLAUDE_THINKING_FIELDS,
    ),
    _claude3(
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "Claude Sonnet 4",
        max_output=64_000,
        cache_min_tokens=1_024,
        additional_fields=_CLAUDE_THINKING_FIELDS,
    ),
    _claude3(
        "anthropic.claude-opus-4-20250514-v1:0",
        "Claude Opus 4",
        max_output=32_000,
        cache_min_tokens=1_024,
        additional_fields=_CLAUDE_THINKING_FIELDS,
    ),
    _claude3(
        "anthropic.claude-opus-4-1-20250805-v1:0",
        "Claude Opus 4.1",
        max_output=32_000,
        cache_min_tokens=1_024,
        additional_fields=_CLAUDE_THINKING_FIELDS,
    ),
    _claude3(
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "Claude Sonnet 4.5",
        max_output=64_000,
        cache_min_tokens=1_024,
        additional_fields=_CLAUDE_THINKING_FIELDS,
    ),
    _claude3(
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "Claude Haiku 4.5",
        max_output=64_000,
        cache_min_tokens=4_096,
        additional_fields=_CLAUDE_THINKING_FIELDS,
    ),
    # Claude 2.x and earlier: chat, documents and system prompts, no tools, no images.
    ModelFeatures(
        model_id="anthropic.claude-instant-v1",
        name="Claude Instant",
        max_output_tokens=4_096,
        additional_fields=frozenset({"top_k"}),
    ),
    _nova("amazon.nova-micro-v1:0", "Nova Micro", images=False),
    _nova("amazon.nova-lite-v1:0", "Nova Lite", images=True),
    _nova("amazon.nova-pro-v1:0", "Nova Pro", images=True),
    # Nova Premier's model card: 25K output tokens.
    replace(
        _nova("amazon.nova-premier-v1:0", "Nova Premier", images=True), max_output_tokens=25_000
    ),
    # Titan Text: no system prompts, no tools, no images.
    ModelFeatures(
        model_id="amazon.titan-text-express-v1",
        name="Titan Text G1 - Express",
        max_output_tokens=8_192,
        system_prompts=False,
    ),
    ModelFeatures(
        model_id="meta.llama3-8b-instruct-v1:0", name="Llama 3 8B Instruct", max_output_tokens=2_048
    ),
    ModelFeatures(
        model_id="meta.llama3-70b-instruct-v1:0",
        name="Llama 3 70B Instruct",
        max_output_tokens=2_048,
    ),
    # Mistral Large: tool use, but not streamed, and tool choice "any" only.
    ModelFeatures(
        model_id="mistral.mistral-large-2402-v1:0",
        name="Mistral Large (24.02)",
        max_output_tokens=8_192,
        tool_use=True,
        tool_choices=TOOL_CHOICES_MISTRAL_LARGE,
        additional_fields=_MISTRAL_FIELDS,
    ),
)

MODELS: dict[str, ModelFeatures] = {model.model_id: model for model in _CATALOGUE}


def foundation_model_id(model_id: str) -> str | None:
    """The foundation model behind a model id, a cross-region profile id (``us.``,
    ``global.`` ...) or a foundation-model or system-profile ARN; None if it is none
    of those."""
    try:
        if model_id.startswith("arn:"):
            model_id = model_id_of_source_arn(model_id)
        _, foundation = parse_model_id(model_id)
    except ValueError:
        return None
    return foundation


def model_features(model_id: str) -> ModelFeatures | None:
    """The features of the model a Converse call names, or None for a model Bedrock
    does not know (its ValidationException "The provided model identifier is invalid.")."""
    foundation = foundation_model_id(model_id)
    return MODELS.get(foundation) if foundation else None
