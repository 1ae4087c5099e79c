"""What the Bedrock emulator's model says, how many tokens it counts, and how it streams.

* answers are deterministic: the same model and conversation always get the
  same text (derived from a SHA-256 of the request), so tests and demos can
  compare runs. Every answer ends with ``(ref <8 hex digits>)``;
* tokens are word pieces: a run of at most five letters or digits, or one other
  visible character, each with the white space before it. That is about four to
  five characters per token, the rule of thumb for English text, and it makes a
  token a unit of text: ``maxTokens`` = N cuts an answer after exactly N
  pieces, and the stream's deltas, ``usage`` and CountTokens all count the same
  pieces;
* images count ``width * height / 750`` tokens (Anthropic's documented rule for
  Claude on Bedrock), the dimensions read from the image itself; documents count
  their text's tokens when they are text (txt, md, csv, html) and one token per
  four bytes otherwise (pdf, doc, docx, xls, xlsx: an approximation, real models
  extract the text and render pages);
* a request's content is read in order across tools, system and message
  blocks, with the positions of its ``cachePoint`` blocks for prompt caching;
* ConverseStream's answer is a list of events in Bedrock's order
  (``converse_stream_events``): ``messageStart``, per content block a
  ``contentBlockStart`` (tool use only: its id and name), ``contentBlockDelta``
  events (text: three tokens each; tool use: its input as partial JSON) and
  ``contentBlockStop``, then ``messageStop`` and ``metadata`` (usage, metrics, and
  the answer's trace, performance and service tier when it has them). Each event
  says how many of the answer's output tokens it carries, so a stream cut short
  knows what it sent; the emulator (``embedded_aws.bedrock``) encodes them one at
  a time as Amazon event-stream messages and sends each as it is produced. A
  stream that fails midway ends with an ``exception`` message
  (``stream_exception``), which botocore raises as ``EventStreamError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moto.core.eventstream import EventStreamEncoder
from PIL import Image, UnidentifiedImageError

# Words the deterministic answers are made of: plain, so a demo reads well.
_VOCABULARY_TEXT = (
    "the tenant usage record stays in its own account while the operations account "
    "holds model access and quota each call is attributed logged and counted with "
    "tokens latency and a request id so billing matches what bedrock reports answers "
    "are deterministic for a given prompt which keeps tests and demos repeatable"
)
_VOCABULARY = tuple(_VOCABULARY_TEXT.split())

# One token: the white space before it, then up to five letters or digits, or one
# other visible character. The pieces of a text, joined, give the text back
# (less trailing white space), so an answer can be cut after any token.
_TOKEN_RE = re.compile(r"\s*(?:[^\W_]{1,5}|[^\s])")

# Anthropic: "tokens = (width px * height px) / 750" for an image within limits.
IMAGE_PIXELS_PER_TOKEN = 750
# Binary documents: about four bytes per token, as for text.
DOCUMENT_BYTES_PER_TOKEN = 4
TEXT_DOCUMENT_FORMATS = frozenset({"txt", "md", "csv", "html"})
# Converse's image formats and the names Pillow gives them.
IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}


def token_pieces(text: str) -> list[str]:
    """The text as the emulated model's tokens, in order."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """How many tokens the emulated model counts in ``text`` (0 for blank text)."""
    return len(token_pieces(text))


def decoded_bytes(source: Mapping[str, Any]) -> bytes | None:
    """The bytes of an image or document ``source``: base64 on the wire, raw in-process;
    None for an S3 location or bytes that are not base64."""
    data = source.get("bytes")
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


@dataclass(frozen=True)
class ImageInfo:
    """What an image's own bytes say it is."""

    format: str  # png, jpeg, gif or webp
    width: int
    height: int

    @property
    def tokens(self) -> int:
        """Its input tokens by Anthropic's rule, at least one."""
        return max(1, math.ceil(self.width * self.height / IMAGE_PIXELS_PER_TOKEN))


