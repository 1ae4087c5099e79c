"""LOG_CONTENT=redacted: personal data and secrets are masked, the rest reads as before."""

from __future__ import annotations

import pytest
from bedrock_tenant_client.redaction import redact, redact_credentials

# Realistic credentials (the well-known jwt.io sample and made-up keys of the right shape).
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
OPENAI_KEY = "sk-Zx3kQ9vB2nM7pL4tR8wY1cF6hJ0dS5gA2eU7iO3qW9zX4vBn"
OPENAI_PROJECT_KEY = "sk-proj-4fH8kL2mN9pQ3rT7vX1zB5cD0gJ6sW-Ya8uE2iO_7tRy3nM1"
ANTHROPIC_KEY = "sk-ant-api03-Qw8Er4Ty2Ui6Op0As3Df7Gh1Jk5Lz9Xc-Vb4Nm8Qw2Er6TyAA"
GITHUB_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
SLACK_BOT_TOKEN = "xoxb-2417340123-4820559304451-kQ8vT3mZ7xR2pL9wN4bY6cJ1"
SLACK_USER_TOKEN = "xoxp-2417340123-2417340456-4820559304452-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The finding: the scheme was masked and the credential after it kept.
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer [SECRET]"),
        ("Authorization: Bearer 2YotnFZFEjr1zCsicMWpAA", "Authorization: Bearer [SECRET]"),
        ("authorization: bearer abcdefghijklmnopqrst", "authorization: bearer [SECRET]"),
        (
            "curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA==' https://api.example.com/v1",
            "curl -H 'Authorization: Basic [SECRET]' https://api.example.com/v1",
        ),
        (
            "Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l",
            "Proxy-Authorization: Basic [SECRET]",
        ),
        (
            "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
            "Authorization: Token [SECRET]",
        ),
        (
            '{"Authorization": "Bearer sig123abcdef", "id": 7}',
            '{"Authorization": [SECRET], "id": 7}',
        ),
        # A scheme and credential without a header name before them.
        (
            "the header value was Bearer Zm9vYmFyOmJhejEyMw.",
            "the header value was Bearer [SECRET].",
        ),
        (f"send Bearer {JWT} with it", "send Bearer [SECRET] with it"),
        # JWTs anywhere.
        (f"the cookie {JWT} expired", "the cookie [SECRET] expired"),
        (
            f"https://app.example.com/cb?id_token={JWT}&state=xyz",
            "https://app.example.com/cb?id_token=[SECRET]",
        ),
        # Vendor API keys by prefix, alone or assigned.
        (f"my key is {OPENAI_KEY}, thanks", "my key is [SECRET], thanks"),
        (f"export OPENAI_API_KEY={OPENAI_PROJECT_KEY}", "export OPENAI_API_KEY=[SECRET]"),
        (f"use {OPENAI_PROJECT_KEY} for the project", "use [SECRET] for the project"),
        (f"key {ANTHROPIC_KEY}", "key [SECRET]"),
        (
            f"git clone https://{GITHUB_TOKEN}@github.com/o/r",
            "git clone https://[SECRET]@github.com/o/r",
        ),
        (f"slack: {SLACK_BOT_TOKEN} / {SLACK_USER_TOKEN}", "slack: [SECRET] / [SECRET]"),
        # Secrets under longer key names and JSON keys.
        (
            '{"access_token": "ya29.a0AfH6SMBx3", "token_type": "Bearer"}',
            '{"access_token": [SECRET], "token_type": "Bearer"}',
        ),
        ('{"password": "hunter2"}', '{"password": [SECRET]}'),
        ("X-Auth-Token: 0123abcd", "X-Auth-Token: [SECRET]"),
    ],
)
def test_credentials_are_masked_whole(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact_credentials(text) == expected  # error messages get the same treatment


@pytest.mark.parametrize(
    "secret",
    [JWT, OPENAI_KEY, OPENAI_PROJECT_KEY, ANTHROPIC_KEY, GITHUB_TOKEN, SLACK_BOT_TOKEN],
)
def test_no_fragment_of_a_credential_survives_an_authorization_header(secret: str) -> None:
    masked = redact(f"GET /v1/models HTTP/1.1\r\nAuthorization: Bearer {secret}\r\n")
    assert masked == "GET /v1/models HTTP/1.1\r\nAuthorization: Bearer [SECRET]\r\n"
    for fragment in (secret[:12], secret[-12:]):
        assert fragment not in masked


@pytest.mark.parametrize(
    "text",
    [
        "A bearer bond pays whoever holds it.",
        "Basic training starts Monday; bring the basic kit.",
        "Basic Authentication is defined in RFC 7617.",
        "Bearer tokens expire after 3600 seconds.",
        "Token holders vote on the proposal, token by token.",
        "The security token included in the request is invalid.",
        "I use sk-learn, scikit-learn and a task-runner daily.",
        "The author: Jane Austen. The authority: the council.",
        "Ask the desk-side support team about the xox game.",
    ],
)
def test_prose_about_tokens_and_auth_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_long_hyphenated_run_is_scanned_once_not_from_every_position() -> None:
    # Was quadratic in the email pattern (minutes for a 256 KiB prompt); no timing is
    # asserted, the suite would just crawl again.
    text = "a-" * 50_000
    assert redact(text) == text
    assert redact(f"{text} mail x.y-z@example.com") == f"{text} mail [EMAIL]"
