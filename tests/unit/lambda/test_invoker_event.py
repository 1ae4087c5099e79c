"""Bad events are refused with a ValidationError naming the field; good ones pass."""

from __future__ import annotations

from typing import Any

import pytest
from invoker.event import (
    InvalidRequestError,
    ModelNotAllowedError,
    parse_request,
    resolve_model,
)

from tests.support.invoker_testkit import HAIKU, NOT_ALLOWED_MODEL, event

USER = {"role": "user", "content": "hi"}
ASSISTANT = {"role": "assistant", "content": "hello"}


@pytest.mark.parametrize(
    ("bad_event", "field"),
    [
        (event(user_id=None), "user_id"),
        (event(user_id=""), "user_id"),
        (event(user_id="alice smith"), "user_id"),
        (event(user_id="a*b"), "user_id"),
        (event(user_id="u" * 129), "user_id"),
        (event(user_id=42), "user_id"),
        (event(application_id=None), "application_id"),
        (event(application_id="app\n"), "application_id"),
        (event(application_id="a" * 65), "application_id"),
        (event(prompt=None), "prompt"),
        (event(prompt=""), "prompt"),
        (event(prompt=["not", "text"]), "prompt"),
        (event(prompt="x" * 100_001), "prompt"),
        (event(messages=[USER]), "messages"),  # prompt and messages together
        (event(prompt=None, messages=[]), "messages"),
        (event(prompt=None, messages="hi"), "messages"),
        (event(prompt=None, messages=[{"role": "system", "content": "x"}]), "messages[0].role"),
        (event(prompt=None, messages=[{"role": "user", "content": ""}]), "messages[0].content"),
        (event(prompt=None, messages=[{"role": "user"}]), "messages[0].content"),
        (event(prompt=" \n\t "), "prompt"),
        (event(system="   "), "system"),
        (
            event(prompt=None, messages=[USER, {**ASSISTANT, "content": " "}, USER]),
            "messages[1].content",
        ),
        (event(prompt=None, messages=[USER, {**USER, "name": "x"}]), "messages[1].name"),
        (event(prompt=None, messages=[ASSISTANT, USER]), "messages[0].role"),
        (event(prompt=None, messages=[USER, USER]), "messages[1].role"),
        (event(prompt=None, messages=[USER, ASSISTANT]), "messages[1].role"),
        (
            event(
                prompt=None,
                messages=[{**turn, "content": "x" * 40_000} for turn in (USER, ASSISTANT, USER)],
            ),
            "messages",
        ),
        (event(system="s" * 20_001), "system"),
        (event(system=7), "system"),
        (event(prompt="p" * 90_000, system="s" * 15_000), "prompt"),
        (event(model_id="bad model id"), "model_id"),
        (event(max_tokens=0), "max_tokens"),
        (event(max_tokens=8193), "max_tokens"),
        (event(max_tokens="100"), "max_tokens"),
        (event(max_tokens=1.5), "max_tokens"),
        (event(max_tokens=True), "max_tokens"),
        (event(temperature=-0.1), "temperature"),
        (event(temperature=1.01), "temperature"),
        (event(temperature="0.5"), "temperature"),
        (event(temperature=None, unexpected=1), "unexpected"),
    ],
)
def test_each_invalid_field_is_named_in_a_validation_error(bad_event: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(bad_event)

    assert caught.value.error_type == "ValidationError"
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize("not_an_object", [None, "hello", 42, ["prompt"], b"{}"])
def test_an_event_that_is_not_an_object_is_refused(not_an_object: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"^event: must be a JSON object$"):
        parse_request(not_an_object)


def test_pattern_errors_explain_the_allowed_characters_instead_of_a_regex() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(event(user_id="alice smith"))
    assert "letters, digits" in caught.value.message
    assert "^" not in caught.value.message


def test_prompt_event_becomes_a_single_user_turn() -> None:
    request = parse_request(event(max_tokens=256, temperature=0, system="Be brief."))
    assert [(t.role, t.content) for t in request.turns()] == [
        ("user", "Translate 'good morning' to French.")
    ]
    assert (request.max_tokens, request.temperature, request.system) == (256, 0, "Be brief.")


def test_conversation_event_keeps_its_turns_in_order() -> None:
    request = parse_request(event(prompt=None, messages=[USER, ASSISTANT, USER]))
    assert [t.role for t in request.turns()] == ["user", "assistant", "user"]


def test_user_ids_with_colons_such_as_cognito_identity_ids_are_accepted() -> None:
    assert parse_request(event(user_id="us-east-1:8f2c-11ee")).user_id == "us-east-1:8f2c-11ee"


def test_model_outside_the_allowlist_is_refused_as_access_denied() -> None:
    with pytest.raises(ModelNotAllowedError) as caught:
        resolve_model(NOT_ALLOWED_MODEL, allowed_models=[HAIKU])

    assert caught.value.error_type == "AccessDenied"
    assert str(caught.value) == f"model_id: '{NOT_ALLOWED_MODEL}' is not allowed for this tenant"


def test_allowed_model_is_accepted() -> None:
    assert resolve_model(HAIKU, allowed_models=[HAIKU]) == HAIKU


def test_a_blank_prompt_is_refused_before_bedrock_sees_it() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(event(prompt="   "))
    assert str(caught.value) == "prompt: must not be blank (it is only white space)"
