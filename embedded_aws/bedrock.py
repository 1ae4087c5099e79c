"""Bedrock runtime emulator: every bedrock-runtime operation, held to IAM, for the embedded cloud.

moto's bedrock-runtime has no Converse and no CountTokens, and answers
InvokeModel with HTTP 200 ``{}`` to anyone, so every request whose method and
path are those of an operation in botocore's ``bedrock-runtime`` model
(``embedded_aws.bedrock_operations``) is served here; the control plane, which
signs as ``bedrock`` too, stays with moto:

* every operation is first held to the caller: an access key the cloud never
  issued is UnrecognizedClientException, expired credentials
  ExpiredTokenException, and the caller's identity policies must allow the
  operation's IAM action (``bedrock_operations.IAM_RULES``:
  ``bedrock:InvokeModel`` for Converse and InvokeModel,
  ``bedrock:InvokeModelWithResponseStream`` for their streaming forms,
  ``bedrock:CountTokens`` ...) on the model ARN, and for a cross-region
  inference profile on the profile ARN and the foundation model in every
  destination region, as Bedrock requires, or it is AccessDeniedException. An
  operation with no known action is refused for every caller;
* only then is the request read: a model id the catalogue
  (``embedded_aws.bedrock_models``) does not know is "The provided model
  identifier is invalid.", a body Bedrock would refuse a ValidationException
  with Bedrock's message, and an operation the emulator does not answer
  (ApplyGuardrail, the async invocations, the bidirectional stream) a
  ValidationException that says so;
* Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream are
  model calls, answered alike: deterministic (the same model and conversation
  always get the same text, ``embedded_aws.converse``), with token counts and
  prompt caching, ``metrics.latencyMs`` the time the emulator spent including
  injected latency. InvokeModel takes and answers the model family's native
  body (Anthropic Messages, Amazon Nova; ``embedded_aws.invoke_model``);
* every model call is attributed to the account and role session behind its
  SigV4 access key and kept in an in-memory call log; no prompt or answer text
  is stored there, mirroring an operations account with invocation logging off;
* application inference profiles (made by CloudFormation deploys, see
  ``embedded_aws.moto_patches.bedrock``) are accepted as model id: the call
  resolves to the profile's base model and is checked on the profile ARN plus
  the foundation models it routes to, with ``bedrock:InferenceProfileArn`` set, the resources
  ``contracts.model_access`` grants;
* CountTokens answers ``{"inputTokens": N}`` for Converse input and for
  InvokeModel input (a native body), N counted as the model call counts its
  input tokens. It is not a model call: it is not in the call log and injected
  faults do not apply to it;
* ConverseStream streams as Bedrock does: the response body is a generator
  that werkzeug sends chunk by chunk as each event is produced, so
  ``messageStart`` leaves at once and a client's time to first token is shorter
  than the call (``embedded_aws.bedrock_answers`` builds the events). A client
  that closes the connection midway stops the stream at the server's next write,
  without a traceback; the call is logged ``cancelled`` with the output tokens
  sent so far, and published as an accepted call with those tokens. A client
  that stops reading but keeps the connection open is not noticed until the
  socket's buffers fill, which a short answer does not do. A stream's call is
  logged as its last event (``metadata``, or an injected exception) is handed
  over, so a client that has read that event finds the call in the log;
* faults can be injected per test or over the JSON admin endpoint
  (``/_embedded/bedrock/faults``): an HTTP error for the next calls (``fail``,
  ``throttle``), latency (``set_latency``: a ConverseStream spreads it over its
  deltas), answers held until an event is set (``hold_answers``), and a
  ConverseStream that fails after N events with one of its exception events
  (``fail_stream``, raised by botocore as ``EventStreamError``). InvokeModel's
  response stream is still built whole before it is sent;
* a model call's guardrail and service tier are request context, as Bedrock sets
  them: ``bedrock:GuardrailIdentifier`` (the guardrail's ARN, ``:<version>``
  appended; an id is taken as the caller's account's) and ``bedrock:ServiceTier``
  (``serviceTier.type``), read from the Converse body or InvokeModel's
  ``X-Amzn-Bedrock-GuardrailIdentifier``/``-GuardrailVersion``/``-Service-Tier``
  headers before IAM is asked, so a role's conditions on them hold offline. A call
  with a guardrail also needs ``bedrock:ApplyGuardrail`` on it. Guardrails are
  the emulator's (``create_guardrail``, or ``POST /_embedded/bedrock/guardrails``):
  one the emulator does not know is Bedrock's ValidationException; a known one
  intervenes as ``embedded_aws.bedrock_guardrails`` documents (a blocked word in
  the prompt). The call log keeps each call's ``maxTokens``, tier and guardrail;
* each model call publishes the ``AWS/Bedrock`` metrics Bedrock publishes, in the
  calling account's CloudWatch (``embedded_aws.bedrock_metrics``): the limit
  enforcer's meter.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from contracts import naming
from contracts.model_access import (
    APPLICATION_PROFILE_ARN_RE,
    GUARDRAIL_CONDITION_KEY,
    SERVICE_TIER_CONDITION_KEY,
    application_profile_arn,
    default_profile_regions,
    foundation_model_arn,
    guardrail_condition_value,
    model_id_of_source_arn,
    resources_needed,
)
from embedded_aws import bedrock_metrics, converse, invoke_model
from embedded_aws.bedrock_answers import converse_stream_events, stream_exception
from embedded_aws.bedrock_guardrails import EmulatedGuardrail, assess, new_guardrail
from embedded_aws.bedrock_models import foundation_model_id, model_features
from embedded_aws.bedrock_operations import (
    CONVERSE,
    CONVERSE_STREAM,
    COUNT_TOKENS,
    INVOKE_MODEL,
    INVOKE_MODEL_STREAM,
    ResourceKind,
    RuntimeOperation,
    RuntimeRoute,
    route,
    stream_exceptions,
)
from embedded_aws.iam_policy import Decision, evaluate
from embedded_aws.iam_policy import Request as PolicyRequest
from embedded_aws.identity import (
    CallerIdentity,
    identity_policies,
    parse_authorization,
    resolve_access_key,
)

# The operations that call a model: answered, faulted and kept in the call log alike.
MODEL_CALLS = frozenset({CONVERSE, CONVERSE_STREAM, INVOKE_MODEL, INVOKE_MODEL_STREAM})
INVALID_MODEL = "The provided model identifier is invalid."
# The call log's outcome of a stream the client closed before it ended.
CANCELLED = "cancelled"


class BedrockError(Exception):
    """An error Bedrock returns as JSON ``{"message": ...}`` with ``x-amzn-ErrorType``."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


