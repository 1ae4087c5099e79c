"""Hostile events, generated: a structured error naming the field, never a crash.

Three promises, each checked over inputs hypothesis makes up:
- ``parse_request`` answers any JSON-like value with a request or an
  ``InvalidRequestError`` whose ``field`` names the offending part of the event;
- the handler, end to end on moto and the embedded Converse emulator, always answers
  ``{"output", ...}`` or ``{"error": {"type", "message"}}`` and files every usage
  record in the tenant's log group, in the stream of the record's own user;
- ``stream_name_for`` always gives a name CloudWatch Logs takes.
"""

from __future__ import annotations

import dataclasses
import json
import re
import string
import unicodedata
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from invoker.event import (
    MAX_CONTENT_CHARS,
    MAX_MESSAGES,
    MAX_SYSTEM_CHARS,
    USER_ID_PATTERN,
    InvalidRequestError,
    InvocationRequest,
    parse_request,
)
from moto.logs.models import logs_backends

from contracts.tenant_settings import DEFAULT_MAX_TOKENS
from contracts.usage_record import MAX_STREAM_NAME_CHARS, stream_name_for
from tests.support.invoker_testkit import (
    HAIKU,
    LOG_GROUP,
    NOT_ALLOWED_MODEL,
    OPS_ACCOUNT,
    REGION,
    TENANT_ID,
    US_HAIKU,
    Accounts,
    ConverseStub,
    FakeLambdaContext,
)

Handler = Callable[[], ModuleType]

FIELDS = (
    "user_id",
    "application_id",
    "prompt",
    "messages",
    "model_id",
    "system",
    "max_tokens",
    "temperature",
    "service_tier",
)

# No example database: nothing is written into the working tree.
FAST = settings(max_examples=300, deadline=None, database=None)

# --- Strategies --------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
# What json.loads can hand the function (it also accepts NaN and Infinity).
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _chars(n: int, char: str = "x") -> str:
    return char * n


ID_ALPHABET = string.ascii_letters + string.digits + "._@:+=,/|-"
# Characters that break a stream name or a reader's terminal.
STREAM_BREAKERS = [":", "*", "/", ".", "\x00", "\n", "\r", "\t", "\x1b", "\x1f", "\x7f", " "]

valid_ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=128)
# Valid, but made of the characters a stream name has to deal with.
awkward_valid_ids = st.text(alphabet=":/.|@=,+-_", min_size=1, max_size=128) | st.sampled_from(
    ["..", "../..", "/", "a/../b", ":", "::", "us-east-1:1234-abcd", "a:b", "a_b", _chars(128)]
)
hostile_ids = (
    st.text(alphabet=st.sampled_from([*ID_ALPHABET, *STREAM_BREAKERS, "é", "\u2028", "\x85"]))
    | st.sampled_from(
        [
            "",
            "*",
            "a*b",
            "a\x00b",
            "alice\n",
            "\t",
            " ",
            "é",
            "\u202eevil",
            "\x85",
            _chars(129),
            _chars(600, ":"),
        ]
    )
    | st.integers(min_value=0, max_value=10_000_000).map(_chars)  # up to 10 MB
    | st.text()
)
ids = valid_ids | awkward_valid_ids | hostile_ids | json_values

ALLOWED_MODELS = [HAIKU, US_HAIKU]
model_ids = st.sampled_from([*ALLOWED_MODELS, NOT_ALLOWED_MODEL]) | st.text(
    alphabet=string.ascii_lowercase + ".:-", min_size=1, max_size=30
)

# Around every limit, plus far beyond.
oversized = st.sampled_from(
    [MAX_CONTENT_CHARS - 1, MAX_CONTENT_CHARS, MAX_CONTENT_CHARS + 1, 3 * MAX_CONTENT_CHARS]
).map(_chars)
texts = st.text(min_size=1, max_size=300) | oversized | st.text(alphabet=" \t\n\x00", max_size=5)
junk_turns = (
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "tool", ""]) | json_values},
        optional={"content": texts | json_values, "extra": json_values},
    )
    | json_values
)
# Text that is not only white space: Bedrock refuses a blank text block, so does the function.
visible_texts = st.text(min_size=1, max_size=200).filter(str.strip)
valid_turn_contents = st.lists(visible_texts, min_size=1, max_size=7)
# An odd number of turns: the conversation ends with the user, as Converse wants.
odd_turn_contents = st.sampled_from([1, 3, 5, 7]).flatmap(
    lambda n: st.lists(visible_texts, min_size=n, max_size=n)
)


