"""Masks personal data and secrets in prompts and responses (``LOG_CONTENT=redacted``).

The patterns lean towards masking too much: a masked date costs a reader a
little context, a leaked card number or access key costs far more.
"""

from __future__ import annotations

import re

# Credentials recognisable by their shape alone, wherever they stand.
# A JWT: base64url header and payload (both JSON, so both start "eyJ"), then the
# signature (empty for alg "none").
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# Vendor API keys by prefix: OpenAI and Anthropic (sk-, sk-proj-, sk-ant-), Stripe
# (sk_live_, rk_test_ ...), GitHub (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_),
# Slack (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xapp-), Google (AIza).
_API_KEY = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"sk-[A-Za-z0-9_-]{20,}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|xapp-[A-Za-z0-9-]{10,}"
    r"|AIza[A-Za-z0-9_-]{35}"
    r")(?![A-Za-z0-9_-])"
)
# An HTTP authorization scheme: the scheme stays, the credential after it goes.
_AUTH_SCHEMES = r"(?:bearer|basic|token)"
# key=value or key: value secrets (also "key": "value" in JSON); the key, and an
# authorization scheme right after it, stay so the record still reads well. A key
# may end a longer name (access_token, OPENAI_API_KEY, X-Auth-Token). An unquoted
# value runs to the next blank, leaving a closing quote in place.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key"
    r"|secret[_-]?key|private[_-]?key|client[_-]?secret|auth(?:orization)?)"
    r"([\"']?\s*[:=]\s*)"
    rf"({_AUTH_SCHEMES}[ \t]+)?"
    r"(\"[^\"]*\"|'[^']*'|\S+?(?=[\"']?(?:\s|$)))"
)
# "Bearer <token>" with no key before it (a curl line, a pasted header value).
_AUTH_SCHEME_CREDENTIAL = re.compile(
    rf"(?i)(?<![A-Za-z0-9_-])({_AUTH_SCHEMES})([ \t]+)([A-Za-z0-9._~+/-]+=*)"
)
# What sets a credential apart from the next word of prose ("bearer bonds",
# "Basic training", "Token holders"): a digit, a capital after the first letter,
# or a character words do not contain.
_CREDENTIAL_LIKE = re.compile(r"^(?=.{8,}$)(?:.*[0-9_~+/=]|.+[A-Z])")
_AWS_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b")
# A 40-character base64 run with mixed case and a digit: the shape of an AWS secret key.
_AWS_SECRET_KEY = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+=]*[0-9])(?=[A-Za-z0-9/+=]*[a-z])"
    r"(?=[A-Za-z0-9/+=]*[A-Z])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
)
# Matches start only where a run of local-part characters starts: starting inside
# one ("a-a-a-..." with no "@") would rescan the run from every position, which
# makes a 256 KiB prompt cost minutes.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
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


def _mask_assignment(match: re.Match[str]) -> str:
    key, separator, scheme = match.group(1), match.group(2), match.group(3) or ""
    return f"{key}{separator}{scheme}{SECRET_MASK}"


def _mask_scheme_credential(match: re.Match[str]) -> str:
    scheme, blank, value = match.groups()
    credential = value.rstrip(".")  # a full stop ends the sentence, not the token
    if not _CREDENTIAL_LIKE.match(credential):
        return match.group(0)
    return f"{scheme}{blank}{SECRET_MASK}{value[len(credential) :]}"


def redact_credentials(text: str) -> str:
    """Return ``text`` with credentials masked: AWS keys, JWTs, vendor API keys,
    ``Bearer``/``Basic``/``Token`` credentials and ``key=value`` secrets.

    Used on error messages, and as the first step of ``redact``.
    """
    text = _JWT.sub(SECRET_MASK, text)
    text = _API_KEY.sub(SECRET_MASK, text)
    text = _SECRET_ASSIGNMENT.sub(_mask_assignment, text)
    text = _AUTH_SCHEME_CREDENTIAL.sub(_mask_scheme_credential, text)
    text = _AWS_ACCESS_KEY_ID.sub(ACCESS_KEY_MASK, text)
    return _AWS_SECRET_KEY.sub(SECRET_MASK, text)


def redact(text: str) -> str:
    """Return ``text`` with emails, phone and card numbers, AWS keys and secrets masked."""
    text = redact_credentials(text)
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _CARD_CANDIDATE.sub(_mask_card, text)
    return _PHONE_CANDIDATE.sub(_mask_phone, text)
