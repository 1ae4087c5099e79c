"""LOG_CONTENT=redacted: personal data and secrets are masked, the rest reads as before."""

from __future__ import annotations

import pytest
from invoker.redaction import redact, redact_credentials


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+tag@mail.example.co.uk today", "write to [EMAIL] today"),
        ("call +1 (555) 123-4567", "call [PHONE]"),
        ("call 020 7946 0958", "call [PHONE]"),
        ("call +44 20 7946 0958.", "call [PHONE]."),
        ("card 4111 1111 1111 1111", "card [CARD]"),
        ("card 5500-0000-0000-0004!", "card [CARD]!"),
        ("key AKIAIOSFODNN7EXAMPLE", "key [AWS_ACCESS_KEY_ID]"),
        ("session ASIAY34FZKBOKMUTVV7A", "session [AWS_ACCESS_KEY_ID]"),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[SECRET]"),
        ("password=hunter2 next", "password=[SECRET] next"),
        ("api_key: 'abc def'", "api_key: [SECRET]"),
        ("Token = xyz123", "Token = [SECRET]"),
        ("client_secret=s3cr3t", "client_secret=[SECRET]"),
    ],
)
def test_sensitive_values_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "meeting on 2024-01-15 at 10:30",
        "order 12345 shipped, version 1.2.3",
        "4111 1111 1111 1112 fails the Luhn check",  # 16 digits but not a card
        "the word supercalifragilisticexpialidocious is long",
        "a" * 40,  # 40 characters, but no digit or capital: not a key
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_error_messages_only_lose_credentials_not_account_ids() -> None:
    message = (
        "User: arn:aws:sts::222222222222:assumed-role/r/acme is not authorized; "
        "key AKIAIOSFODNN7EXAMPLE"
    )
    assert redact_credentials(message) == (
        "User: arn:aws:sts::222222222222:assumed-role/r/acme is not authorized; "
        "key [AWS_ACCESS_KEY_ID]"
    )
