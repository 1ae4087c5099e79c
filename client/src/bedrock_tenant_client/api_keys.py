"""Short-term Amazon Bedrock API keys for OpenAI-style SDKs, and their usage records.

A short-term key is a SigV4-presigned ``bedrock:CallWithBearerToken`` request,
base64-encoded behind ``bedrock-api-key-``: it acts as the credentials that signed
it, in the region it names, until the presigned URL expires. Minted from the
tenant's invoker-role session (``TenantBedrock.credentials``), it carries that
role's permissions and cost attribution, and it cannot outlive that session.

    from openai import OpenAI
    from bedrock_tenant_client.api_keys import short_term_api_key, record_chat_completion

    key = short_term_api_key(bedrock.credentials, bedrock.settings.bedrock_region)
    client = OpenAI(api_key=key.token, base_url=key.openai_base_url)
    started = time.monotonic()
    response = client.chat.completions.create(model=..., messages=...)
    record_chat_completion(bedrock, response, model_id=...,
                           latency_ms=round((time.monotonic() - started) * 1000))

The token is built as AWS's own generator (``aws-bedrock-token-generator``)
builds it, on the same public botocore signer. That package's entry point loads
credentials through a provider of its own, apart from the expiry this module
caps the key at, and its format function is private; the whole format is the few
lines below, so depending on it would add a package and no behaviour.

Calls made with the key do not pass through LangChain, so no callback sees them:
the OpenAI SDK has no usage hook, and the record is the caller's to write, with
``record_chat_completion`` (one success record per response). A call that raises
leaves no record unless the caller writes one; a streamed Chat Completion is not
read here.

Whether a key works is the invoker role's to say: Bedrock checks
``bedrock:CallWithBearerToken`` on the role. The operations stack grants it only
to a tenant the registry opts in (``short_term_api_keys: true``), with
``bedrock:BearerTokenType`` pinned to ``SHORT_TERM``
(``tests/infra/test_no_unmetered_path.py``), because a key's calls leave a
record only if the caller writes it.
"""

from __future__ import annotations

import base64
import datetime
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from langchain_core.messages import convert_to_messages

from bedrock_tenant_client.outcome import BedrockAnswer, CallTimer, TokenUsage
from bedrock_tenant_client.usage.callback import RecordingContext
from bedrock_tenant_client.usage.record import UsageRecorder

if TYPE_CHECKING:
    import boto3

    from bedrock_tenant_client.tenant import TenantBedrock

# Bedrock's limit for a short-term key, whatever the credentials' own lifetime.
MAX_KEY_LIFETIME = datetime.timedelta(hours=12)
API_KEY_PREFIX = "bedrock-api-key-"
# The presigned request a key is: signed for the global host, in the key's region.
_SIGNED_HOST = "bedrock.amazonaws.com"
_SIGNING_SERVICE = "bedrock"
_ACTION = "CallWithBearerToken"
_TOKEN_VERSION = "&Version=1"
# A refresh between reading the credentials and their expiry: read both again.
_CONSISTENT_READ_ATTEMPTS = 3

Clock = Callable[[], datetime.datetime]


class ApiKeyError(ValueError):
    """A key that cannot be minted: no credentials, no region, or a lifetime under a second."""


@dataclass(frozen=True)
class ShortTermApiKey:
    """A short-term Bedrock API key and when it stops working.

    ``token`` is the SDK's ``api_key``; mint a new key before ``expires_at``.
    """

    token: str
    region: str
    expires_at: datetime.datetime

    @property
    def openai_base_url(self) -> str:
        """Bedrock's OpenAI-compatible Chat Completions endpoint in the key's region."""
        return f"https://bedrock-runtime.{self.region}.amazonaws.com/openai/v1"

    def __repr__(self) -> str:
        # The token is a credential: keep it out of logs and tracebacks.
        return f"ShortTermApiKey(region={self.region!r}, expires_at={self.expires_at.isoformat()})"


def short_term_api_key(
    credentials_or_session: Credentials | botocore.session.Session | boto3.Session,
    region: str,
    *,
    expires_in: datetime.timedelta = MAX_KEY_LIFETIME,
    now: Clock | None = None,
) -> ShortTermApiKey:
    """A key acting as ``credentials_or_session`` in ``region``, for ``expires_in``.

    The lifetime is capped at 12 hours and at the credentials' own expiry: a key
    from assumed-role credentials (``TenantBedrock.credentials``, at most an hour
    for the chained invoker role) ends with their session, as Bedrock requires.
    Refreshable credentials are refreshed first if botocore says they are due.
    """
    clock = now or _utc_now
    if not region:
        raise ApiKeyError("region: a key works in one region; name it")
    credentials = _credentials_of(credentials_or_session)
    frozen, credentials_expire = _frozen_with_expiry(credentials)
    signed_at = clock()
    lifetime = min(expires_in, MAX_KEY_LIFETIME)
    if credentials_expire is not None:
        lifetime = min(lifetime, credentials_expire - signed_at)
    seconds = int(lifetime.total_seconds())
    if seconds < 1:
        raise ApiKeyError(
            f"expires_in: the key would last {lifetime.total_seconds():.0f} s "
            "(the credentials expire sooner); refresh them or ask for longer"
        )
    request = AWSRequest(
        method="POST",
        url=f"https://{_SIGNED_HOST}/",
        headers={"host": _SIGNED_HOST},
        params={"Action": _ACTION},
    )
    SigV4QueryAuth(frozen, _SIGNING_SERVICE, region, expires=seconds).add_auth(request)
    presigned = str(request.url).removeprefix("https://") + _TOKEN_VERSION
    token = API_KEY_PREFIX + base64.b64encode(presigned.encode()).decode()
    return ShortTermApiKey(
        token=token, region=region, expires_at=signed_at + datetime.timedelta(seconds=seconds)
    )


