"""The usage record: one JSON log event per invocation, in the tenant's own account.

The invoker Lambda writes records with :func:`new_record`; ``tenantctl usage`` and
``logs``, the demo and the tests read them with :func:`parse_record`. Both sides
import this module, so the event name, the fields, the stream naming, the
content modes and the retention values have one definition.

Every record carries ``invocation_id`` (the Lambda request id). Normally there is
one record per invocation. When the timeout watchdog fires first, it writes a
record with ``"provisional": true``; if the call then ends after all, its real
record follows with ``"supersedes": "<provisional error_type>"``, and readers
count that one and drop the provisional record of the same ``invocation_id``.
A record the function could not put into the usage log group is printed to its
own log group with ``"delivery": "fallback"``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

USAGE_EVENT = "bedrock.invocation"

Record = dict[str, Any]
# "cancelled": a stream its caller abandoned (closed, broke out of, cancelled)
# before the answer ended; its tokens are the ones known by then.
Status = Literal["success", "error", "cancelled"]
Delivery = Literal["cloudwatch", "fallback"]
FALLBACK_DELIVERY: Delivery = "fallback"
# Who wrote the record: the invoker function, or the tenant client library
# (``bedrock_tenant_client``) in the tenant's own workload.
Source = Literal["function", "library"]

# PutLogEvents accepts one event up to 1 MiB minus 26 bytes of overhead; records
# stay well below, so one never comes near the hard limit.
PUT_LOG_EVENTS_MAX_EVENT_BYTES = 1_048_576 - 26
DEFAULT_MAX_RECORD_BYTES = 256 * 1024

# Values CloudWatch Logs accepts for a log group's retentionInDays.
LOG_RETENTION_DAYS = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)


class UsageSink(StrEnum):
    """How the function delivers usage records to the tenant's usage log group."""

    # PutLogEvents from the function, one stream per user: the record is in the
    # group before the answer returns (one API call on the answer's path).
    API = "api"
    # One JSON line on stdout; the function's LoggingConfig routes its output to
    # the usage log group and Lambda delivers it (no call on the answer's path,
    # streams named by Lambda, at-least-once).
    STDOUT = "stdout"


class LogContent(StrEnum):
    """How much of a prompt and response a usage record may hold."""

    METADATA = "metadata"  # no content at all (default)
    REDACTED = "redacted"  # content with personal data and secrets masked
    FULL = "full"  # content as sent and received


# --- streams ---------------------------------------------------------------------------------

MAX_STREAM_NAME_CHARS = 512
# CloudWatch forbids ':' and '*' in stream names; control characters (C0, DEL and
# C1, terminal escapes among them) make them unreadable. They are percent-encoded,
# and so is '%' itself, which keeps the mapping injective: two user ids never
# share a stream.
_ESCAPED = re.compile(r"[:*%\x00-\x1f\x7f-\x9f]")
# Marks a name shortened to fit 512 characters; never produced by escaping,
# whose every '%' is followed by two hex digits.
_SHORTENED = "%~"
_DIGEST_CHARS = 16


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8"))


def stream_name_for(user_id: str) -> str:
    """The log stream holding ``user_id``'s records: one per user, never shared.

    Characters CloudWatch forbids (``:`` ``*``), control characters and ``%`` are
    percent-encoded, so ``a:b`` is ``a%3Ab`` and ``a_b`` stays ``a_b``. A name of
    blanks only (or none) is encoded whole. A name over 512 characters keeps its
    beginning and ends with ``%~`` and 16 hex digits of the id's SHA-256.
    """
    name = _ESCAPED.sub(_percent, user_id)
    if not name.strip():
        name = "".join(f"%{byte:02X}" for byte in user_id.encode("utf-8")) or "%"
    if len(name) > MAX_STREAM_NAME_CHARS:
        digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
        keep = MAX_STREAM_NAME_CHARS - len(_SHORTENED) - _DIGEST_CHARS
        name = name[:keep] + _SHORTENED + digest
    return name


# --- writing ---------------------------------------------------------------------------------


