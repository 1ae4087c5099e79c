"""Masks personal data and secrets in prompts and responses (``LOG_CONTENT=redacted``).

The patterns lean towards masking too much: a masked date costs a reader a
little context, a leaked card number or access key costs far more.
"""

from __future__ import annotations

import re

# key=value or key: value secrets; the key stays so the record still reads well.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key"
    r"|private[_-]?key|client[_-]?secret|auth(?:orization)?)(\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_AWS_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b")
# A 40-character base64 run with mixed case and a digit: the shape of an AWS secret key.
_AWS_SECRET_KEY = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+=]*[0-9])(?=[A-Za-z0-9/+=]*[a-z])"
    r"(?=[A-Za-z0-9/+=]*[A-Z])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# 13-19 digits, optionally grouped by spaces or dashes; confirmed with the Luhn check.
_CARD_CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# International or grouped national numbers; at least 9 digits so dates stay readable.
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,4}(?![\w])"
)

EMAIL_MASK = "[EMAIL]"
PHONE_MASK = "[PHONE]"
CARD_MASK = "[CARD]"
ACCESS_KEY_MASK = "[AWS_ACCESS_KEY_ID]"
SECRET_MASK = "[SECRET]"


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return CARD_MASK if _luhn_valid(digits) else match.group(0)


def _mask_phone(match: re.Match[str]) -> str:
    digits = sum(char.isdigit() for char in match.group(0))
    return PHONE_MASK if 9 <= digits <= 15 else match.group(0)


def redact_credentials(text: str) -> str:
    """Return ``text`` with AWS keys and ``key=value`` secrets masked (used on error messages)."""
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{SECRET_MASK}", text)
    text = _AWS_ACCESS_KEY_ID.sub(ACCESS_KEY_MASK, text)
    return _AWS_SECRET_KEY.sub(SECRET_MASK, text)


def redact(text: str) -> str:
    """Return ``text`` with emails, phone and card numbers, AWS keys and secrets masked."""
    text = redact_credentials(text)
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _CARD_CANDIDATE.sub(_mask_card, text)
    return _PHONE_CANDIDATE.sub(_mask_phone, text)