@dataclass
class BedrockCall:
    """One model call (Converse, ConverseStream, InvokeModel or
    InvokeModelWithResponseStream) as the operations account would see it."""

    request_id: str
    timestamp: str
    operation: str
    model_id: str
    region: str
    account_id: str | None
    principal_arn: str | None
    role_arn: str | None
    session_name: str | None
    request_metadata: dict[str, str] | None
    access_key_id: str | None
    # "success"; "cancelled" (a stream the client closed before its end); or the error
    # code returned, as an HTTP error or, midway through a stream, as its exception
    # event (``ModelStreamErrorException`` for ``modelStreamErrorException``).
    outcome: str
    http_status: int
    input_tokens: int = 0
    # A stream cut short (cancelled, or failed midway): the output tokens it sent.
    output_tokens: int = 0
    latency_ms: int = 0
    # The model behind an application inference profile named as ``model_id``.
    base_model_id: str | None = None
    # What the request asked for: ``inferenceConfig.maxTokens`` (None when it named
    # none), ``serviceTier.type`` and the guardrail (``<ARN>:<version>``).
    max_tokens: int | None = None
    service_tier: str | None = None
    guardrail: str | None = None
    stop_reason: str | None = None
    # The request as sent, for in-process tests; kept out of the admin log (content).
    body: dict[str, Any] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as served by the admin endpoint (without the request body)."""
        return {k: v for k, v in asdict(self).items() if k != "body"}


@dataclass(frozen=True)
class ApplicationInferenceProfile:
    """An application inference profile: a tagged copy of a model's routing."""

    arn: str
    profile_id: str
    name: str
    account_id: str
    region: str
    copy_from: str  # a foundation-model or system inference-profile ARN
    model_id: str  # the model id behind ``copy_from``
    tags: tuple[tuple[str, str], ...] = ()
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as served by the admin endpoint."""
        return {**asdict(self), "tags": dict(self.tags)}


class ProfileConflict(ValueError):
    """A profile of that name already exists in the account and region."""


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` matching calls: an HTTP error
    before the answer, or (``after_events`` set) a ConverseStream that fails after
    that many events with the exception event ``code``."""

    code: str
    status: int
    message: str
    remaining: int
    account_id: str | None = None
    model_id: str | None = None
    after_events: int | None = None

    def matches(self, account_id: str | None, model_id: str, operation: str) -> bool:
        """Does this fault apply to an ``operation`` call from ``account_id`` to ``model_id``?"""
        return (
            self.remaining > 0
            and (self.after_events is None or operation == CONVERSE_STREAM)
            and (self.account_id is None or self.account_id == account_id)
            and (self.model_id is None or self.model_id == model_id)
        )

    @property
    def outcome(self) -> str:
        """The call log's outcome: the error code, upper camel case for a stream's
        exception event too, as its HTTP form names it (``ThrottlingException``)."""
        return self.code[:1].upper() + self.code[1:]


@dataclass
class _FaultState:
    faults: list[Fault] = field(default_factory=list)
    latency_ms: int = 0
    # Answers wait for this event (a model still working until a test says so).
    hold: threading.Event | None = None


# Status and message Bedrock answers these errors with; ``fail`` defaults to them.
KNOWN_ERRORS: dict[str, tuple[int, str]] = {
    "ThrottlingException": (429, "Too many requests, please wait before trying again."),
    "AccessDeniedException": (
        403,
        "You don't have access to the model with the specified model ID.",
    ),
    "ValidationException": (400, "The provided model identifier is invalid."),
    "ServiceUnavailableException": (503, "Bedrock is unable to process your request."),
    "ModelTimeoutException": (408, "The request took too long to process."),
}
# Messages of ConverseStream's exception events (botocore's service model documents them).
STREAM_ERROR_MESSAGES: dict[str, str] = {
    "internalServerException": "An internal server error occurred. Retry your request.",
    "modelStreamErrorException": "A streaming error occurred. Retry your request.",
    "validationException": (
        "The input fails to satisfy the constraints specified by Amazon Bedrock."
    ),
    "throttlingException": "Too many requests, please wait before trying again.",
    "serviceUnavailableException": "Bedrock is unable to process your request.",
}
# How long a held answer waits at most: a safety net against a hung test, not a timing.
HOLD_SAFETY_SECONDS = 30.0


def required_resources(
    model_id: str,
    region: str,
    account_id: str,
    profile_regions: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[str, dict[str, str]]]:
    """Every (resource ARN, extra condition context) a call to ``model_id`` is checked on.

    The same resources the stacks grant (``contracts.model_access``), in the
    region's partition. A full ARN as model id is checked on itself.
    """
    if model_id.startswith("arn:"):
        return [(model_id, {})]
    try:
        needs = resources_needed(
            model_id,
            partition=naming.partition_for_region(region),
            region=region,
            account=account_id,
            profile_regions=default_profile_regions(profile_regions),
        )
    except (ValueError, KeyError):
        raise BedrockError(
            "ValidationException", 400, "The provided model identifier is invalid."
        ) from None
    return [(need.arn, need.context) for need in needs]


def _error_response(err: BedrockError, request_id: str) -> Response:
    return Response(
        json.dumps({"message": err.message}),
        status=err.status,
        headers={
            "Content-Type": "application/json",
            "x-amzn-ErrorType": err.code,
            "x-amzn-RequestId": request_id,
        },
    )