def utc_timestamp(now: datetime.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, e.g. ``2025-01-31T12:00:00.123Z``."""
    return now.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_record(
    *,
    status: Status,
    invocation_id: str | None,
    tenant_id: str,
    application_id: str,
    user_id: str,
    model_id: str,
    latency_ms: int | None,
    timestamp: datetime.datetime,
    service_tier: str | None = None,
    source: Source = "function",
) -> Record:
    """A record with every field in its place and no usage yet.

    The key order is the record's order on the wire; callers fill the usage or
    error fields in afterwards and append the optional ones (``prompt``,
    ``response``, ``error_type``, ``error_message``, ``provisional``, ``supersedes``).
    """
    return {
        "event": USAGE_EVENT,
        "invocation_id": invocation_id,
        "status": status,
        "source": source,
        "tenant_id": tenant_id,
        "application_id": application_id,
        "user_id": user_id,
        "model_id": model_id,
        # The Bedrock service tier asked for (Bedrock's own on an answer): with the
        # model, who is throttled on which tier.
        "service_tier": service_tier,
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_write_input_tokens": 0,
        # What the call cost at the price table's version (or the registry's price).
        "cost_usd": None,
        "price_table_version": None,
        "price_source": None,
        "latency_ms": latency_ms,
        "bedrock_latency_ms": None,
        "stop_reason": None,
        # Whether the tenant's guardrail blocked or masked the prompt or the answer
        # (stopReason guardrail_intervened); null for a tenant without a guardrail.
        "guardrail_intervened": None,
        # Text units (up to 1,000 characters each) the guardrail assessed, billed.
        "guardrail_text_units": 0,
        "request_id": None,
        "timestamp": utc_timestamp(timestamp),
    }


def encode(record: Record) -> str:
    """A record as its log event's message."""
    return json.dumps(record, ensure_ascii=False, default=str)


# --- reading ---------------------------------------------------------------------------------


def _none_as_zero(value: Any) -> Any:
    # An error record may carry null token counts; they cost nothing.
    return 0 if value is None else value


TokenCount = Annotated[int, BeforeValidator(_none_as_zero)]


def _none_as_false(value: Any) -> Any:
    return False if value is None else value


# A null flag means "not set": the record must still parse, not be skipped.
Flag = Annotated[bool, BeforeValidator(_none_as_false)]


class UsageRecord(BaseModel):
    """One Bedrock invocation as the function wrote it (unknown keys are kept)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    event: str
    status: str
    tenant_id: str = ""
    application_id: str = ""
    user_id: str = ""
    model_id: str = ""
    input_tokens: TokenCount = 0
    output_tokens: TokenCount = 0
    total_tokens: TokenCount = 0
    cache_read_input_tokens: TokenCount = 0
    cache_write_input_tokens: TokenCount = 0
    # US dollars at ``price_table_version`` ("registry" in ``price_source`` when a
    # negotiated price applied); null when the model was not priced.
    cost_usd: float | None = None
    price_table_version: str | None = None
    price_source: str | None = None
    latency_ms: float | None = None
    bedrock_latency_ms: float | None = None
    stop_reason: str | None = None
    service_tier: str | None = None
    guardrail_intervened: bool | None = None
    guardrail_text_units: TokenCount = 0
    request_id: str | None = None
    # botocore's RetryAttempts for the Bedrock call (throttling, 5xx), when known.
    bedrock_retries: int | None = None
    timestamp: datetime.datetime | None = None
    error_type: str | None = None
    error_message: str | None = None
    # Content fields, only when the tenant's log_content allows: a string or a
    # list of conversation turns; never aggregated, so kept as written.
    prompt: Any = None
    response: Any = None
    delivery: str | None = None
    # Records written before the field existed have none.
    invocation_id: str | None = None
    provisional: Flag = False
    supersedes: str | None = None
    # "function" or "library"; records written before the field existed have none.
    source: str | None = None
    # A streamed call's time from the request to its first chunk.
    time_to_first_token_ms: float | None = None

    @property
    def is_error(self) -> bool:
        """Whether the invocation failed (a stream its caller abandoned did not)."""
        return self.status not in ("success", "cancelled")

    @property
    def is_cancelled(self) -> bool:
        """Whether the caller abandoned a stream before its answer ended."""
        return self.status == "cancelled"

    @property
    def is_fallback(self) -> bool:
        """Whether the record was printed to the function's own log group instead."""
        return self.delivery == FALLBACK_DELIVERY


def parse_record(message: str) -> UsageRecord | None:
    """A usage record from one log event's message, or None for any other event.

    Log groups also hold other lines (Lambda's START/END/REPORT in the
    function's group, hand-written test events); those are skipped, not errors.
    """
    try:
        data = json.loads(message)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("event") != USAGE_EVENT:
        return None
    try:
        return UsageRecord.model_validate(data)
    except ValidationError:
        return None
