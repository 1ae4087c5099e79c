"""The Converse model behind the emulated endpoint: what a request must look like, and its answer.

``embedded_aws.bedrock`` owns the endpoint (routing, identity, IAM, faults, the
call log); this module owns the request body and the answer, so Converse's
fidelity grows here without touching authorization:

* :func:`check_request` raises Bedrock's ValidationException (with Bedrock's
  message) for a body Bedrock would refuse: turns that do not alternate, empty
  or blank content, inference parameters out of range, a ``toolResult`` that
  answers no ``toolUse``, images whose bytes are not what they claim; and, given
  the model, what that model does not support (``embedded_aws.bedrock_models``):
  ``maxTokens`` above its limit, tools, forced tool choice, tools while
  streaming, images, documents, system prompts, unknown
  ``additionalModelRequestFields`` keys, and cache points (AccessDeniedException,
  as Bedrock answers a cachePoint on a model without prompt caching);
* :func:`answer` is the deterministic answer with its ``usage``: a text, or a
  ``toolUse`` (see :func:`tool_to_call` for when the model calls a tool), cut by
  ``stopSequences`` and ``maxTokens`` as Bedrock does, reading and writing the
  per-account :class:`PromptCache` for the cache points whose prefix reaches the
  model's minimum;
* :func:`input_tokens` is what ``usage`` counts as input before caching, and
  what CountTokens answers.

The messages are Bedrock's own where they are known (quoted by users of the real
service, e.g. "The text field in the ContentBlock object at messages.0.content.0
is blank. Add text to the text field, and try again."); the README's "Real /
Emulated" table lists what is approximate.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema

from embedded_aws.bedrock_answers import (
    IMAGE_FORMATS,
    ToolInputWriter,
    answer_words,
    block_tokens,
    conversation_digest,
    count_tokens,
    decoded_bytes,
    deterministic_answer,
    read_image,
    request_tokens,
    stop_at_sequences,
)
from embedded_aws.bedrock_models import ModelFeatures, model_features

VALIDATION = "ValidationException"


class ConverseValidationError(Exception):
    """A request Bedrock refuses: ``code`` (ValidationException unless said otherwise),
    HTTP ``status`` and ``message`` as Bedrock answers them."""

    def __init__(self, message: str, *, code: str = VALIDATION, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class PromptCache:
    """Prompt prefixes written by earlier calls, per account and model (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: set[tuple[str | None, str, str]] = set()

    def longest_cached(self, account_id: str | None, model_id: str, keys: Sequence[str]) -> int:
        """How many of ``keys`` (prefix keys, shortest first) lead up to the longest cached
        one: 0 when none is cached."""
        with self._lock:
            for count in range(len(keys), 0, -1):
                if (account_id, model_id, keys[count - 1]) in self._entries:
                    return count
        return 0

    def write(self, account_id: str | None, model_id: str, keys: Sequence[str]) -> None:
        """Cache these prefixes from now on."""
        with self._lock:
            self._entries.update((account_id, model_id, key) for key in keys)


# -- the request -----------------------------------------------------------------------------

# AWS's constraint wording for a field out of its documented range.
_RANGES = {"temperature": (0.0, 1.0), "topP": (0.0, 1.0)}


def _constraint_errors(inference: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    for name, (low, high) in _RANGES.items():
        value = inference.get(name)
        if not isinstance(value, int | float):
            continue
        shown = repr(float(value))
        if value < low:
            errors.append(
                f"Value '{shown}' at 'inferenceConfig.{name}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low:g}"
            )
        elif value > high:
            errors.append(
                f"Value '{shown}' at 'inferenceConfig.{name}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high:g}"
            )
    max_tokens = inference.get("maxTokens")
    if isinstance(max_tokens, int) and max_tokens < 1:
        errors.append(
            f"Value '{max_tokens}' at 'inferenceConfig.maxTokens' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1"
        )
    return errors


def _check_inference(body: Mapping[str, Any]) -> None:
    errors = _constraint_errors(body.get("inferenceConfig") or {})
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected"
        raise ConverseValidationError(f"{count}: {'; '.join(errors)}")


def _check_turns(messages: Sequence[Any]) -> None:
    """Start with the user, alternate roles, no empty content, no blank text."""
    if not isinstance(messages[0], Mapping) or messages[0].get("role") != "user":
        raise ConverseValidationError(
            "A conversation must start with a user message. "
            "Try again with a conversation that starts with a user message."
        )
    for i, message in enumerate(messages):
        if i and message.get("role") == messages[i - 1].get("role"):
            raise ConverseValidationError(
                "A conversation must alternate between user and assistant roles. Make sure "
                "the conversation alternates between user and assistant roles and try again."
            )
        content = message.get("content")
        if not content:
            raise ConverseValidationError(
                f"The content field in the Message object at messages.{i} is empty. "
                "Add a ContentBlock object to the content field and try again."
            )
        for j, block in enumerate(content):
            if isinstance(block.get("text"), str) and not block["text"].strip():
                raise ConverseValidationError(
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} "
                    "is blank. Add text to the text field, and try again."
                )


def _tool_ids(content: Sequence[Mapping[str, Any]], kind: str, key: str) -> list[str]:
    return [str(block[kind].get(key)) for block in content if kind in block]


def _check_tool_turns(body: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> None:
    """A toolResult answers a toolUse of the assistant turn just before it."""
    uses_tools = any(
        "toolUse" in block or "toolResult" in block
        for message in messages
        for block in message.get("content") or []
    )
    if uses_tools and not (body.get("toolConfig") or {}).get("tools"):
        raise ConverseValidationError(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    for i, message in enumerate(messages):
        results = _tool_ids(message["content"], "toolResult", "toolUseId")
        if not results:
            continue
        uses = _tool_ids(messages[i - 1]["content"], "toolUse", "toolUseId") if i else []
        if len(results) > len(uses):
            raise ConverseValidationError(
                f"The number of toolResult blocks at messages.{i}.content exceeds the number "
                "of toolUse blocks of previous turn."
            )
        for j, block in enumerate(message["content"]):
            if "toolResult" in block and str(block["toolResult"].get("toolUseId")) not in uses:
                raise ConverseValidationError(
                    f"The model returned the following errors: messages.{i}.content.{j}: "
                    "unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block['toolResult'].get('toolUseId')}. Each `tool_result` block must "
                    "have a corresponding `tool_use` block in the previous message."
                )


def _check_image(image: Mapping[str, Any], where: str, model_id: str | None) -> None:
    """The declared format is one of Converse's, and the bytes are a whole image of it."""
    declared = image.get("format")
    if declared not in IMAGE_FORMATS:
        raise ConverseValidationError(
            f"1 validation error detected: Value '{declared}' at '{where}.image.format' failed "
            "to satisfy constraint: Member must satisfy enum value set: [gif, jpeg, png, webp]"
        )
    data = decoded_bytes(image.get("source") or {})
    if data is None:
        return  # an S3 location: nothing to read here
    info = read_image(data)
    if info is not None and info.format == declared:
        return
    if model_id is None or not model_id.startswith("anthropic."):
        raise ConverseValidationError(
            "The model returned the following errors: "
            "The provided image does not match the specified image format."
        )
    # Claude's own checks, as Bedrock passes them on (Anthropic's wording).
    if info is None:
        detail = (
            f"{where}.image.source.base64: The image was specified using the "
            f"image/{declared} media type, but does not appear to be a valid {declared} image"
        )
    else:
        detail = (
            f"{where}.image.source.base64.data: The image was specified using the "
            f"image/{declared} media type, but the image appears to be a image/{info.format} image"
        )
    raise ConverseValidationError(f"The model returned the following errors: {detail}")


def _content_blocks(
    body: Mapping[str, Any],
) -> list[tuple[str, Mapping[str, Any]]]:
    """Every message block with its path (``messages.i.content.j``), toolResult content included."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for i, message in enumerate(body.get("messages") or []):
        for j, block in enumerate(message.get("content") or []):
            found.append((f"messages.{i}.content.{j}", block))
            for k, inner in enumerate((block.get("toolResult") or {}).get("content") or []):
                found.append((f"messages.{i}.content.{j}.toolResult.content.{k}", inner))
    return found


def _unsupported(feature: str) -> ConverseValidationError:
    return ConverseValidationError(f"This model doesn't support {feature}.")


def _check_model_rules(body: Mapping[str, Any], model: ModelFeatures, *, streaming: bool) -> None:
    """What this model accepts: its limits, its features, its native fields."""
    max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
    if isinstance(max_tokens, int) and max_tokens > model.max_output_tokens:
        limit = model.max_output_tokens
        raise ConverseValidationError(
            f"The maximum tokens you requested exceeds the model limit of {limit}. "
            f"Try again with a maximum tokens value that is lower than {limit}."
        )
    if body.get("system") and not model.system_prompts:
        raise ConverseValidationError(
            "This model doesn't support system messages. Try again without system messages."
        )
    _check_tool_config(body.get("toolConfig"), model, streaming=streaming)
    for _, block in _content_blocks(body):
        for kind, supported in (("image", model.image_input), ("document", model.document_input)):
            if kind in block and not supported:
                raise ConverseValidationError(
                    f"This model doesn't support the {kind} content block that you provided. "
                    "Update the content block and try again."
                )
    for key in body.get("additionalModelRequestFields") or {}:
        if key not in model.additional_fields:
            raise ConverseValidationError(
                f"Malformed input request: #: extraneous key [{key}] is not permitted, "
                "please reformat your input and try again."
            )
    _check_cache_points(body, model)


def _check_tool_config(config: Any, model: ModelFeatures, *, streaming: bool) -> None:
    if not config:
        return
    if not model.tool_use:
        raise _unsupported("tool use")
    if streaming and not model.streamed_tool_use:
        raise _unsupported("tool use in streaming mode")
    choice = config.get("toolChoice") or {}
    for kind in ("any", "tool"):
        if kind in choice and kind not in model.tool_choices:
            raise ConverseValidationError(
                f"This model doesn't support the toolConfig.toolChoice.{kind} field. "
                f"Remove toolConfig.toolChoice.{kind} and try again."
            )
    names = [t["toolSpec"].get("name") for t in config.get("tools") or [] if "toolSpec" in t]
    forced = (choice.get("tool") or {}).get("name")
    if forced is not None and forced not in names:
        raise ConverseValidationError(
            "The model returned the following errors: "
            f"tool_choice.name: Tool '{forced}' not found in provided tools"
        )


def _check_cache_points(body: Mapping[str, Any], model: ModelFeatures) -> None:
    """Cache points only on models with prompt caching, in the fields they cache, at most
    ``max_cache_checkpoints`` of them."""
    sections = {
        "tools": (body.get("toolConfig") or {}).get("tools") or [],
        "system": body.get("system") or [],
        "messages": [b for m in body.get("messages") or [] for b in m.get("content") or []],
    }
    points = {name: sum("cachePoint" in b for b in blocks) for name, blocks in sections.items()}
    if not sum(points.values()):
        return
    if not model.prompt_caching:
        # Bedrock refuses the call outright (HTTP 403), it does not ignore the cache point.
        raise ConverseValidationError(
            "You invoked an unsupported model or your request did not allow prompt caching. "
            "See the documentation for more information.",
            code="AccessDeniedException",
            status=403,
        )
    for name, count in points.items():
        if count and name not in model.cache_fields:
            index = next(i for i, b in enumerate(sections[name]) if "cachePoint" in b)
            where = "toolConfig/tools" if name == "tools" else name
            raise ConverseValidationError(
                f"Malformed input request: #/{where}/{index}: extraneous key [cachePoint] is "
                "not permitted, please reformat your input and try again."
            )
    total = sum(points.values())
    if total > model.max_cache_checkpoints:
        raise ConverseValidationError(
            "The model returned the following errors: A maximum of "
            f"{model.max_cache_checkpoints} blocks with cache_control may be provided. "
            f"Found {total}."
        )


def check_request(body: Any, *, model_id: str | None = None, streaming: bool = False) -> None:
    """Raise ConverseValidationError for a request Bedrock would not accept.

    ``model_id`` (the foundation model, or a profile naming it) adds the rules
    of that model; ``streaming`` is ConverseStream, where some models refuse tools.
    """
    messages = body.get("messages") if isinstance(body, Mapping) else None
    if not isinstance(messages, list) or not messages:
        raise ConverseValidationError(
            "The model returned the following errors: messages: at least one message is required"
        )
    _check_turns(messages)
    _check_inference(body)
    _check_tool_turns(body, messages)
    for where, block in _content_blocks(body):
        if "image" in block:
            _check_image(block["image"], where, _foundation(model_id))
    model = model_features(model_id) if model_id else None
    if model is not None:
        _check_model_rules(body, model, streaming=streaming)


def _foundation(model_id: str | None) -> str | None:
    model = model_features(model_id) if model_id else None
    return model.model_id if model else model_id


# -- the answer ------------------------------------------------------------------------------


def input_tokens(body: Mapping[str, Any]) -> int:
    """The input tokens of a Converse request before caching: what Converse's
    ``usage`` counts (cached parts included) and what CountTokens answers."""
    return request_tokens(body).total


def _user_text(message: Mapping[str, Any]) -> str:
    return " ".join(
        b["text"] for b in message.get("content") or [] if isinstance(b.get("text"), str)
    )


# Words a tool name is made of that say nothing of what it is about.
_FILLER_WORDS = frozenset(
    {"get", "set", "fetch", "call", "run", "use", "do", "my", "the", "tool", "function"}
)


def _name_words(name: str) -> list[str]:
    """``get_weather`` -> ["get", "weather"]; ``getWeather`` and ``get-weather`` alike."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [w.lower() for w in re.split(r"[\W_]+", spaced) if w]


def _named_at(text: str, name: str) -> int | None:
    """Where the text names the tool: its name as written, its words as a phrase, or
    every word of its name that is not filler (``weather`` names ``get_weather``)."""
    words = _name_words(name)
    for phrase in (name, " ".join(words)):
        match = re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE)
        if phrase and match:
            return match.start()
    topical = [w for w in words if w not in _FILLER_WORDS]
    found = [re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.IGNORECASE) for w in topical]
    if topical and all(found):
        return min(m.start() for m in found if m)
    return None


def _named_tools(text: str, specs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The tools the text names, in the order the text names them."""
    found = [
        (_named_at(text, str(spec.get("name", ""))), order, spec)
        for order, spec in enumerate(specs)
    ]
    named = [(at, order, spec) for at, order, spec in found if at is not None]
    return [spec for _, _, spec in sorted(named, key=lambda item: (item[0], item[1]))]


def tool_to_call(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The toolSpec the model calls, or None for a text answer.

    * ``toolChoice.tool``: that tool, always;
    * ``toolChoice.any``: the first tool the last user turn names, else the first tool;
    * ``auto`` (the default): the first tool the last user turn's text names (its
      name, its words as a phrase, or all the words of its name that are not
      filler such as "get" or "tool": "the weather in Paris" names ``get_weather``),
      and none after a toolResult (the model answers the result in text) or when
      the text names no tool.
    """
    config = body.get("toolConfig") or {}
    specs = [t["toolSpec"] for t in config.get("tools") or [] if "toolSpec" in t]
    if not specs:
        return None
    choice = config.get("toolChoice") or {"auto": {}}
    last = (body.get("messages") or [{}])[-1]
    named = _named_tools(_user_text(last), specs) if last.get("role") == "user" else []
    if "tool" in choice:
        return next((s for s in specs if s.get("name") == choice["tool"].get("name")), None)
    if "any" in choice:
        return named[0] if named else specs[0]
    answered = any("toolResult" in b for b in last.get("content") or [])
    return named[0] if named and not answered else None


def _literal(text: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        return text.strip("'\"")


def _call_arguments(name: str, text: str, properties: Sequence[str]) -> dict[str, Any]:
    """Arguments the user wrote as a call, ``name(3)`` or ``name(city="Paris")``:
    positional ones in the schema's property order."""
    match = re.search(rf"{re.escape(name)}\s*\(([^()]*)\)", text)
    if not match or not match.group(1).strip():
        return {}
    given: dict[str, Any] = {}
    for position, part in enumerate(match.group(1).split(",")):
        key, sep, value = part.partition("=")
        if sep and key.strip().isidentifier():
            given[key.strip()] = _literal(value)
        elif position < len(properties):
            given[properties[position]] = _literal(part)
    return given


def tool_input(spec: Mapping[str, Any], text: str, digest: bytes) -> dict[str, Any]:
    """The tool's input: every required property from its schema, with the values the
    user wrote where they validate (as a call, ``name(3)``, or in quotes for string
    properties). It always validates against the schema."""
    schema = (spec.get("inputSchema") or {}).get("json") or {"type": "object"}
    writer = ToolInputWriter(schema, answer_words(digest, 3))
    value = writer.value(schema)
    arguments = value if isinstance(value, dict) else {}
    validator = jsonschema.validators.validator_for(schema)(schema)
    properties = list((schema.get("properties") or {}).keys())
    given = _call_arguments(str(spec.get("name")), text, properties)
    # Quoted text fills the required string properties in order ("a customer named 'X'").
    strings = [
        name
        for name in schema.get("required") or []
        if name not in given and isinstance(arguments.get(name), str)
    ]
    given |= dict(zip(strings, _quoted(text), strict=False))
    for key, value in given.items():
        candidate = {**arguments, key: value}
        if key in properties and validator.is_valid(candidate):
            arguments = candidate
    return arguments


def _quoted(text: str) -> list[str]:
    """Text the user put in quotes, in order (an apostrophe inside a word is no quote)."""
    return [
        single or double
        for single, double in re.findall(r"(?<!\w)'([^']+)'(?!\w)|\"([^\"]+)\"", text)
    ]


def _tool_use_block(
    spec: Mapping[str, Any], body: Mapping[str, Any], digest: bytes
) -> dict[str, Any]:
    last = (body.get("messages") or [{}])[-1]
    # Bedrock's ids look like tooluse_ and 22 URL-safe characters.
    tool_use_id = "tooluse_" + base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")[:22]
    return {
        "toolUse": {
            "toolUseId": tool_use_id,
            "name": spec.get("name"),
            "input": tool_input(spec, _user_text(last), digest),
        }
    }


def _cache_usage(
    model_id: str,
    body: Mapping[str, Any],
    *,
    account_id: str | None,
    cache: PromptCache,
) -> tuple[int, int]:
    """(cache read, cache write) tokens: the longest cached prefix is read, the rest up
    to the last cache point that reaches the model's minimum is written."""
    model = model_features(model_id)
    counted = request_tokens(body)
    if model is None or model.cache_min_tokens is None or not counted.cache_points:
        return 0, 0
    # A checkpoint counts only when the tokens since the previous one reach the minimum
    # ("the first after 1,024 tokens, the second after 2,048" in AWS's words).
    prefixes: list[int] = []
    for blocks, _ in counted.cache_points:
        since = counted.prefix_tokens(blocks) - (
            counted.prefix_tokens(prefixes[-1]) if prefixes else 0
        )
        if since >= model.cache_min_tokens:
            prefixes.append(blocks)
    if not prefixes:
        return 0, 0
    keys = [counted.prefix_key(blocks) for blocks in prefixes]
    base = model.model_id
    hits = cache.longest_cached(account_id, base, keys)
    cache.write(account_id, base, keys)
    read = counted.prefix_tokens(prefixes[hits - 1]) if hits else 0
    written = counted.prefix_tokens(prefixes[-1]) - read
    return read, written


def answer(
    model_id: str, body: Mapping[str, Any], *, account_id: str | None, cache: PromptCache
) -> dict[str, Any]:
    """Converse's response body for a checked request, without ``metrics``."""
    inference = body.get("inferenceConfig") or {}
    max_tokens = inference.get("maxTokens")
    digest = conversation_digest(model_id, body)
    spec = tool_to_call(body)
    block = _tool_use_block(spec, body, digest) if spec is not None else None
    if block is not None and (max_tokens is None or block_tokens(block) <= max_tokens):
        content: list[dict[str, Any]] = [block]
        stop_reason, out = "tool_use", block_tokens(block)
    else:
        stops = inference.get("stopSequences") or []
        text, stop_reason = stop_at_sequences(
            deterministic_answer(model_id, body), stops, max_tokens
        )
        content, out = [{"text": text}], count_tokens(text)
    read, written = _cache_usage(model_id, body, account_id=account_id, cache=cache)
    total_in = input_tokens(body) - read - written
    usage = {
        "inputTokens": total_in,
        "outputTokens": out,
        "totalTokens": total_in + out + read + written,
    }
    if read or written or request_tokens(body).cache_points:
        usage |= {"cacheReadInputTokens": read, "cacheWriteInputTokens": written}
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": usage,
    }
