"""Bedrock runtime emulator: Converse, ConverseStream and CountTokens for the embedded cloud.

moto's bedrock-runtime has no Converse, and no CountTokens (it answers HTTP 500
with an HTML page), so the embedded cloud answers ``POST
/model/{modelId}/converse``, ``/converse-stream`` and ``/count-tokens`` itself:

* answers are deterministic: the same model and conversation always get the
  same text, and ``usage`` counts tokens from the request and answer text
  (``embedded_aws.bedrock_answers``); ``metrics.latencyMs`` is the time the
  emulator spent including injected latency;
* prompt caching is emulated: text before a ``cachePoint`` block is written to
  a per-account cache on first use and read from it afterwards;
* every call is attributed to the account and role session behind its SigV4
  access key and kept in an in-memory call log; no prompt or answer text is
  stored there, mirroring an operations account with invocation logging off;
* the caller's identity policies must allow ``bedrock:InvokeModel`` (Converse),
  ``bedrock:InvokeModelWithResponseStream`` (ConverseStream) or
  ``bedrock:CountTokens`` (CountTokens) on the model ARN, and for a
  cross-region inference profile on the profile ARN and the foundation model in
  every destination region, as Bedrock requires;
* application inference profiles (made by CloudFormation deploys, see
  ``embedded_aws.moto_patches.bedrock``) are accepted as model id: the call
  resolves to the profile's base model and is checked on the profile ARN plus
  the foundation models it routes to, with ``bedrock:InferenceProfileArn`` set, the resources
  ``contracts.model_access`` grants;
* CountTokens answers ``{"inputTokens": N}`` for Converse-shaped input, N
  counted as Converse counts its input tokens; InvokeModel-shaped input is
  refused with a ValidationException. It is not a model call: it is not in the
  call log and injected faults do not apply to it;
* faults (throttling, latency, arbitrary errors) can be injected per test or
  over the JSON admin endpoint.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from contracts import naming
from contracts.model_access import (
    APPLICATION_PROFILE_ARN_RE,
    application_profile_arn,
    default_profile_regions,
    model_id_of_source_arn,
    resources_needed,
)
from embedded_aws import converse
from embedded_aws.bedrock_answers import converse_stream_events
from embedded_aws.iam_policy import Decision, evaluate
from embedded_aws.iam_policy import Request as PolicyRequest
from embedded_aws.identity import (
    CallerIdentity,
    identity_policies,
    parse_authorization,
    resolve_access_key,
)

CONVERSE = "Converse"
CONVERSE_STREAM = "ConverseStream"
COUNT_TOKENS = "CountTokens"
_ACTIONS = {
    CONVERSE: "bedrock:InvokeModel",
    CONVERSE_STREAM: "bedrock:InvokeModelWithResponseStream",
    COUNT_TOKENS: "bedrock:CountTokens",
}
_OPERATIONS = {
    "converse": CONVERSE,
    "converse-stream": CONVERSE_STREAM,
    "count-tokens": COUNT_TOKENS,
}
_PATH_RE = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|count-tokens)/?$")


class BedrockError(Exception):
    """An error Bedrock returns as JSON ``{"message": ...}`` with ``x-amzn-ErrorType``."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