def _conversation(contents: list[str]) -> list[dict[str, str]]:
    # User first, then alternating; an even count ends with the assistant (refused).
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": c}
        for i, c in enumerate(contents)
    ]


messages_values = (
    valid_turn_contents.map(_conversation)
    | st.lists(junk_turns, max_size=5)
    | st.integers(MAX_MESSAGES, MAX_MESSAGES + 2).map(lambda n: _conversation(["hi"] * n))
    | json_values
)
field_values: dict[str, st.SearchStrategy[Any]] = {
    "user_id": ids,
    "application_id": ids,
    "prompt": texts | json_values,
    "messages": messages_values,
    "model_id": model_ids | json_values,
    "system": texts
    | st.sampled_from([MAX_SYSTEM_CHARS, MAX_SYSTEM_CHARS + 1]).map(_chars)
    | json_values,
    "max_tokens": st.integers(-5, 10_000) | json_values,
    "temperature": st.floats(-1, 2) | st.integers(-2, 3) | json_values,
    "service_tier": st.sampled_from(["default", "priority", "flex", "reserved", "turbo"])
    | json_values,
}

extra_keys = (
    st.text(min_size=1, max_size=12)
    | st.sampled_from(["User_ID", "prompt ", "messages.0", "int", "x[0]", "function-x"])
).filter(lambda k: k not in FIELDS)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """An event the function accepts (up to the model check)."""
    event: dict[str, Any] = {
        "user_id": draw(valid_ids | awkward_valid_ids),
        "application_id": draw(
            st.text(alphabet=string.ascii_letters + "._:/-", min_size=1, max_size=64)
        ),
    }
    if draw(st.booleans()):
        event["prompt"] = draw(visible_texts)
    else:
        event["messages"] = _conversation(draw(odd_turn_contents))
    optional = {
        "model_id": st.sampled_from([*ALLOWED_MODELS, NOT_ALLOWED_MODEL]),
        "system": st.text(min_size=1, max_size=100).filter(str.strip),
        # Within the tenant's cap (the default one) and Claude 3 Haiku's limit.
        "max_tokens": st.integers(1, DEFAULT_MAX_TOKENS),
        "service_tier": st.just("default"),
        "temperature": st.floats(0, 1) | st.integers(0, 1),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            event[name] = draw(values)
    return event


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with a few fields removed, replaced by junk, or added."""
    event = draw(valid_events())
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(FIELDS))
        action = draw(st.sampled_from(["drop", "replace", "extra"]))
        if action == "drop":
            event.pop(name, None)
        elif action == "replace":
            event[name] = draw(field_values[name])
        else:
            event[draw(extra_keys)] = draw(json_values)
    return event


random_events = st.fixed_dictionaries({}, optional=field_values).flatmap(
    lambda event: st.dictionaries(extra_keys, json_values, max_size=2).map(
        lambda extra: {**event, **extra}
    )
)
events = json_values | random_events | valid_events() | mutated_events()


# --- parse_request -------------------------------------------------------------------------


def _top_level(field: str) -> str:
    return re.split(r"[.\[]", field, maxsplit=1)[0]


def _assert_names_a_field(error: InvalidRequestError, event: Any) -> None:
    assert isinstance(error.field, str) and error.field
    assert isinstance(error.message, str) and error.message
    assert str(error) == f"{error.field}: {error.message}"
    if not isinstance(event, dict):
        assert (error.field, error.message) == ("event", "must be a JSON object")
        return
    extras = set(event) - set(FIELDS)
    if error.message == "unknown field" and error.field in extras:
        return
    assert _top_level(error.field) in FIELDS, f"{error} names no field of {sorted(event)}"


@FAST
@given(event=events)
@example(event=None)
@example(event=[{"user_id": "alice"}])
@example(event={"user_id": "alice", "application_id": "app"})  # neither prompt nor messages
@example(event={"user_id": "alice:1*2\x00/..", "application_id": "app", "prompt": "hi"})
@example(event={"user_id": "a" * 129, "application_id": "app", "prompt": "hi"})
@example(event={"user_id": "alice\n", "application_id": "app", "prompt": "hi"})
@example(event={"user_id": 42, "application_id": True, "prompt": ["hi"]})
@example(event={"user_id": "u", "application_id": "a", "prompt": "x" * (MAX_CONTENT_CHARS + 1)})
@example(event={"user_id": "u", "application_id": "a", "prompt": "\ud800"})  # lone surrogate
@example(event={"user_id": "u", "application_id": "a", "prompt": "p", "temperature": float("nan")})
@example(event={"user_id": "u", "application_id": "a", "prompt": "p", "max_tokens": 10**400})
@example(event={"user_id": "u", "application_id": "a", "messages": [{"role": "user"}]})
@example(event={"user_id": "u", "application_id": "a", "messages": [None, 1, "x"]})
def test_any_event_is_parsed_or_refused_naming_the_field(event: Any) -> None:
    try:
        request = parse_request(event)
    except InvalidRequestError as error:
        assert error.error_type == "ValidationError"  # a model refusal comes later
        _assert_names_a_field(error, event)
        return
    assert isinstance(request, InvocationRequest)
    assert isinstance(event, dict) and set(event) <= set(FIELDS)
    assert (request.user_id, request.application_id) == (event["user_id"], event["application_id"])
    assert re.fullmatch(USER_ID_PATTERN, request.user_id)
    assert (request.prompt is None) != (request.messages is None)
    turns = request.turns()
    assert turns[0].role == "user" and turns[-1].role == "user"
    assert all(t.content.strip() for t in turns)  # Bedrock refuses a blank text block
    assert sum(len(t.content) for t in turns) + len(request.system or "") <= MAX_CONTENT_CHARS


@pytest.mark.parametrize("key", ["int", "str", "list", "x[0]", "function-x"])
def test_an_unknown_key_is_named_even_when_it_looks_like_a_type_label(key: str) -> None:
    event = {"user_id": "u", "application_id": "a", "prompt": "p", key: 1}
    with pytest.raises(InvalidRequestError) as refused:
        parse_request(event)
    assert (refused.value.field, refused.value.message) == (key, "unknown field")


# --- The handler end to end ----------------------------------------------------------------


@pytest.fixture(params=["metadata", "full", "redacted"])
def warm_handler(
    request: pytest.FixtureRequest,
    set_function_env: Callable[..., None],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
) -> Any:
    """One container per content mode, warm for every example: many users, one writer."""
    set_function_env(LOG_CONTENT=request.param)
    handler = cold_handler()
    assert handler.SETTINGS.log_content == request.param
    return handler


def _all_usage_records(accounts: Accounts) -> list[dict[str, Any]]:
    """Every record in the tenant's usage log group, every stream (paginated)."""
    logs = accounts.tenant_logs
    records: list[dict[str, Any]] = []
    for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=LOG_GROUP):
        for stream in page["logStreams"]:
            name = stream["logStreamName"]
            events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=name)["events"]
            records += [{**json.loads(e["message"]), "_stream": name} for e in events]
    return records