class BedrockEmulator:
    """Answers Bedrock runtime requests; keeps the call log and the fault plan.

    ``handle(request)`` serves one runtime request; ``handle_admin(request)``
    serves the JSON admin endpoint (``/_embedded/bedrock/calls`` and
    ``/_embedded/bedrock/faults``).
    """

    def __init__(self, *, profile_regions: Mapping[str, Sequence[str]] | None = None) -> None:
        self._lock = threading.Lock()
        self._calls: list[BedrockCall] = []
        self._faults = _FaultState()
        self._cache = converse.PromptCache()
        self._profile_regions = profile_regions
        self._application_profiles: dict[str, ApplicationInferenceProfile] = {}
        self._guardrails: dict[str, EmulatedGuardrail] = {}
        # (account, region) -> the guardrail ARN Bedrock applies to every call there.
        self._enforced_guardrails: dict[tuple[str, str], str] = {}
        self._script: tuple[str, dict[str, int], int | None] | None = None

    # -- call log -------------------------------------------------------------------------

    def calls(self) -> list[BedrockCall]:
        """A snapshot of every call so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        """Forget the calls logged so far."""
        with self._lock:
            self._calls.clear()

    # -- application inference profiles ----------------------------------------------------

    def create_application_profile(
        self,
        *,
        account_id: str,
        region: str,
        name: str,
        copy_from: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> ApplicationInferenceProfile:
        """Create a profile with a generated id, as CreateInferenceProfile does.

        ValueError when ``copy_from`` is not a model or system profile ARN,
        ``ProfileConflict`` when the account already has a profile of that name.
        """
        model_id = model_id_of_source_arn(copy_from)
        profile_id = uuid.uuid4().hex[:12]
        partition = naming.partition_for_region(region)
        arn = application_profile_arn(partition, region, account_id, profile_id)
        profile = ApplicationInferenceProfile(
            arn=arn,
            profile_id=profile_id,
            name=name,
            account_id=account_id,
            region=region,
            copy_from=copy_from,
            model_id=model_id,
            tags=tuple(sorted((tags or {}).items())),
            description=description,
        )
        with self._lock:
            if any(
                (p.account_id, p.region, p.name) == (account_id, region, name)
                for p in self._application_profiles.values()
            ):
                raise ProfileConflict(f"an inference profile named {name} already exists")
            self._application_profiles[arn] = profile
        return profile

    def tag_application_profile(
        self, arn: str, tags: Mapping[str, str]
    ) -> ApplicationInferenceProfile:
        """Replace a profile's tags (the one thing an update may change); the profile now."""
        with self._lock:
            profile = replace(self._application_profiles[arn], tags=tuple(sorted(tags.items())))
            self._application_profiles[arn] = profile
        return profile

    def delete_application_profile(self, arn: str) -> None:
        """Delete a profile; calls naming it fail from then on."""
        with self._lock:
            self._application_profiles.pop(arn, None)

    def application_profiles(self) -> list[ApplicationInferenceProfile]:
        """Every application inference profile, oldest first."""
        with self._lock:
            return list(self._application_profiles.values())

    # -- guardrails --------------------------------------------------------------------------

    def create_guardrail(
        self,
        *,
        account_id: str,
        region: str,
        name: str,
        blocked_words: Sequence[str] = (),
        content_filters: bool = False,
        blocked_input_messaging: str | None = None,
        version: str = "1",
    ) -> EmulatedGuardrail:
        """Create a guardrail with a generated id; by default with its version 1 too, as
        CreateGuardrail and CreateGuardrailVersion do (``version="DRAFT"``: none yet)."""
        extra = (
            {}
            if blocked_input_messaging is None
            else {"blocked_input_messaging": blocked_input_messaging}
        )
        guardrail = new_guardrail(
            account_id=account_id,
            region=region,
            partition=naming.partition_for_region(region),
            name=name,
            blocked_words=blocked_words,
            content_filters=content_filters,
            version=version,
            **extra,
        )
        with self._lock:
            self._guardrails[guardrail.arn] = guardrail
        return guardrail

    def update_guardrail(
        self,
        arn: str,
        *,
        blocked_words: Sequence[str],
        content_filters: bool,
        blocked_input_messaging: str,
    ) -> EmulatedGuardrail:
        """Change a guardrail's definition (UpdateGuardrail); its versions keep their numbers."""
        with self._lock:
            guardrail = replace(
                self._guardrails[arn],
                blocked_words=tuple(blocked_words),
                content_filters=content_filters,
                blocked_input_messaging=blocked_input_messaging,
            )
            self._guardrails[arn] = guardrail
        return guardrail

    def publish_guardrail_version(self, identifier: str) -> EmulatedGuardrail:
        """CreateGuardrailVersion: the guardrail (by id or ARN) gets the next version
        number, which calls may name from then on. The emulator keeps one definition
        per guardrail, the latest: a version is not a snapshot here."""
        with self._lock:
            [arn] = [a for a, g in self._guardrails.items() if identifier in (a, g.guardrail_id)]
            current = self._guardrails[arn].version
            version = "1" if not current.isdigit() else str(int(current) + 1)
            guardrail = replace(self._guardrails[arn], version=version)
            self._guardrails[arn] = guardrail
        return guardrail

    def set_enforced_guardrail(self, account_id: str, region: str, identifier: str) -> None:
        """PutEnforcedGuardrailConfiguration: Bedrock applies the guardrail (id or ARN, in
        that account) to every model call of the account in ``region`` from now on, as
        well as any guardrail a call names. The emulator applies its current version."""
        partition = naming.partition_for_region(region)
        arn = (
            identifier
            if identifier.startswith("arn:")
            else f"arn:{partition}:bedrock:{region}:{account_id}:guardrail/{identifier}"
        )
        with self._lock:
            self._enforced_guardrails[(account_id, region)] = arn

    def clear_enforced_guardrail(self, account_id: str, region: str) -> None:
        """DeleteEnforcedGuardrailConfiguration: no floor in that account and region."""
        with self._lock:
            self._enforced_guardrails.pop((account_id, region), None)

    def delete_guardrail(self, arn: str) -> None:
        """Delete a guardrail; calls naming it fail from then on."""
        with self._lock:
            self._guardrails.pop(arn, None)

    def guardrails(self) -> list[EmulatedGuardrail]:
        """Every guardrail, oldest first."""
        with self._lock:
            return list(self._guardrails.values())

    # -- fault injection --------------------------------------------------------------------

    def throttle(
        self, count: int = 1, *, account_id: str | None = None, model_id: str | None = None
    ) -> None:
        """Answer the next ``count`` matching calls with ThrottlingException (HTTP 429)."""
        self.fail(
            "ThrottlingException",
            status=429,
            message="Too many requests, please wait before trying again.",
            count=count,
            account_id=account_id,
            model_id=model_id,
        )

    def fail(
        self,
        code: str,
        *,
        status: int = 500,
        message: str | None = None,
        count: int = 1,
        account_id: str | None = None,
        model_id: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching calls with the given error.

        ``status`` and ``message`` default to Bedrock's own for a known error code.
        """
        known_status, known_message = KNOWN_ERRORS.get(code, (status, f"Injected {code}"))
        if status == 500 and code in KNOWN_ERRORS:
            status = known_status
        fault = Fault(code, status, message or known_message, count, account_id, model_id)
        with self._lock:
            self._faults.faults.append(fault)

    def fail_stream(
        self,
        exception: str = "modelStreamErrorException",
        *,
        after_events: int = 2,
        message: str | None = None,
        count: int = 1,
        account_id: str | None = None,
        model_id: str | None = None,
    ) -> None:
        """Make the next ``count`` matching ConverseStream calls fail midway.

        Such a stream opens (HTTP 200), sends its first ``after_events`` events
        (``messageStart`` is the first; a shorter answer fails before its
        ``metadata``) and ends with an exception event ``exception``, one of the
        members of ConverseStream's stream union in botocore's model
        (``internalServerException``, ``modelStreamErrorException``,
        ``throttlingException``, ``serviceUnavailableException``,
        ``validationException``; the upper camel form, ``ThrottlingException``, is
        taken too). botocore raises it from the iteration as
        ``botocore.exceptions.EventStreamError`` with that code and ``message``
        (by default the one botocore's model documents). The call log records the
        outcome as the upper camel code, with the output tokens sent before it.
        Other operations do not take the fault. Over the admin endpoint:
        ``POST /_embedded/bedrock/faults`` with ``{"stream_error": {"exception",
        "after_events"?, "message"?, "count"?}, "account_id"?, "model_id"?}``.
        """
        members = stream_exceptions(CONVERSE_STREAM)
        member = exception[:1].lower() + exception[1:]
        if member not in members:
            raise ValueError(
                f"{exception} is no ConverseStream exception: one of {sorted(members)}"
            )
        if after_events < 0:
            raise ValueError("after_events must be 0 or more")
        fault = Fault(
            member,
            members[member],
            message or STREAM_ERROR_MESSAGES.get(member, f"Injected {member}"),
            count,
            account_id,
            model_id,
            after_events=after_events,
        )
        with self._lock:
            self._faults.faults.append(fault)

    def set_latency(self, latency_ms: int) -> None:
        """Make every model call take ``latency_ms`` more from now on (0 turns it off).

        Converse and InvokeModel wait that long before they answer. A ConverseStream
        spreads it over its deltas: ``messageStart`` leaves at once, each delta waits
        its share, so time to first event stays short while the whole stream takes
        the latency longer, as a model generating tokens does."""
        with self._lock:
            self._faults.latency_ms = max(0, int(latency_ms))

    def hold_answers(self, until: threading.Event | None) -> None:
        """Make every call wait for ``until`` before it is answered (None: answer at once)."""
        with self._lock:
            self._faults.hold = until

    def script_answer(
        self, text: str, usage: Mapping[str, int], *, latency_ms: int | None = None
    ) -> None:
        """Answer every successful call with ``text``, Bedrock ``usage`` counts and
        ``latency_ms`` as given. For tests that pin exact figures; the deterministic
        answer is the default."""
        with self._lock:
            self._script = (text, dict(usage), latency_ms)

    def clear_faults(self) -> None:
        """Remove every injected fault and extra latency."""
        with self._lock:
            self._faults = _FaultState()

    def fault_state(self) -> dict[str, Any]:
        """The pending faults and latency, JSON-ready."""
        with self._lock:
            return {
                "latency_ms": self._faults.latency_ms,
                "faults": [asdict(f) for f in self._faults.faults if f.remaining > 0],
            }

    def _take_fault(
        self, account_id: str | None, model_id: str, operation: str
    ) -> tuple[Fault | None, int]:
        with self._lock:
            for fault in self._faults.faults:
                if fault.matches(account_id, model_id, operation):
                    fault.remaining -= 1
                    return fault, self._faults.latency_ms
            return None, self._faults.latency_ms

    # -- runtime API ----------------------------------------------------------------------

    @staticmethod
    def matches(request: Request) -> bool:
        """Is this a Bedrock runtime request: signed for service ``bedrock`` with the method
        and path of an operation in botocore's ``bedrock-runtime`` model? The control
        plane signs as ``bedrock`` too; its paths are no runtime operation's."""
        scope = parse_authorization(request.headers.get("Authorization"))
        return (
            scope is not None
            and scope.service == "bedrock"
            and route(request.method, _raw_path(request)) is not None
        )

    def handle(self, request: Request) -> Response:
        """Serve one runtime request: held to the caller's IAM policies, then answered or
        refused (an operation the embedded cloud does not emulate, with Bedrock's error shape)."""
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        matched = route(request.method, _raw_path(request))
        assert matched is not None  # matches() was checked by the dispatcher
        scope = parse_authorization(request.headers.get("Authorization"))
        region = scope.region if scope else "us-east-1"
        identity = resolve_access_key(scope.access_key_id) if scope else None
        name = matched.operation.name
        if name in MODEL_CALLS:
            access_key_id = scope.access_key_id if scope else None
            return self._model_call(
                request, matched, identity, access_key_id, region, request_id, started
            )
        try:
            caller = _authenticated(identity)
            if name == COUNT_TOKENS:
                return self._count_tokens(request, matched, caller, region, request_id)
            self._authorize_route(caller, matched, request, region)
        except BedrockError as err:
            return _error_response(err, request_id)
        emulated = ", ".join(sorted(MODEL_CALLS | {COUNT_TOKENS}))
        return _error_response(
            BedrockError(
                "ValidationException",
                400,
                f"The embedded cloud does not emulate {name}; it answers {emulated}.",
            ),
            request_id,
        )

    def _model_call(
        self,
        request: Request,
        matched: RuntimeRoute,
        identity: CallerIdentity | None,
        access_key_id: str | None,
        region: str,
        request_id: str,
        started: float,
    ) -> Response:
        """Converse, ConverseStream, InvokeModel or InvokeModelWithResponseStream."""
        operation = matched.operation
        model_id = matched.labels["modelId"]
        raw = request.get_data()
        call = BedrockCall(
            request_id=request_id,
            timestamp=datetime.now(UTC).isoformat(),
            operation=operation.name,
            model_id=model_id,
            region=region,
            account_id=identity.account_id if identity else None,
            principal_arn=identity.arn if identity else None,
            role_arn=identity.role_arn if identity else None,
            session_name=identity.session_name if identity else None,
            request_metadata=_request_metadata(operation.name, request, raw),
            access_key_id=access_key_id,
            outcome="success",
            http_status=200,
        )
        family: invoke_model.ModelFamily | None = None
        asked = _asked(operation.name, request, raw)
        call.service_tier, call.max_tokens = asked.service_tier, asked.max_tokens
        try:
            caller = _authenticated(identity)
            guardrail_arn = asked.guardrail_arn(caller.account_id, region)
            if guardrail_arn is not None:
                call.guardrail = _guardrail_value(guardrail_arn, asked.guardrail_version)
            context = asked.context(guardrail_arn)
            target = self._authorize_model(caller, operation, model_id, region, context)
            guardrails = [
                g
                for g in (
                    self._enforced_guardrail(caller.account_id, region),
                    self._guardrail_for(caller, guardrail_arn, asked, region),
                )
                if g is not None
            ]
            call.base_model_id = target.base_model_id
            streaming = operation.name in (CONVERSE_STREAM, INVOKE_MODEL_STREAM)
            if operation.name in (CONVERSE, CONVERSE_STREAM):
                conversation = _converse_body(raw, target, streaming=streaming)
                call.body = conversation
            else:
                family = _family(target)
                native = _native_body(raw)
                call.body = native
                conversation = _native_conversation(target, native, streaming=streaming)
                call.max_tokens = (conversation.get("inferenceConfig") or {}).get("maxTokens")
            hold = self._faults.hold
            if hold is not None:
                hold.wait(timeout=HOLD_SAFETY_SECONDS)
            fault, latency_ms = self._take_fault(call.account_id, model_id, operation.name)
            refused = fault is not None and fault.after_events is None
            # A ConverseStream that is answered spends its latency between its deltas.
            if latency_ms and (refused or operation.name != CONVERSE_STREAM):
                time.sleep(latency_ms / 1000)
            if fault is not None and refused:
                raise BedrockError(fault.code, fault.status, fault.message)
            result = self._answer(
                call,
                target.base_model_id or model_id,
                conversation,
                started,
                guardrails=guardrails,
                trace=asked.guardrail_trace,
            )
        except BedrockError as err:
            call.outcome, call.http_status = err.code, err.status
            call.latency_ms = int((time.perf_counter() - started) * 1000)
            self._log(call)
            return _error_response(err, request_id)
        call.input_tokens = result["usage"]["inputTokens"]
        headers = {"x-amzn-RequestId": request_id}
        if operation.name == CONVERSE_STREAM:
            # Logged when the stream ends: werkzeug sends each event as it is produced.
            stream = _ConverseStream(
                call,
                result,
                started=started,
                latency_ms=latency_ms,
                failure=fault,
                scripted_latency=self._script[2] if self._script is not None else None,
            )
            return Response(
                stream.body(self._log),
                headers={"Content-Type": "application/vnd.amazon.eventstream", **headers},
            )
        call.output_tokens = result["usage"]["outputTokens"]
        call.stop_reason = result.get("stopReason")
        call.latency_ms = result["metrics"]["latencyMs"]
        self._log(call)
        if operation.name == CONVERSE:
            return Response(
                json.dumps(result), headers={"Content-Type": "application/json", **headers}
            )
        assert family is not None and target.foundation_model_id is not None
        native_answer = (
            family,
            target.foundation_model_id,
            conversation,
            result,
            f"msg_bdrk_{uuid.UUID(request_id).hex[:24]}",
        )
        if operation.name == INVOKE_MODEL:
            return Response(
                json.dumps(invoke_model.response_body(*native_answer)),
                headers={
                    "Content-Type": "application/json",
                    **invoke_model.response_headers(result),
                    **headers,
                },
            )
        return Response(
            invoke_model.response_stream(*native_answer),
            headers={
                "Content-Type": "application/vnd.amazon.eventstream",
                "X-Amzn-Bedrock-Content-Type": "application/json",
                **headers,
            },
        )

    def _count_tokens(
        self,
        request: Request,
        matched: RuntimeRoute,
        caller: CallerIdentity,
        region: str,
        request_id: str,
    ) -> Response:
        """CountTokens: held to IAM as ``bedrock:CountTokens``, counted as Converse counts.

        InvokeModel-shaped input (``input.invokeModel.body``, the native body as a
        blob) is counted as the Converse request it turns into, so it counts what
        InvokeModel's usage reports."""
        target = self._authorize_model(caller, matched.operation, matched.labels["modelId"], region)
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise BedrockError("ValidationException", 400, "Malformed input request.") from None
        given = body.get("input") if isinstance(body, dict) else None
        if not isinstance(given, dict) or not given:
            raise BedrockError(
                "ValidationException", 400, "1 validation error detected: input is required"
            )
        if isinstance(given.get("converse"), dict):
            conversation = given["converse"]
            _check_conversation(conversation, model_id=_foundation(target))
        elif isinstance(given.get("invokeModel"), dict):
            native = _native_body(_blob(given["invokeModel"].get("body")))
            conversation = _native_conversation(target, native, streaming=False)
        else:
            raise BedrockError(
                "ValidationException",
                400,
                "1 validation error detected: input must name converse or invokeModel",
            )
        return Response(
            json.dumps({"inputTokens": converse.input_tokens(conversation)}),
            headers={"Content-Type": "application/json", "x-amzn-RequestId": request_id},
        )

    def _log(self, call: BedrockCall) -> None:
        with self._lock:
            self._calls.append(call)
        # What Bedrock publishes in the caller's account: the limit enforcer's meter. A
        # stream the client closed was an accepted call, with the tokens it produced.
        bedrock_metrics.publish(
            call.account_id,
            call.region,
            bedrock_metrics.call_metrics(
                model_id=call.model_id,
                outcome="success" if call.outcome == CANCELLED else call.outcome,
                input_tokens=call.input_tokens,
                output_tokens=call.output_tokens,
                latency_ms=call.latency_ms,
                at=datetime.fromisoformat(call.timestamp),
            ),
        )

    def _model_target(self, caller: CallerIdentity, model_id: str, region: str) -> _ModelTarget:
        """What a call naming ``model_id`` is checked on, and the model behind it.

        An id Bedrock does not know is still checked, on the resource it would
        name, so a caller learns it is invalid only once it is allowed to ask."""
        if APPLICATION_PROFILE_ARN_RE.fullmatch(model_id):
            with self._lock:
                profile = self._application_profiles.get(model_id)
            if profile is None or profile.region != region:
                return _ModelTarget([(model_id, {})], None, None)
            needs = resources_needed(
                profile.model_id,
                partition=naming.partition_for_region(region),
                region=region,
                account=profile.account_id,
                profile_regions=default_profile_regions(self._profile_regions),
                application_profile=profile.arn,
            )
            resources = [(need.arn, need.context) for need in needs]
            return _ModelTarget(resources, profile.model_id, _known_model(profile.model_id))
        try:
            resources = required_resources(
                model_id, region, caller.account_id, self._profile_regions
            )
        except BedrockError:
            partition = naming.partition_for_region(region)
            resources = [(foundation_model_arn(partition, region, model_id), {})]
        return _ModelTarget(resources, None, _known_model(model_id))

    def _authorize_model(
        self,
        caller: CallerIdentity,
        operation: RuntimeOperation,
        model_id: str,
        region: str,
        request_context: Mapping[str, str] | None = None,
    ) -> _ModelTarget:
        """Raise unless the caller may call ``operation`` on a model Bedrock knows
        (``request_context``: the request's own condition keys, on every resource)."""
        target = self._model_target(caller, model_id, region)
        resources = [(arn, {**(request_context or {}), **extra}) for arn, extra in target.resources]
        _authorize(caller, _action(caller, operation), resources, region)
        if target.foundation_model_id is None:
            raise BedrockError("ValidationException", 400, INVALID_MODEL)
        return target

    def _authorize_route(
        self, caller: CallerIdentity, matched: RuntimeRoute, request: Request, region: str
    ) -> None:
        """Raise unless the caller may make this request of an operation not emulated."""
        operation, labels = matched.operation, matched.labels
        action = _action(caller, operation)
        rule = operation.authorization
        assert rule is not None  # _action refused the operation otherwise
        if rule.resource is ResourceKind.MODEL:
            self._authorize_model(caller, operation, labels["modelId"], region)
            return
        resources: list[tuple[str, dict[str, str]]] = [("*", {})]
        if rule.resource is ResourceKind.MODEL_IN_BODY:
            model_id = _body_field(request, "modelId")
            if model_id:
                self._authorize_model(caller, operation, model_id, region)
                return
        elif rule.resource is ResourceKind.GUARDRAIL:
            guardrail = labels["guardrailIdentifier"]
            if not guardrail.startswith("arn:"):
                partition = naming.partition_for_region(region)
                guardrail = (
                    f"arn:{partition}:bedrock:{region}:{caller.account_id}:guardrail/{guardrail}"
                )
            resources = [(guardrail, {})]
        elif rule.resource is ResourceKind.ASYNC_INVOKE:
            resources = [(labels["invocationArn"], {})]
        _authorize(caller, action, resources, region)

    def _guardrail_for(
        self, caller: CallerIdentity, arn: str | None, asked: _AskedFor, region: str
    ) -> EmulatedGuardrail | None:
        """The guardrail a call names, once the caller may apply it; Bedrock's error for
        one that does not exist (or not in that version)."""
        if arn is None:
            return None
        _authorize(caller, "bedrock:ApplyGuardrail", [(arn, {})], region)
        with self._lock:
            guardrail = self._guardrails.get(arn)
        if guardrail is None or guardrail.version != asked.guardrail_version:
            raise BedrockError(
                "ValidationException",
                400,
                "The guardrail identifier or version provided in the request does not exist.",
            )
        return guardrail

    def _enforced_guardrail(self, account_id: str, region: str) -> EmulatedGuardrail | None:
        """The account's guardrail floor in ``region``, if it has one the emulator knows."""
        with self._lock:
            arn = self._enforced_guardrails.get((account_id, region))
            return self._guardrails.get(arn) if arn is not None else None

    def _answer(
        self,
        call: BedrockCall,
        model_id: str,
        body: Mapping[str, Any],
        started: float,
        *,
        guardrails: Sequence[EmulatedGuardrail] = (),
        trace: bool = False,
    ) -> dict[str, Any]:
        if guardrails:
            # The first guardrail (the account's floor, if any) assesses first; the
            # model is called only if none of them intervenes on the prompt.
            first, rest = guardrails[0], guardrails[1:]
            result = assess(
                first,
                body,
                lambda: self._answer(call, model_id, body, started, guardrails=rest, trace=trace),
                trace=trace,
            )
            latency = max(1, int((time.perf_counter() - started) * 1000))
            return {**result, "metrics": {"latencyMs": latency}}
        latency = max(1, int((time.perf_counter() - started) * 1000))
        if self._script is not None:
            text, scripted_usage, scripted_latency = self._script
            return {
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
                "usage": dict(scripted_usage),
                "metrics": {"latencyMs": scripted_latency or latency},
            }
        result = converse.answer(model_id, body, account_id=call.account_id, cache=self._cache)
        latency = max(1, int((time.perf_counter() - started) * 1000))
        return {**result, "metrics": {"latencyMs": latency}}

    # -- admin endpoint -------------------------------------------------------------------

    def handle_admin(self, request: Request, subpath: str) -> Response:
        """``GET/DELETE calls``; ``GET/POST/DELETE faults``; ``GET application-profiles`` (JSON)."""
        if subpath == "calls":
            if request.method == "DELETE":
                self.clear_calls()
                return _json({"cleared": True})
            return _json({"calls": [c.to_dict() for c in self.calls()]})
        if subpath == "application-profiles":
            return _json({"profiles": [p.to_dict() for p in self.application_profiles()]})
        if subpath == "guardrails":
            if request.method == "POST":
                return self._admin_post_guardrail(request)
            return _json({"guardrails": [g.to_dict() for g in self.guardrails()]})
        if subpath == "faults":
            if request.method == "DELETE":
                self.clear_faults()
                return _json(self.fault_state())
            if request.method == "POST":
                return self._admin_post_faults(request)
            return _json(self.fault_state())
        return _json({"message": f"unknown admin path {subpath}"}, status=404)

    def _admin_post_guardrail(self, request: Request) -> Response:
        """Create a guardrail: ``{"account_id", "region", "name", "blocked_words"?,
        "content_filters"?, "blocked_input_messaging"?}``; answers it, with its ARN."""
        try:
            spec = json.loads(request.get_data() or b"{}")
            guardrail = self.create_guardrail(
                account_id=str(spec["account_id"]),
                region=str(spec["region"]),
                name=str(spec["name"]),
                blocked_words=[str(w) for w in spec.get("blocked_words", [])],
                content_filters=bool(spec.get("content_filters", False)),
                blocked_input_messaging=spec.get("blocked_input_messaging"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _json({"message": f"bad guardrail spec: {exc}"}, status=400)
        return _json(guardrail.to_dict())

    def _admin_post_faults(self, request: Request) -> Response:
        try:
            spec = json.loads(request.get_data() or b"{}")
            if not isinstance(spec, dict):
                raise ValueError("body must be a JSON object")
            scope = {"account_id": spec.get("account_id"), "model_id": spec.get("model_id")}
            if "latency_ms" in spec:
                self.set_latency(int(spec["latency_ms"]))
            if "throttle" in spec:
                self.throttle(int(spec["throttle"]), **scope)
            if "error" in spec:
                err = spec["error"]
                self.fail(
                    str(err["code"]),
                    status=int(err.get("status", 500)),
                    message=err.get("message"),
                    count=int(err.get("count", 1)),
                    **scope,
                )
            if "stream_error" in spec:
                err = spec["stream_error"]
                self.fail_stream(
                    str(err["exception"]),
                    after_events=int(err.get("after_events", 2)),
                    message=err.get("message"),
                    count=int(err.get("count", 1)),
                    **scope,
                )
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"message": f"bad fault spec: {exc}"}, status=400)
        return _json(self.fault_state())


class _ConverseStream:
    """One ConverseStream answer on its way out, and its entry in the call log.

    ``body`` yields the events one at a time; werkzeug writes each to the socket as
    it comes (chunked) and asks for the next only once the write succeeded. So the
    generator knows what was sent: when the client goes away, the next write fails,
    werkzeug closes the generator (``GeneratorExit`` at its ``yield``) and the call
    is logged ``cancelled`` with the output tokens sent so far; no traceback, since
    werkzeug takes a dropped connection as the client's doing. The stream's last
    event, ``metadata`` or an injected exception, decides the outcome: the call is
    logged as it is handed over, so a client that has read it finds the call logged.
    """

    def __init__(
        self,
        call: BedrockCall,
        result: Mapping[str, Any],
        *,
        started: float,
        latency_ms: int,
        failure: Fault | None,
        scripted_latency: int | None,
    ) -> None:
        self._call = call
        self._result = result
        self._started = started
        self._events = converse_stream_events(result)
        deltas = sum(event.is_delta for event in self._events)
        self._pause = latency_ms / 1000 / deltas if deltas else 0.0
        self._failure = failure
        self._scripted_latency = scripted_latency
        self._sent_tokens = 0
        self._logged = False

    def body(self, log: Callable[[BedrockCall], None]) -> Iterator[bytes]:
        """The events as event-stream messages; ``log(call)`` once, as the stream ends."""
        failure, events = self._failure, self._events
        # A fault fails the stream before its metadata at the latest.
        fail_at = None if failure is None else min(failure.after_events or 0, len(events) - 1)
        try:
            for position, event in enumerate(events):
                if failure is not None and position == fail_at:
                    self._end(log, failure.outcome)
                    yield stream_exception(failure.code, failure.message)
                    return
                if event.is_delta and self._pause:
                    time.sleep(self._pause)
                if event.event_type == "messageStop":
                    self._call.stop_reason = self._result.get("stopReason")
                if event.event_type == "metadata":
                    metrics = self._end(log, "success")
                    yield replace(event, payload={**event.payload, "metrics": metrics}).encode()
                    return
                yield event.encode()
                self._sent_tokens += event.output_tokens
        finally:
            if not self._logged:
                self._end(log, CANCELLED)

    def _end(self, log: Callable[[BedrockCall], None], outcome: str) -> dict[str, int]:
        """Log the call with ``outcome``; the stream's ``metrics``."""
        metrics = self._metrics()
        usage_out = int(self._result["usage"]["outputTokens"])
        # The usage counts what the model billed (none when a guardrail intervened).
        sent = usage_out if outcome == "success" else min(self._sent_tokens, usage_out)
        call = self._call
        call.outcome, call.output_tokens, call.latency_ms = outcome, sent, metrics["latencyMs"]
        if outcome != "success":
            call.stop_reason = None
        self._logged = True
        log(call)
        return metrics

    def _metrics(self) -> dict[str, int]:
        """``metrics`` as the stream ends: the time since the request arrived."""
        if self._scripted_latency:
            return {"latencyMs": self._scripted_latency}
        return {"latencyMs": max(1, int((time.perf_counter() - self._started) * 1000))}


@dataclass(frozen=True)
class _ModelTarget:
    """What a call naming a model is checked on, and the model it reaches."""

    resources: list[tuple[str, dict[str, str]]]
    # The model behind an application inference profile named as the model id.
    base_model_id: str | None
    # The catalogue's foundation model; None for an id Bedrock does not know.
    foundation_model_id: str | None


@dataclass(frozen=True)
class _AskedFor:
    """What a model call's request asks for beyond the model: read before IAM, as the
    request context Bedrock evaluates the caller's policies with."""

    guardrail_identifier: str | None = None
    guardrail_version: str | None = None
    guardrail_trace: bool = False
    service_tier: str | None = None
    max_tokens: int | None = None

    def guardrail_arn(self, account_id: str, region: str) -> str | None:
        """The guardrail as its ARN (an id names one in the caller's account)."""
        identifier = self.guardrail_identifier
        if not identifier:
            return None
        if identifier.startswith("arn:"):
            return identifier
        partition = naming.partition_for_region(region)
        return f"arn:{partition}:bedrock:{region}:{account_id}:guardrail/{identifier}"

    def context(self, guardrail_arn: str | None) -> dict[str, str]:
        """``bedrock:GuardrailIdentifier`` and ``bedrock:ServiceTier``, when the request
        names them (a key the request does not name is absent, as in IAM)."""
        context: dict[str, str] = {}
        if guardrail_arn is not None:
            context[GUARDRAIL_CONDITION_KEY] = _guardrail_value(
                guardrail_arn, self.guardrail_version
            )
        if self.service_tier:
            context[SERVICE_TIER_CONDITION_KEY] = self.service_tier
        return context


def _guardrail_value(arn: str, version: str | None) -> str:
    return guardrail_condition_value(arn, version) if version else arn


def _asked(operation: str, request: Request, raw: bytes) -> _AskedFor:
    """The guardrail, tier and maxTokens a request names: in a Converse body, in
    InvokeModel's headers (its maxTokens is read from the native body later)."""
    if operation in (CONVERSE, CONVERSE_STREAM):
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _AskedFor()
        if not isinstance(body, dict):
            return _AskedFor()
        guardrail = _object(body.get("guardrailConfig"))
        tier = _object(body.get("serviceTier"))
        inference = _object(body.get("inferenceConfig"))
        max_tokens = inference.get("maxTokens")
        return _AskedFor(
            guardrail_identifier=_str_or_none(guardrail.get("guardrailIdentifier")),
            guardrail_version=_str_or_none(guardrail.get("guardrailVersion")),
            guardrail_trace=guardrail.get("trace") in ("enabled", "enabled_full"),
            service_tier=_str_or_none(tier.get("type")),
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        )
    headers = request.headers
    return _AskedFor(
        guardrail_identifier=headers.get("X-Amzn-Bedrock-GuardrailIdentifier"),
        guardrail_version=headers.get("X-Amzn-Bedrock-GuardrailVersion"),
        guardrail_trace=headers.get("X-Amzn-Bedrock-Trace") in ("ENABLED", "ENABLED_FULL"),
        service_tier=headers.get("X-Amzn-Bedrock-Service-Tier"),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _known_model(model_id: str) -> str | None:
    """The foundation model behind ``model_id`` if the catalogue knows it."""
    return foundation_model_id(model_id) if model_features(model_id) is not None else None


def _authenticated(identity: CallerIdentity | None) -> CallerIdentity:
    """The caller, or the error Bedrock gives an unknown or expired credential."""
    if identity is None:
        raise BedrockError(
            "UnrecognizedClientException",
            403,
            "The security token included in the request is invalid.",
        )
    if identity.expired():
        raise BedrockError(
            "ExpiredTokenException",
            403,
            "The security token included in the request is expired",
        )
    return identity


def _action(caller: CallerIdentity, operation: RuntimeOperation) -> str:
    """The IAM action that authorizes ``operation``; an operation without one is
    refused for every caller (fail closed)."""
    rule = operation.authorization
    if rule is None:
        raise BedrockError(
            "AccessDeniedException",
            403,
            f"User: {caller.arn} is not authorized to call {operation.name}: the embedded "
            "cloud does not know which IAM action authorizes it, so it refuses every caller",
        )
    return rule.action


def _authorize(
    caller: CallerIdentity,
    action: str,
    resources: Sequence[tuple[str, Mapping[str, str]]],
    region: str,
) -> None:
    """Raise AccessDeniedException unless the caller's identity policies allow
    ``action`` on every resource (each with its extra condition context)."""
    documents = identity_policies(caller)
    base_context = {
        "aws:RequestedRegion": region,
        "aws:PrincipalArn": caller.principal_arn,
        "aws:PrincipalAccount": caller.account_id,
    }
    for resource, extra in resources:
        context = {**base_context, **extra}
        verdict = evaluate(documents, PolicyRequest(action, resource, caller.principal, context))
        if verdict.decision is not Decision.ALLOW:
            kind = (
                "an explicit deny in an identity-based policy"
                if verdict.decision is Decision.EXPLICIT_DENY
                else f"no identity-based policy allows the {action} action"
            )
            raise BedrockError(
                "AccessDeniedException",
                403,
                f"User: {caller.arn} is not authorized to perform: {action} on resource: "
                f"{resource} because {kind}",
            )


def _family(target: _ModelTarget) -> invoke_model.ModelFamily:
    """The native body format of the model a call reaches, or Bedrock's refusal."""
    try:
        return invoke_model.family_of(_foundation(target))
    except invoke_model.NativeBodyError as err:
        raise BedrockError("ValidationException", 400, err.message) from None


def _native_body(raw: bytes | str) -> dict[str, Any]:
    try:
        return invoke_model.parse_body(raw)
    except invoke_model.NativeBodyError as err:
        raise BedrockError("ValidationException", 400, err.message) from None


def _native_conversation(
    target: _ModelTarget, native: Mapping[str, Any], *, streaming: bool
) -> dict[str, Any]:
    """The Converse request a native body asks for, checked as Converse checks it."""
    try:
        conversation = invoke_model.converse_request(_family(target), native)
    except invoke_model.NativeBodyError as err:
        raise BedrockError("ValidationException", 400, err.message) from None
    _check_conversation(conversation, model_id=_foundation(target), streaming=streaming)
    return conversation


def _converse_body(raw: bytes, target: _ModelTarget, *, streaming: bool) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise BedrockError("ValidationException", 400, "Malformed input request.") from None
    _check_conversation(body, model_id=_foundation(target), streaming=streaming)
    return dict(body)


def _foundation(target: _ModelTarget) -> str:
    """The catalogue's id of the model a call reaches (an unknown one was refused before)."""
    assert target.foundation_model_id is not None
    return target.foundation_model_id


def _request_metadata(operation: str, request: Request, raw: bytes) -> dict[str, str] | None:
    """``requestMetadata``: in a Converse body, in a header of InvokeModel. Read before
    the call is authorized, so a refused call is logged with it too."""
    try:
        if operation in (CONVERSE, CONVERSE_STREAM):
            body = json.loads(raw or b"{}")
            metadata = body.get("requestMetadata") if isinstance(body, dict) else None
        else:
            metadata = json.loads(request.headers.get("X-Amzn-Bedrock-Request-Metadata") or "null")
    except ValueError:
        return None
    return dict(metadata) if isinstance(metadata, dict) else None


def _blob(value: Any) -> bytes:
    """A blob member of a JSON body: base64 as botocore sends it, or the text itself."""
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        return value.encode()


def _body_field(request: Request, name: str) -> str | None:
    """A string field of a JSON body, or None (a body that is no JSON object has none)."""
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _check_conversation(body: Any, *, model_id: str, streaming: bool = False) -> None:
    """Bedrock's error (a ValidationException, mostly) for a conversation it would not
    accept from ``model_id``; ``streaming`` for the streaming operations."""
    try:
        converse.check_request(body, model_id=model_id, streaming=streaming)
    except converse.ConverseValidationError as err:
        raise BedrockError(err.code, err.status, err.message) from None


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _raw_path(request: Request) -> str:
    """The path as sent, before percent-decoding: model ARNs contain encoded slashes."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        return raw.split("?", 1)[0]
    return str(request.path)