@dataclass
class BedrockCall:
    """One Converse/ConverseStream call as the operations account would see it."""

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
    outcome: str  # "success" or the error code returned
    http_status: int
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    # The model behind an application inference profile named as ``model_id``.
    base_model_id: str | None = None
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
    """An injected failure for the next ``remaining`` matching calls."""

    code: str
    status: int
    message: str
    remaining: int
    account_id: str | None = None
    model_id: str | None = None

    def matches(self, account_id: str | None, model_id: str) -> bool:
        """Does this fault apply to a call from ``account_id`` to ``model_id``?"""
        return (
            self.remaining > 0
            and (self.account_id is None or self.account_id == account_id)
            and (self.model_id is None or self.model_id == model_id)
        )


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
    """Answers Converse/ConverseStream requests; keeps the call log and the fault plan.

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

    def _application_profile(self, model_id: str, region: str) -> ApplicationInferenceProfile:
        with self._lock:
            profile = self._application_profiles.get(model_id)
        if profile is None or profile.region != region:
            raise BedrockError(
                "ValidationException", 400, "The provided model identifier is invalid."
            )
        return profile

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

    def set_latency(self, latency_ms: int) -> None:
        """Add ``latency_ms`` to every call from now on (0 turns it off)."""
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

    def _take_fault(self, account_id: str | None, model_id: str) -> tuple[Fault | None, int]:
        with self._lock:
            for fault in self._faults.faults:
                if fault.matches(account_id, model_id):
                    fault.remaining -= 1
                    return fault, self._faults.latency_ms
            return None, self._faults.latency_ms

    # -- runtime API ----------------------------------------------------------------------

    @staticmethod
    def matches(request: Request) -> bool:
        """Is this a Converse, ConverseStream or CountTokens request (path and SigV4
        service ``bedrock``)?"""
        scope = parse_authorization(request.headers.get("Authorization"))
        return (
            request.method == "POST"
            and scope is not None
            and scope.service == "bedrock"
            and _PATH_RE.match(_raw_path(request)) is not None
        )

    def handle(self, request: Request) -> Response:
        """Serve one Converse, ConverseStream or CountTokens request."""
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        match = _PATH_RE.match(_raw_path(request))
        assert match is not None  # matches() was checked by the dispatcher
        model_id = unquote(match.group("model"))
        operation = _OPERATIONS[match.group("op")]
        scope = parse_authorization(request.headers.get("Authorization"))
        region = scope.region if scope else "us-east-1"
        identity = resolve_access_key(scope.access_key_id) if scope else None
        if operation == COUNT_TOKENS:
            return self._count_tokens(request, identity, model_id, region, request_id)
        call = BedrockCall(
            request_id=request_id,
            timestamp=datetime.now(UTC).isoformat(),
            operation=operation,
            model_id=model_id,
            region=region,
            account_id=identity.account_id if identity else None,
            principal_arn=identity.arn if identity else None,
            role_arn=identity.role_arn if identity else None,
            session_name=identity.session_name if identity else None,
            request_metadata=None,
            access_key_id=scope.access_key_id if scope else None,
            outcome="success",
            http_status=200,
        )
        try:
            body = self._parse_body(request)
            call.body = body
            metadata = body.get("requestMetadata")
            call.request_metadata = dict(metadata) if isinstance(metadata, dict) else None
            call.base_model_id = self._authorize(identity, operation, model_id, region)
            hold = self._faults.hold
            if hold is not None:
                hold.wait(timeout=HOLD_SAFETY_SECONDS)
            fault, latency_ms = self._take_fault(call.account_id, model_id)
            if latency_ms:
                time.sleep(latency_ms / 1000)
            if fault is not None:
                raise BedrockError(fault.code, fault.status, fault.message)
            result = self._answer(call, call.base_model_id or model_id, body, started)
        except BedrockError as err:
            call.outcome, call.http_status = err.code, err.status
            call.latency_ms = int((time.perf_counter() - started) * 1000)
            self._log(call)
            return _error_response(err, request_id)
        call.input_tokens = result["usage"]["inputTokens"]
        call.output_tokens = result["usage"]["outputTokens"]
        call.latency_ms = result["metrics"]["latencyMs"]
        self._log(call)
        if operation == CONVERSE:
            return Response(
                json.dumps(result),
                headers={"Content-Type": "application/json", "x-amzn-RequestId": request_id},
            )
        return Response(
            converse_stream_events(result),
            headers={
                "Content-Type": "application/vnd.amazon.eventstream",
                "x-amzn-RequestId": request_id,
            },
        )

    def _count_tokens(
        self,
        request: Request,
        identity: CallerIdentity | None,
        model_id: str,
        region: str,
        request_id: str,
    ) -> Response:
        """CountTokens: held to IAM as ``bedrock:CountTokens``, counted as Converse counts."""
        try:
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                raise BedrockError("ValidationException", 400, "Malformed input request.") from None
            given = body.get("input") if isinstance(body, dict) else None
            if not isinstance(given, dict) or not given:
                raise BedrockError(
                    "ValidationException", 400, "1 validation error detected: input is required"
                )
            self._authorize(identity, COUNT_TOKENS, model_id, region)
            conversation = given.get("converse")
            if not isinstance(conversation, dict):
                raise BedrockError(
                    "ValidationException",
                    400,
                    "The embedded cloud counts the tokens of Converse input only "
                    "(input.converse); InvokeModel input is not supported.",
                )
            _check_conversation(conversation)
        except BedrockError as err:
            return _error_response(err, request_id)
        return Response(
            json.dumps({"inputTokens": converse.input_tokens(conversation)}),
            headers={"Content-Type": "application/json", "x-amzn-RequestId": request_id},
        )

    def _log(self, call: BedrockCall) -> None:
        with self._lock:
            self._calls.append(call)

    @staticmethod
    def _parse_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise BedrockError("ValidationException", 400, "Malformed input request.") from None
        _check_conversation(body)
        return dict(body)

    def _resources(
        self, identity: CallerIdentity, model_id: str, region: str
    ) -> tuple[list[tuple[str, dict[str, str]]], str | None]:
        """What the call is checked on, and the base model of an application profile."""
        if not APPLICATION_PROFILE_ARN_RE.fullmatch(model_id):
            resources = required_resources(
                model_id, region, identity.account_id, self._profile_regions
            )
            return resources, None
        profile = self._application_profile(model_id, region)
        needs = resources_needed(
            profile.model_id,
            partition=naming.partition_for_region(region),
            region=region,
            account=profile.account_id,
            profile_regions=default_profile_regions(self._profile_regions),
            application_profile=profile.arn,
        )
        return [(need.arn, need.context) for need in needs], profile.model_id

    def _authorize(
        self, identity: CallerIdentity | None, operation: str, model_id: str, region: str
    ) -> str | None:
        """Raise unless the caller may make this call; the base model of a profile call."""
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
        action = _ACTIONS[operation]
        documents = identity_policies(identity)
        base_context = {
            "aws:RequestedRegion": region,
            "aws:PrincipalArn": identity.principal_arn,
            "aws:PrincipalAccount": identity.account_id,
        }
        resources, base_model_id = self._resources(identity, model_id, region)
        for resource, extra in resources:
            context = {**base_context, **extra}
            verdict = evaluate(
                documents, PolicyRequest(action, resource, identity.principal, context)
            )
            if verdict.decision is not Decision.ALLOW:
                kind = (
                    "an explicit deny in an identity-based policy"
                    if verdict.decision is Decision.EXPLICIT_DENY
                    else f"no identity-based policy allows the {action} action"
                )
                raise BedrockError(
                    "AccessDeniedException",
                    403,
                    f"User: {identity.arn} is not authorized to perform: {action} on resource: "
                    f"{resource} because {kind}",
                )
        return base_model_id

    def _answer(
        self, call: BedrockCall, model_id: str, body: Mapping[str, Any], started: float
    ) -> dict[str, Any]:
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
        if subpath == "faults":
            if request.method == "DELETE":
                self.clear_faults()
                return _json(self.fault_state())
            if request.method == "POST":
                return self._admin_post_faults(request)
            return _json(self.fault_state())
        return _json({"message": f"unknown admin path {subpath}"}, status=404)

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
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"message": f"bad fault spec: {exc}"}, status=400)
        return _json(self.fault_state())


def _check_conversation(body: Any) -> None:
    """Bedrock's ValidationException for a conversation it would not accept."""
    try:
        converse.check_request(body)
    except converse.ConverseValidationError as err:
        raise BedrockError("ValidationException", 400, err.message) from None


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _raw_path(request: Request) -> str:
    """The path as sent, before percent-decoding: model ARNs contain encoded slashes."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        return raw.split("?", 1)[0]
    return str(request.path)