def _parsed(event: Any) -> tuple[InvocationRequest | None, InvalidRequestError | None]:
    try:
        return parse_request(event), None
    except InvalidRequestError as error:
        return None, error


def _assert_result_shape(result: Any) -> None:
    assert isinstance(result, dict)
    if "error" in result:
        assert set(result) == {"error"}
        assert set(result["error"]) == {"type", "message"}
        assert all(isinstance(v, str) and v for v in result["error"].values())
        # InternalError is the handler's catch-all: a bug surfaced, not a named field.
        assert result["error"]["type"] != "InternalError", result
    else:
        assert set(result) == {"output", "usage", "model_id", "latency_ms", "request_id"}
        assert isinstance(result["output"], str)
        assert result["model_id"] in ALLOWED_MODELS


def _assert_prompt_is_the_callers(record: dict[str, Any], request: InvocationRequest) -> None:
    # In a content mode the record holds this call's conversation, nobody else's.
    if record.get("truncated"):
        return
    logged = [t for t in record["prompt"] if t["role"] != "system"]
    assert [t["role"] for t in logged] == [t.role for t in request.turns()]
    if record.get("_mode") == "full":
        assert [t["content"] for t in logged] == [t.content for t in request.turns()]


handler_events = valid_events() | valid_events() | mutated_events() | json_values


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    event=handler_events,
    model_failure=st.sampled_from([None, None, "ValidationException", "AccessDeniedException"]),
)
@example(
    event={"user_id": "us-east-1:1234-abcd", "application_id": "app", "prompt": "hi"},
    model_failure=None,
)
@example(event={"user_id": "a/../b", "application_id": "app", "prompt": "hi"}, model_failure=None)
@example(event={"user_id": "a_b", "application_id": "app", "prompt": "hi"}, model_failure=None)
@example(event={"user_id": "a:b", "application_id": "app", "prompt": "hi"}, model_failure=None)
@example(event={"user_id": "eve*", "application_id": "app", "prompt": "hi"}, model_failure=None)
@example(
    event={
        "user_id": "bob",
        "application_id": "app",
        "prompt": "hi",
        "model_id": NOT_ALLOWED_MODEL,
    },
    model_failure=None,
)
@example(
    event={"user_id": "carol", "application_id": "app", "prompt": "hi"},
    model_failure="AccessDeniedException",
)
@example(
    event={"user_id": "dan", "application_id": "app", "prompt": " \t\n"}, model_failure=None
)  # a blank prompt still reaches the model
def test_handler_answers_every_event_and_files_its_record_in_its_own_users_stream(
    warm_handler: Any,
    accounts: Accounts,
    converse_stub: ConverseStub,
    lambda_context: FakeLambdaContext,
    event: Any,
    model_failure: str | None,
) -> None:
    context = dataclasses.replace(lambda_context, aws_request_id=str(uuid.uuid4()))
    request, refusal = _parsed(event)
    reaches_model = request is not None and (request.model_id or HAIKU) in ALLOWED_MODELS
    if model_failure and reaches_model:
        converse_stub.fail(model_failure)
    try:
        result = warm_handler.lambda_handler(event, context)
    finally:
        converse_stub.emulator.clear_faults()

    _assert_result_shape(result)
    outcome = "output" if "output" in result else result["error"]["type"]
    hypothesis.event(f"outcome: {outcome}")  # shown by --hypothesis-show-statistics
    records = _all_usage_records(accounts)
    # No record, of this example or an earlier one, sits in another user's stream.
    for record in records:
        assert record["_stream"] == stream_name_for(record["user_id"]), record
        assert record["tenant_id"] == TENANT_ID
    mine = [r for r in records if r["invocation_id"] == context.aws_request_id]
    if refusal is not None:
        # The caller reads which field to fix, as parse_request named it.
        assert result == {"error": {"type": "ValidationError", "message": str(refusal)}}
        assert mine == []  # nothing identified the caller: no record, no stream
    else:
        # Refused model, failed call or answer: exactly one record, the caller's own.
        assert request is not None
        [record] = mine
        assert record["user_id"] == request.user_id
        assert record["_stream"] == stream_name_for(request.user_id)
        assert record["application_id"] == request.application_id
        assert record["status"] == ("success" if outcome == "output" else "error")
        if reaches_model and warm_handler.SETTINGS.log_content != "metadata":
            _assert_prompt_is_the_callers(
                {**record, "_mode": warm_handler.SETTINGS.log_content}, request
            )
        if reaches_model and model_failure:
            assert outcome == model_failure
    # The operations account never holds a usage log group, let alone a record.
    assert accounts.ops_logs.describe_log_groups()["logGroups"] == []
    assert dict(logs_backends[OPS_ACCOUNT][REGION].groups) == {}