def read_image(data: bytes) -> ImageInfo | None:
    """The format and size of an image in one of Converse's formats; None when the
    bytes are not a whole, readable png, jpeg, gif or webp image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # the whole file, not only the header
            size, pil_format = image.size, image.format
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    names = {pil: name for name, pil in IMAGE_FORMATS.items()}
    if pil_format not in names:
        return None
    return ImageInfo(names[pil_format], size[0], size[1])


def _image_tokens(block: Mapping[str, Any]) -> int:
    data = decoded_bytes(block.get("source") or {})
    info = read_image(data) if data is not None else None
    return info.tokens if info else 0


def _document_tokens(block: Mapping[str, Any]) -> int:
    data = decoded_bytes(block.get("source") or {})
    if data is None:
        return 0
    if block.get("format") in TEXT_DOCUMENT_FORMATS:
        return count_tokens(data.decode("utf-8", errors="replace"))
    return math.ceil(len(data) / DOCUMENT_BYTES_PER_TOKEN)


def _content_tokens(blocks: Sequence[Mapping[str, Any]]) -> int:
    """Tokens of the content of a toolResult (text, json, image, document)."""
    return sum(block_tokens(block) for block in blocks)


def block_tokens(block: Mapping[str, Any]) -> int:
    """The input tokens of one content, system or tool block."""
    if isinstance(block.get("text"), str):
        return count_tokens(block["text"])
    if "json" in block:
        return count_tokens(json.dumps(block["json"], sort_keys=True))
    if "image" in block:
        return _image_tokens(block["image"])
    if "document" in block:
        return _document_tokens(block["document"])
    if "toolUse" in block:
        tool_use = block["toolUse"]
        return count_tokens(tool_use.get("name", "")) + count_tokens(
            json.dumps(tool_use.get("input", {}), sort_keys=True)
        )
    if "toolResult" in block:
        return _content_tokens(block["toolResult"].get("content") or [])
    if "toolSpec" in block:
        spec = block["toolSpec"]
        return count_tokens(
            " ".join([spec.get("name", ""), spec.get("description", "")])
        ) + count_tokens(json.dumps(spec.get("inputSchema", {}), sort_keys=True))
    return 0


@dataclass(frozen=True)
class RequestTokens:
    """A request's input tokens in prompt order, and where its cache points sit."""

    tokens: tuple[int, ...]  # per block, tools then system then messages
    # For each cachePoint: how many blocks precede it, and the field it sits in.
    cache_points: tuple[tuple[int, str], ...]
    fingerprints: tuple[str, ...]  # per block, what makes a cached prefix the same

    @property
    def total(self) -> int:
        """Every input token of the request."""
        return sum(self.tokens)

    def prefix_tokens(self, blocks: int) -> int:
        """The tokens of the first ``blocks`` blocks."""
        return sum(self.tokens[:blocks])

    def prefix_key(self, blocks: int) -> str:
        """A digest of the first ``blocks`` blocks: equal prefixes, equal keys."""
        return hashlib.sha256("\n".join(self.fingerprints[:blocks]).encode()).hexdigest()


def request_tokens(body: Mapping[str, Any]) -> RequestTokens:
    """Read a Converse request's blocks in the order the model sees them."""
    tokens: list[int] = []
    fingerprints: list[str] = []
    points: list[tuple[int, str]] = []
    tools = (body.get("toolConfig") or {}).get("tools") or []
    sections: list[tuple[str, Sequence[Mapping[str, Any]]]] = [
        ("tools", tools),
        ("system", body.get("system") or []),
    ]
    sections += [("messages", m.get("content") or []) for m in body.get("messages") or []]
    for field_name, blocks in sections:
        for block in blocks:
            if "cachePoint" in block:
                points.append((len(tokens), field_name))
                continue
            tokens.append(block_tokens(block))
            fingerprints.append(json.dumps(block, sort_keys=True, default=str))
    return RequestTokens(tuple(tokens), tuple(points), tuple(fingerprints))


def deterministic_answer(model_id: str, body: Mapping[str, Any]) -> str:
    """The answer text for a request: a pure function of the model and conversation."""
    digest = conversation_digest(model_id, body)
    words = answer_words(digest, 8 + digest[0] % 25)
    return f"{' '.join(words).capitalize()}. (ref {digest.hex()[:8]})"


def conversation_digest(model_id: str, body: Mapping[str, Any]) -> bytes:
    """SHA-256 of the model and the conversation: what every deterministic choice derives from."""
    return hashlib.sha256(
        json.dumps(
            {"model": model_id, "system": body.get("system"), "messages": body.get("messages")},
            sort_keys=True,
            default=str,
        ).encode()
    ).digest()


