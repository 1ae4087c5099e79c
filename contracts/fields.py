"""The value rules every part of the product checks: account ids, regions, ExternalIds ...

Defined once, here. The registry validates with the annotated types, the function
validates its environment with the same types, and the StackSet template holds
its parameters to the same patterns (``cfn_pattern``), so a value one part accepts
is never one another part refuses.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from contracts import naming
from contracts.model_access import parse_model_id
from contracts.usage_record import LOG_RETENTION_DAYS


class FrozenModel(BaseModel):
    """A model of the registry's values: immutable once validated, and refusing any
    key it does not know (a misspelt setting is an error, never silently ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# Every pattern is used with fullmatch and re.ASCII: `$` alone would accept a
# trailing newline, and \d or \w non-ASCII digits and letters, which AWS refuses.
ACCOUNT_ID_RE = re.compile(r"\d{12}", re.ASCII)
REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", re.ASCII)
# IAM's documented character set for sts:ExternalId.
EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]+", re.ASCII)
EXTERNAL_ID_MIN, EXTERNAL_ID_MAX = 2, 1224
LOG_GROUP_NAME_RE = re.compile(r"[\w\-/.#]{1,512}", re.ASCII)
ROLE_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)
# IAM and Bedrock tag values: up to 256 letters, digits, spaces and _ . : / = + - @.
TAG_VALUE_RE = re.compile(r"[\w .:/=+\-@]{1,256}", re.ASCII)
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# An application id as an event names it; a listed one is also a metric dimension value.
APPLICATION_ID_PATTERN = r"^[A-Za-z0-9._:/-]{1,64}$"
SNS_TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$"


def cfn_pattern(pattern: re.Pattern[str]) -> str:
    """A pattern as CloudFormation's ``AllowedPattern`` wants it (whole value, ASCII)."""
    # CloudFormation matches the whole value and has no re.ASCII flag: spell \w and \d
    # out, as their ranges inside a character class and as a class of their own outside
    # one (a bare "0-9{12}" matches only "0-999999999999", never an account id).
    ranges = {r"\w": "A-Za-z0-9_", r"\d": "0-9"}
    text, spelled, in_class, i = pattern.pattern, [], False, 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in ranges:
            spelled.append(ranges[pair] if in_class else f"[{ranges[pair]}]")
            i += 2
            continue
        if text[i] == "\\":
            spelled.append(pair)
            i += 2
            continue
        in_class = (in_class or text[i] == "[") and not (in_class and text[i] == "]")
        spelled.append(text[i])
        i += 1
    return "".join(spelled)


def account_id(value: str) -> str:
    if not ACCOUNT_ID_RE.fullmatch(value):
        raise ValueError("must be 12 digits")
    return value


def region(value: str) -> str:
    if not REGION_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not an AWS region name (like us-east-1)")
    return value


def external_id(value: str) -> str:
    if not EXTERNAL_ID_MIN <= len(value) <= EXTERNAL_ID_MAX:
        raise ValueError(
            f"must be {EXTERNAL_ID_MIN} to {EXTERNAL_ID_MAX} characters (got {len(value)})"
        )
    if not EXTERNAL_ID_RE.fullmatch(value):
        raise ValueError("may only contain letters, digits and + = , . @ : / - _")
    return value


def model_id(value: str) -> str:
    parse_model_id(value)
    return value


def retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in sorted(LOG_RETENTION_DAYS))
        raise ValueError(f"{value} is not accepted by CloudWatch Logs; use one of {allowed}")
    return value


def log_group_name(value: str) -> str:
    if not LOG_GROUP_NAME_RE.fullmatch(value):
        raise ValueError("must be 1-512 characters of letters, digits and _ - / . #")
    return value


def role_arn(value: str) -> str:
    if not ROLE_ARN_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not an IAM role ARN")
    return value


def tag_value(value: str) -> str:
    if not TAG_VALUE_RE.fullmatch(value) or not value.strip():
        raise ValueError(
            "must be 1-256 letters, digits, spaces and _ . : / = + - @, not only spaces"
        )
    return value


def non_empty_unique(values: tuple[str, ...]) -> tuple[str, ...]:
    # A plain min_length would also fire after a bad item was dropped, so
    # one bad model id would be reported twice.
    if not values:
        raise ValueError("must list at least one model")
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"'{v}' is listed twice")
        seen.add(v)
    return values


def unique_applications(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        raise ValueError("must list at least one application (or leave it unset for any)")
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"'{v}' is listed twice")
        seen.add(v)
    return values


AccountId = Annotated[StrictStr, AfterValidator(account_id)]
Region = Annotated[StrictStr, AfterValidator(region)]
TenantId = Annotated[StrictStr, AfterValidator(naming.valid_tenant_id)]
ExternalId = Annotated[StrictStr, AfterValidator(external_id)]
ModelId = Annotated[StrictStr, AfterValidator(model_id)]
ModelList = Annotated[tuple[ModelId, ...], AfterValidator(non_empty_unique)]
RetentionDays = Annotated[int, Field(strict=True), AfterValidator(retention)]
LogGroupName = Annotated[StrictStr, AfterValidator(log_group_name)]
RoleArn = Annotated[StrictStr, AfterValidator(role_arn)]
ReservedConcurrency = Annotated[int, Field(strict=True, ge=1, le=1000)]
StrictBool = Annotated[bool, Field(strict=True)]
TagValue = Annotated[StrictStr, AfterValidator(tag_value)]
Email = Annotated[StrictStr, Field(pattern=EMAIL_PATTERN)]
SnsTopicArn = Annotated[StrictStr, Field(pattern=SNS_TOPIC_ARN_PATTERN)]
ApplicationId = Annotated[StrictStr, Field(pattern=APPLICATION_ID_PATTERN)]
ApplicationList = Annotated[tuple[ApplicationId, ...], AfterValidator(unique_applications)]