# --- Stream names --------------------------------------------------------------------------

any_user_ids = valid_ids | awkward_valid_ids | hostile_ids | st.text(max_size=1000)
_FORBIDDEN_IN_STREAM = re.compile(r"[:*\x00-\x1f\x7f]")


@FAST
@given(user_id=any_user_ids)
@example(user_id="")
@example(user_id=" ")
@example(user_id="\x00\x01")
@example(user_id=":" * 600)
@example(user_id="x" * 513)
@example(user_id="é" * 600)
def test_stream_name_is_always_a_name_cloudwatch_takes(user_id: str) -> None:
    name = stream_name_for(user_id)
    assert isinstance(name, str) and name
    assert len(name) <= MAX_STREAM_NAME_CHARS
    assert not _FORBIDDEN_IN_STREAM.search(name), repr(name)
    assert stream_name_for(user_id) == name  # the same user always gets the same stream


@FAST
@given(user_id=st.text())
@example(user_id="\x80")
@example(user_id="alice\x9b31m")  # CSI: a terminal escape in a stream name
def test_stream_name_holds_no_control_character_of_any_kind(user_id: str) -> None:
    name = stream_name_for(user_id)
    assert not [c for c in name if unicodedata.category(c) == "Cc"], repr(name)


@FAST
@given(pair=st.lists(any_user_ids, min_size=2, max_size=2, unique=True))
@example(pair=["us-east-1:42", "us-east-1_42"])
@example(pair=["a:b", "a_b"])
@example(pair=["a*b", "a_b"])
@example(pair=["", "unknown"])
@example(pair=[" ", "unknown"])
@example(pair=["x" * 600, "x" * 601])  # the same first 512 characters
def test_two_different_user_ids_never_share_a_stream(pair: list[str]) -> None:
    a, b = pair
    assert stream_name_for(a) != stream_name_for(b)