def record_chat_completion(
    bedrock_or_context: TenantBedrock | RecordingContext,
    response: Mapping[str, Any] | Any,
    *,
    latency_ms: int | None,
    model_id: str | None = None,
    application_id: str | None = None,
    user_id: str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    request_id: str | None = None,
    service_tier: str | None = None,
) -> UsageRecorder:
    """Write the usage record of one OpenAI-style Chat Completion made with a tenant key.

    ``response`` is the SDK's response object (anything with ``model_dump()``) or
    its dict. Its ``usage`` gives the tokens: ``prompt_tokens`` less
    ``prompt_tokens_details.cached_tokens`` is the record's ``input_tokens`` (the
    cached ones are its ``cache_read_input_tokens``), ``completion_tokens`` its
    ``output_tokens``. ``model_id`` defaults to the response's ``model``;
    ``messages``, the request's, are the record's prompt when the tenant logs content.
    The record is the library's (``source: library``), with the same schema,
    pricing and metrics, delivered as the chat models' are. Returns the recorder,
    whose ``record`` is what was written; nothing here raises on a malformed response.
    """
    body = _as_dict(response)
    choice = _first(body.get("choices"))
    message = _as_dict(choice.get("message"))
    usage = _as_dict(body.get("usage"))
    prompt_tokens = _count(usage.get("prompt_tokens"))
    cached = _count(_as_dict(usage.get("prompt_tokens_details")).get("cached_tokens"))
    output_tokens = _count(usage.get("completion_tokens"))
    context = _context_of(bedrock_or_context)
    identity = context.identity
    identity = replace(
        identity,
        model_id=model_id or str(body.get("model") or identity.model_id),
        application_id=application_id or identity.application_id,
        user_id=user_id or identity.user_id,
        service_tier=service_tier or identity.service_tier,
    )
    recorder = UsageRecorder(
        writer=context.sink,
        identity=identity,
        timer=CallTimer(),
        dimensions=context.dimensions,
        log_content=context.log_content,
        # Each record its own id: the spool replays exactly once per invocation_id.
        invocation_id=str(uuid.uuid4()),
        pricing=context.pricing,
        source="library",
    )
    if messages:
        recorder.prompt_sent(convert_to_messages([dict(sent) for sent in messages]))
    input_tokens = max(0, prompt_tokens - cached)
    recorder.succeeded(
        BedrockAnswer(
            text=str(message.get("content") or ""),
            usage=TokenUsage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                total_tokens=_count(usage.get("total_tokens")) or prompt_tokens + output_tokens,
                cache_read_input_tokens=cached,
            ),
            latency_ms=latency_ms,
            stop_reason=str(choice["finish_reason"]) if choice.get("finish_reason") else None,
            request_id=request_id,
        )
    )
    return recorder


# Internals ----------------------------------------------------------------------------


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _credentials_of(source: Any) -> Credentials:
    if isinstance(source, Credentials):
        return source
    credentials = source.get_credentials() if hasattr(source, "get_credentials") else None
    if credentials is None:
        raise ApiKeyError("credentials: none found to sign the key with")
    return credentials  # type: ignore[no-any-return]


def _frozen_with_expiry(
    credentials: Credentials,
) -> tuple[ReadOnlyCredentials, datetime.datetime | None]:
    """One consistent set of keys and the expiry that belongs to them."""
    if not isinstance(credentials, RefreshableCredentials):
        return credentials.get_frozen_credentials(), None
    for _ in range(_CONSISTENT_READ_ATTEMPTS):
        frozen = credentials.get_frozen_credentials()
        # botocore exposes no public expiry; the refresh logic keeps it here.
        expiry: datetime.datetime | None = credentials._expiry_time  # type: ignore[attr-defined]
        if credentials.get_frozen_credentials() == frozen:
            return frozen, expiry
    raise ApiKeyError("credentials: refreshed while being read; try again")


def _context_of(bedrock_or_context: Any) -> RecordingContext:
    if isinstance(bedrock_or_context, RecordingContext):
        return bedrock_or_context
    context: RecordingContext = bedrock_or_context.recording_context()
    return context


def _as_dict(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped = dump()
        return dumped if isinstance(dumped, Mapping) else {}
    return {}


def _first(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Sequence) and not isinstance(value, str) and value:
        return _as_dict(value[0])
    return {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
