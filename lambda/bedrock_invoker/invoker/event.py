"""The Lambda event: validated at the edge, before anything leaves the function.

Every problem is reported as ``<field>: <message>`` so the caller can fix its
request without reading this code; nothing here raises anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

# Re-exported: the function's modules and tests name them from here.
from bedrock_tenant_client.call_rules import (
    ApplicationNotAllowedError as ApplicationNotAllowedError,
)
from bedrock_tenant_client.call_rules import CallRefused
from bedrock_tenant_client.call_rules import ModelNotAllowedError as ModelNotAllowedError
from bedrock_tenant_client.call_rules import (
    ServiceTierNotAllowedError as ServiceTierNotAllowedError,
)
from bedrock_tenant_client.call_rules import resolve_application as resolve_application
from bedrock_tenant_client.call_rules import resolve_model as resolve_model
from bedrock_tenant_client.call_rules import resolve_service_tier as resolve_service_tier
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from pydantic import ValidationError as PydanticValidationError

from contracts.errors import field_path
from contracts.fields import APPLICATION_ID_PATTERN
from contracts.tenant_settings import MAX_OUTPUT_TOKENS, ServiceTier

# Identifiers end up in log stream names and records; keep them printable and short.
# ':' is allowed in user ids (Cognito identity ids contain one); the stream name
# replaces it, since CloudWatch forbids it there.
USER_ID_PATTERN = r"^[A-Za-z0-9._@:+=,/|-]{1,128}$"
MODEL_ID_PATTERN = r"^[A-Za-z0-9._:/-]{1,256}$"

# Said instead of pydantic's regex when a pattern does not match.
_PATTERN_HINTS = {
    "user_id": "must be 1-128 characters: letters, digits and . _ @ : + = , / | -",
    "application_id": "must be 1-64 characters: letters, digits and . _ : / -",
    "model_id": "must be 1-256 characters: letters, digits and . _ : / -",
}

MAX_CONTENT_CHARS = 100_000  # prompt or messages, plus system: well inside any context
MAX_SYSTEM_CHARS = 20_000
MAX_MESSAGES = 200


# One set of call rules for the function and the client library; the function's
# name for a refused request is the library's ``CallRefused``.
InvalidRequestError = CallRefused


class ChatTurn(BaseModel):
    """One earlier turn of a conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: Annotated[StrictStr, Field(min_length=1)]


class InvocationRequest(BaseModel):
    """A validated event: exactly one of ``prompt`` and ``messages`` is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: Annotated[StrictStr, Field(pattern=USER_ID_PATTERN)]
    application_id: Annotated[StrictStr, Field(pattern=APPLICATION_ID_PATTERN)]
    prompt: Annotated[StrictStr, Field(min_length=1, max_length=MAX_CONTENT_CHARS)] | None = None
    messages: Annotated[list[ChatTurn], Field(min_length=1, max_length=MAX_MESSAGES)] | None = None
    model_id: Annotated[StrictStr, Field(pattern=MODEL_ID_PATTERN)] | None = None
    system: Annotated[StrictStr, Field(min_length=1, max_length=MAX_SYSTEM_CHARS)] | None = None
    max_tokens: Annotated[StrictInt, Field(ge=1, le=MAX_OUTPUT_TOKENS)] | None = None
    temperature: Annotated[StrictFloat | StrictInt, Field(ge=0, le=1)] | None = None
    # Another of the tenant's tiers than its first (Bedrock's values).
    service_tier: ServiceTier | None = None

    def turns(self) -> list[ChatTurn]:
        """The conversation to send, with a bare ``prompt`` as a single user turn."""
        if self.messages is not None:
            return list(self.messages)
        return [ChatTurn(role="user", content=self.prompt or "")]


def _first_error(exc: PydanticValidationError) -> InvalidRequestError:
    errors = exc.errors(include_url=False, include_input=False)
    # A missing required field is the clearest thing to report first.
    errors.sort(key=lambda err: err["type"] != "missing")
    err = errors[0]
    field = field_path(err["loc"], key_last=err["type"] == "extra_forbidden") or "event"
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    elif err["type"] == "string_pattern_mismatch":
        message = _PATTERN_HINTS.get(field, "contains characters that are not allowed")
    else:
        message = str(err["msg"])
    return InvalidRequestError(field, message)


def parse_request(event: Any) -> InvocationRequest:
    """Validate a raw event; raise ``InvalidRequestError`` naming the first bad field."""
    if not isinstance(event, dict):
        raise InvalidRequestError("event", "must be a JSON object")
    try:
        request = InvocationRequest.model_validate(event)
    except PydanticValidationError as exc:
        raise _first_error(exc) from None

    if request.prompt is None and request.messages is None:
        raise InvalidRequestError("prompt", "required (or give messages instead)")
    if request.prompt is not None and request.messages is not None:
        raise InvalidRequestError("messages", "give either prompt or messages, not both")
    if request.messages is not None:
        _check_conversation(request.messages)
    _check_not_blank(request)
    content_chars = sum(len(turn.content) for turn in request.turns()) + len(request.system or "")
    if content_chars > MAX_CONTENT_CHARS:
        field = "messages" if request.messages is not None else "prompt"
        raise InvalidRequestError(
            field, f"too long: {content_chars} characters with system (max {MAX_CONTENT_CHARS})"
        )
    return request


def _check_not_blank(request: InvocationRequest) -> None:
    # Bedrock refuses a text block of white space only (ValidationException "The text
    # field in the ContentBlock object at messages.0.content.0 is blank"): name the
    # event's field instead, before spending a call.
    texts = [("prompt", request.prompt), ("system", request.system)]
    texts += [
        (f"messages[{i}].content", turn.content) for i, turn in enumerate(request.messages or [])
    ]
    for field, text in texts:
        if text is not None and not text.strip():
            raise InvalidRequestError(field, "must not be blank (it is only white space)")


def _check_conversation(messages: Sequence[ChatTurn]) -> None:
    # Bedrock Converse rejects anything else; say so before spending a call.
    if messages[0].role != "user":
        raise InvalidRequestError("messages[0].role", "the conversation must start with user")
    for index in range(1, len(messages)):
        if messages[index].role == messages[index - 1].role:
            raise InvalidRequestError(
                f"messages[{index}].role", "roles must alternate between user and assistant"
            )
    if messages[-1].role != "user":
        raise InvalidRequestError(
            f"messages[{len(messages) - 1}].role", "the conversation must end with user"
        )


def to_langchain_messages(request: InvocationRequest) -> list[BaseMessage]:
    """The request as LangChain messages, system prompt first."""
    messages: list[BaseMessage] = []
    if request.system is not None:
        messages.append(SystemMessage(content=request.system))
    for turn in request.turns():
        if turn.role == "user":
            messages.append(HumanMessage(content=turn.content))
        else:
            messages.append(AIMessage(content=turn.content))
    return messages