def truncate(answer: str, max_tokens: int | None) -> tuple[str, str]:
    """The answer cut after ``max_tokens`` tokens, and the stop reason Bedrock gives."""
    pieces = token_pieces(answer)
    if max_tokens is None or len(pieces) <= max_tokens:
        return answer, "end_turn"
    return "".join(pieces[:max_tokens]), "max_tokens"


def stop_at_sequences(
    answer: str, stop_sequences: Sequence[str], max_tokens: int | None
) -> tuple[str, str]:
    """The answer as the model ends it: at the first stop sequence it writes
    (``stop_sequence``, the sequence itself left out, as Bedrock does), or after
    ``max_tokens`` tokens if it reaches that first (``max_tokens``), or whole."""
    found = [answer.find(s) for s in stop_sequences if s and s in answer]
    if found:
        cut = answer[: min(found)]
        if max_tokens is None or count_tokens(cut) <= max_tokens:
            return cut, "stop_sequence"
    return truncate(answer, max_tokens)


_ENCODER = EventStreamEncoder()  # stateless: one serves every stream
# Tokens per text delta, and characters per partial-JSON delta of a tool's input.
_TOKENS_PER_DELTA = 3
_JSON_CHARS_PER_DELTA = 16
# The metadata event's members beyond usage and metrics that a Converse answer may carry.
_METADATA_EXTRAS = ("trace", "performanceConfig", "serviceTier")


@dataclass(frozen=True)
class StreamEvent:
    """One ConverseStream event, and how many of the answer's output tokens it carries."""

    event_type: str  # messageStart, contentBlockStart, contentBlockDelta, ...
    payload: Mapping[str, Any]
    output_tokens: int = 0

    @property
    def is_delta(self) -> bool:
        """Does the event carry a piece of the answer (what a stream is paced by)?"""
        return self.event_type == "contentBlockDelta"

    def encode(self) -> bytes:
        """The event as one Amazon event-stream message."""
        headers = {
            ":event-type": self.event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        }
        return _ENCODER.encode_message(headers, json.dumps(self.payload).encode())


def stream_exception(exception_type: str, message: str) -> bytes:
    """An exception message that ends a stream: ``exception_type`` is the member name
    of the operation's stream union (``modelStreamErrorException``), which botocore
    raises as ``EventStreamError`` with that code."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return _ENCODER.encode_message(headers, json.dumps({"message": message}).encode())


def _tool_use_events(index: int, tool_use: Mapping[str, Any]) -> list[StreamEvent]:
    """A toolUse block's start and input deltas. The tokens they carry add up to the
    block's output tokens (``block_tokens``): the name's at the start, then what each
    piece adds to the input read so far."""
    name = tool_use["name"]
    start = {"toolUse": {"toolUseId": tool_use["toolUseId"], "name": name}}
    events = [
        StreamEvent(
            "contentBlockStart", {"contentBlockIndex": index, "start": start}, count_tokens(name)
        )
    ]
    # The input arrives as a JSON string in pieces; the client joins and parses it.
    text = json.dumps(tool_use.get("input", {}))
    counted = 0
    for i in range(0, len(text), _JSON_CHARS_PER_DELTA):
        so_far = count_tokens(text[: i + _JSON_CHARS_PER_DELTA])
        delta = {"toolUse": {"input": text[i : i + _JSON_CHARS_PER_DELTA]}}
        events.append(
            StreamEvent(
                "contentBlockDelta", {"contentBlockIndex": index, "delta": delta}, so_far - counted
            )
        )
        counted = so_far
    return events


def _block_events(index: int, block: Mapping[str, Any]) -> list[StreamEvent]:
    """A content block as ConverseStream sends it: start (tool use only), deltas, stop."""
    if "toolUse" in block:
        events = _tool_use_events(index, block["toolUse"])
    else:
        pieces = token_pieces(block.get("text", ""))
        events = [
            StreamEvent(
                "contentBlockDelta",
                {
                    "contentBlockIndex": index,
                    "delta": {"text": "".join(pieces[i : i + _TOKENS_PER_DELTA])},
                },
                len(pieces[i : i + _TOKENS_PER_DELTA]),
            )
            for i in range(0, len(pieces), _TOKENS_PER_DELTA)
        ]
    # Whatever the block's usage counts beyond its pieces (none for text) ends with it.
    rest = block_tokens(block) - sum(e.output_tokens for e in events)
    events.append(StreamEvent("contentBlockStop", {"contentBlockIndex": index}, max(0, rest)))
    return events


def converse_stream_events(result: Mapping[str, Any]) -> list[StreamEvent]:
    """ConverseStream's events for a finished Converse ``result``, in Bedrock's order.

    The ``metadata`` event carries the result's ``usage`` and ``metrics`` (the
    emulator replaces ``metrics`` with the stream's own when it ends)."""
    message_stop: dict[str, Any] = {"stopReason": result["stopReason"]}
    if "additionalModelResponseFields" in result:
        message_stop["additionalModelResponseFields"] = result["additionalModelResponseFields"]
    metadata = {"usage": result["usage"], "metrics": result["metrics"]}
    metadata |= {key: result[key] for key in _METADATA_EXTRAS if key in result}
    events = [StreamEvent("messageStart", {"role": "assistant"})]
    for index, block in enumerate(result["output"]["message"]["content"]):
        events += _block_events(index, block)
    events.append(StreamEvent("messageStop", message_stop))
    events.append(StreamEvent("metadata", metadata))
    return events


# -- a tool's input, from its JSON schema ----------------------------------------------------

# Fixed values for the string formats a tool schema most often names.
_FORMAT_EXAMPLES = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


class ToolInputWriter:
    """Writes a tool's input from its JSON schema, deterministically: the value the
    model "chooses" for every required property.

    A hand-written generator because no installed library generates instances
    (``jsonschema`` validates them, and the tests validate with it;
    ``hypothesis-jsonschema`` draws random ones). It honours ``$ref``/``$defs``,
    ``const``, ``enum``, ``anyOf``/``oneOf``/``allOf``, types (also as a list),
    required properties of nested objects, ``minItems``/``maxItems``, string
    ``minLength``/``maxLength`` and common ``format``s, and numeric bounds
    (``minimum``, ``maximum`` and their exclusive forms). It does not honour
    ``pattern`` or ``multipleOf``.
    """

    def __init__(self, root: Mapping[str, Any], words: Sequence[str]) -> None:
        self._root = root
        self._words = list(words) or ["value"]

    def value(self, schema: Mapping[str, Any] | bool, depth: int = 0) -> Any:
        """A value that validates against ``schema``."""
        if not isinstance(schema, Mapping) or depth > 16:
            return None if schema is False else "value"
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [self._resolve(o) for o in schema[key] if isinstance(o, Mapping)]
                chosen = next((o for o in options if o.get("type") != "null"), options[0])
                return self.value(chosen, depth + 1)
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self._resolve(part))
            return self.value(merged, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return self._typed(kind, schema, depth)

    def _typed(self, kind: str, schema: Mapping[str, Any], depth: int) -> Any:
        if kind == "object":
            properties = schema.get("properties") or {}
            return {
                name: self.value(properties.get(name, {}), depth + 1)
                for name in schema.get("required") or []
            }
        if kind == "array":
            count = max(1, int(schema.get("minItems", 0)))
            count = min(count, int(schema.get("maxItems", count)))
            return [self.value(schema.get("items") or {}, depth + 1) for _ in range(count)]
        if kind in ("integer", "number"):
            return self._number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema)

    def _number(self, schema: Mapping[str, Any], *, integer: bool) -> int | float:
        step = 1 if integer else 0.5
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(schema.get("exclusiveMinimum"), int | float):
            low = schema["exclusiveMinimum"] + step
        if isinstance(schema.get("exclusiveMaximum"), int | float):
            high = schema["exclusiveMaximum"] - step
        value: float = 0
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        return math.ceil(value) if integer else float(value)

    def _string(self, schema: Mapping[str, Any]) -> str:
        text = _FORMAT_EXAMPLES.get(schema.get("format", ""), " ".join(self._words))
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < low:
            text += " " + text
        return text[: int(high)] if high is not None else text

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow a local ``$ref`` (``#/$defs/Name``, ``#/definitions/Name``)."""
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < 16:
            target: Any = self._root
            for part in schema["$ref"].removeprefix("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        return schema


def answer_words(digest: bytes, count: int) -> list[str]:
    """``count`` words of the deterministic vocabulary, chosen by ``digest``."""
    return [_VOCABULARY[digest[(i % 31) + 1] * (i + 1) % len(_VOCABULARY)] for i in range(count)]
