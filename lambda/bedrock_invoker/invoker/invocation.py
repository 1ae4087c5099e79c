"""One invocation, end to end: validate, call Bedrock, log usage, answer.

``BedrockInvoker`` is built once per container and holds everything worth
reusing between invocations: the operations-account credentials and clients,
the cached models and the usage sink. Building it makes no network call, so the
handler builds it during init, which SnapStart then snapshots;
``after_restore`` drops what must not be shared between restored environments.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import random
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from bedrock_tenant_client.call_rules import resolve_max_tokens
from bedrock_tenant_client.chat import BedrockChat
from bedrock_tenant_client.credentials import Clock, OpsCredentials, create_ops_session, utc_now
from bedrock_tenant_client.outcome import BedrockAnswer, CallTimer, Failure
from bedrock_tenant_client.usage.record import CallIdentity, UsageRecorder
from bedrock_tenant_client.usage.writer import (
    URGENT_WRITE_MAX_CALLS,
    RecordSink,
    StdoutUsageSink,
    UsageLogWriter,
)
from botocore.config import Config
from langchain_core.messages import AIMessage

from contracts.pricing import Pricing
from contracts.usage_metrics import DimensionValues
from contracts.usage_record import UsageSink
from invoker.callback import UsageCallback
from invoker.event import (
    InvalidRequestError,
    InvocationRequest,
    parse_request,
    resolve_application,
    resolve_model,
    resolve_service_tier,
    to_langchain_messages,
)
from invoker.settings import Settings
from invoker.timeout_watchdog import Alarm, TimeoutWatchdog

# Plain logging: handler.py hands these loggers the Powertools JSON formatter.
logger = logging.getLogger(__name__)

Result = dict[str, Any]

FUNCTION_TIMEOUT = "FunctionTimeout"
# The watchdog's provisional record, written while the call may still end in time.
TIMEOUT_PENDING = Failure(FUNCTION_TIMEOUT, "the function timed out waiting for Bedrock")
# The final word on a call given up at the deadline, for the record and the caller.
TIMED_OUT = Failure(FUNCTION_TIMEOUT, "Bedrock did not answer before the function's timeout")

# PutLogEvents sits on the answer's path: a few quick attempts, then stdout.
LOGS_MAX_ATTEMPTS = 3
LOGS_CONNECT_TIMEOUT_S = 2
LOGS_READ_TIMEOUT_S = 5
_LOGS_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": LOGS_MAX_ATTEMPTS},
    connect_timeout=LOGS_CONNECT_TIMEOUT_S,
    read_timeout=LOGS_READ_TIMEOUT_S,
)
# The longest one call can take on each client; a write bounded by the function's
# remaining time uses a client only while this much time is left (writer.py).
LOGS_CALL_WORST_CASE_MS = LOGS_MAX_ATTEMPTS * (LOGS_CONNECT_TIMEOUT_S + LOGS_READ_TIMEOUT_S) * 1000

# The watchdog's record has its own fast path: one attempt, short timeouts.
URGENT_LOGS_MAX_ATTEMPTS = 1
URGENT_LOGS_CONNECT_TIMEOUT_S = 1
URGENT_LOGS_READ_TIMEOUT_S = 1
_URGENT_LOGS_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": URGENT_LOGS_MAX_ATTEMPTS},
    connect_timeout=URGENT_LOGS_CONNECT_TIMEOUT_S,
    read_timeout=URGENT_LOGS_READ_TIMEOUT_S,
)

# Time kept back from the function timeout to write a record for a call still
# running. The urgent write is over, delivered or failed, within
#   URGENT_WRITE_MAX_CALLS (2: CreateLogStream if this container has not used the
#   stream yet, then PutLogEvents; no recreate-and-retry)
#   x URGENT_LOGS_MAX_ATTEMPTS (1)
#   x (URGENT_LOGS_CONNECT_TIMEOUT_S (1 s) + URGENT_LOGS_READ_TIMEOUT_S (1 s))
#   = 4 s,
# which leaves 1 s of the 5 s margin for building the record and, if the write
# failed, printing it to stdout (milliseconds). (The ordinary logs client could
# take 3 x (2 s + 5 s) = 21 s.) Limits: botocore bounds each connect and each socket
# read, not DNS resolution nor a peer trickling bytes; neither is a normal failure.
# A bigger margin costs nothing but more provisional records: the call keeps
# running and its real record still follows (``supersedes``).
TIMEOUT_RECORD_MARGIN_MS = 5000
URGENT_LOGS_CALL_WORST_CASE_MS = (
    URGENT_LOGS_MAX_ATTEMPTS * (URGENT_LOGS_CONNECT_TIMEOUT_S + URGENT_LOGS_READ_TIMEOUT_S) * 1000
)
URGENT_WRITE_WORST_CASE_MS = (
    URGENT_WRITE_MAX_CALLS * URGENT_LOGS_CALL_WORST_CASE_MS
)  # the unit tests hold this below TIMEOUT_RECORD_MARGIN_MS


# How long before the function's end a model call still running is given up: after
# the watchdog's record (TIMEOUT_RECORD_MARGIN_MS), with time left to write the
# final record on the urgent path (one call, 2 s: the watchdog created the stream)
# plus the writer's 1 s reserve, and to answer. Less, and the record goes to stdout.
DEADLINE_MARGIN_MS = 4000


# The environment's one watchdog thread, shared by every invoker the process builds
# (the handler builds one; a thread per invoker would never end, as it holds it).
_WATCHDOG = TimeoutWatchdog()


class _ModelOutlivedTheFunction(Exception):
    """The model call did not end before the function's deadline."""


def error_result(failure: Failure) -> Result:
    """The result shape for any refused or failed invocation."""
    return {"error": {"type": failure.error_type, "message": failure.message}}


def answer_result(answer: BedrockAnswer, *, model_id: str) -> Result:
    """The result shape for an answer: the same figures as its usage record."""
    return {
        "output": answer.text,
        "usage": {
            "input_tokens": answer.usage.input_tokens,
            "output_tokens": answer.usage.output_tokens,
            "total_tokens": answer.usage.total_tokens,
        },
        "model_id": model_id,
        "latency_ms": answer.latency_ms,
        "request_id": answer.request_id,
    }


class BedrockInvoker:
    """Answers events with Bedrock in the operations account; logs usage in the tenant's."""

    def __init__(
        self,
        settings: Settings,
        *,
        chat: BedrockChat,
        writer: RecordSink,
        ops_credentials: OpsCredentials | None = None,
    ) -> None:
        """``writer`` is the usage sink; ``ops_credentials`` are dropped by ``after_restore``."""
        self._settings = settings
        self._chat = chat
        self._writer = writer
        # Bedrock's region sets the price; the registry's overrides replace the table's.
        self._pricing = Pricing(region=settings.bedrock_region, overrides=settings.price_overrides)
        # The metric dimension values the registry allows: a caller cannot add any.
        self._dimensions = DimensionValues(
            models=settings.allowed_models, applications=settings.applications
        )
        self._ops_credentials = ops_credentials
        # Model calls run here so a call can be given up at the deadline; a Lambda
        # environment serves one invocation at a time, the spare workers are for
        # calls given up and still running.
        self._model_calls = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="model-call"
        )
        # Writes a provisional timeout record for a call about to be cut off.
        self._watchdog = _WATCHDOG

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        source_session: botocore.session.Session | None = None,
        clock: Clock = utc_now,
        credential_cache: dict[str, Any] | None = None,
    ) -> BedrockInvoker:
        """Wire the container: ops credentials for Bedrock, the tenant's usage sink.

        ``source_session`` is the Lambda's own botocore session (default: from the
        environment). ``clock`` drives credential refresh; tests move it forward,
        with a ``credential_cache`` that never hits (see ``create_ops_session``).
        No network call is made here: AssumeRole waits for the first model call.
        """
        source = source_session or botocore.session.get_session()
        ops_session = create_ops_session(
            role_arn=settings.ops_role_arn,
            external_id=settings.ops_external_id,
            tenant_id=settings.tenant_id,
            source_session=source,
            clock=clock,
            credential_cache=credential_cache,
        )
        chat = BedrockChat.for_tenant(settings, ops_session)
        writer = usage_sink_for(settings, source)
        credentials = ops_session.get_credentials()
        return cls(
            settings,
            chat=chat,
            writer=writer,
            ops_credentials=credentials if isinstance(credentials, OpsCredentials) else None,
        )

    def after_restore(self) -> None:
        """Make a restored snapshot this environment's own (a SnapStart runtime hook).

        Every environment restored from one snapshot starts with the same memory:
        any operations-account credentials in it (none, unless something used
        them during init) and profile ARNs read with them are dropped, so the
        first call assumes the role anew,
        and ``random``, which botocore's retry jitter draws from, is reseeded
        from the OS so restored environments do not back off in lockstep.
        """
        if self._ops_credentials is not None:
            self._ops_credentials.drop()
        self._chat.forget_inference_profiles()
        random.seed()

    def handle(
        self,
        event: Any,
        *,
        remaining_time_ms: Callable[[], int] | None = None,
        invocation_id: str | None = None,
    ) -> Result:
        """Answer one event. Never raises for bad input or a failed model call.

        ``remaining_time_ms`` (the Lambda context's) lets a call that is about to be
        cut off by the function timeout still leave its usage record.
        ``invocation_id`` (the context's ``aws_request_id``) goes into every record.
        """
        try:
            request = parse_request(event)
        except InvalidRequestError as error:
            return error_result(Failure.from_exception(error))

        model_id = request.model_id or self._settings.default_model_id
        timer = CallTimer()
        recorder = UsageRecorder(
            writer=self._writer,
            identity=CallIdentity(
                tenant_id=self._settings.tenant_id,
                application_id=request.application_id,
                user_id=request.user_id,
                model_id=model_id,
                # The tier asked for, so a refused or throttled call says which.
                service_tier=(request.service_tier or self._settings.service_tiers[0]).value,
                guarded=self._settings.guardrail is not None,
            ),
            timer=timer,
            dimensions=self._dimensions,
            log_content=self._settings.log_content,
            invocation_id=invocation_id,
            remaining_ms=remaining_time_ms,
            pricing=self._pricing,
        )
        try:
            resolve_application(request.application_id, applications=self._settings.applications)
            resolve_model(model_id, allowed_models=self._settings.allowed_models)
            request = request.model_copy(
                update={
                    "max_tokens": resolve_max_tokens(
                        request.max_tokens, model_id=model_id, cap=self._settings.max_tokens
                    ),
                    "service_tier": resolve_service_tier(
                        request.service_tier, allowed_tiers=self._settings.service_tiers
                    ),
                }
            )
        except InvalidRequestError as error:
            # Refused before any call, but still the tenant's business: keep a record.
            refusal = Failure.from_exception(error)
            recorder.failed(refusal)
            logger.info("call refused", extra={"model_id": model_id, "field": error.field})
            return error_result(refusal)

        outcome = self._call_model(model_id, request, recorder, timer, remaining_time_ms)
        if isinstance(outcome, Failure):
            recorder.failed(outcome)
            return error_result(outcome)
        recorder.succeeded(outcome)
        # DEBUG: the usage record already says all of this for every call, and a record
        # not delivered logs its own warning; an INFO line would be a second per-call
        # log event to ingest (and 30-40 µs of formatting on the answer's path).
        logger.debug(
            "model call succeeded",
            extra={
                "model_id": model_id,
                "application_id": request.application_id,
                "latency_ms": outcome.latency_ms,
                "usage_delivery": recorder.delivery,
            },
        )
        return answer_result(outcome, model_id=model_id)

    def _call_model(
        self,
        model_id: str,
        request: InvocationRequest,
        recorder: UsageRecorder,
        timer: CallTimer,
        remaining_time_ms: Callable[[], int] | None,
    ) -> BedrockAnswer | Failure:
        """The call's outcome, read once; the timeout watchdog runs while it lasts.

        A call still running at the deadline ends as ``TIMED_OUT``: its record
        supersedes the watchdog's provisional one. Should the call end later in a
        thawed container, its callback only stops the clock; nothing is recorded twice.
        """
        alarm = self._arm_timeout_record(recorder, remaining_time_ms)
        try:
            message = self._converse_by_deadline(
                model_id,
                request,
                UsageCallback(recorder, timer),
                remaining_time_ms,
            )
            return BedrockAnswer.from_message(message, latency_ms=timer.elapsed_ms())
        except _ModelOutlivedTheFunction:
            logger.warning("model call outlived the function", extra={"model_id": model_id})
            return TIMED_OUT
        except Exception as error:
            failure = Failure.from_exception(error)
            logger.warning(
                "model call failed",
                extra={"model_id": model_id, "error_type": failure.error_type},
            )
            return failure
        finally:
            # A watchdog that already fired is not waited for: its provisional record
            # and the real one are written independently, matched by invocation_id.
            if alarm is not None:
                self._watchdog.disarm(alarm)

    def _arm_timeout_record(
        self, recorder: UsageRecorder, remaining_time_ms: Callable[[], int] | None
    ) -> Alarm | None:
        """Write a provisional timeout record shortly before Lambda would kill the call.

        Lambda gives no chance to log after its timeout; without this, a call that
        outlives the function would leave no usage record at all. Should the call end
        within the margin after all, its real record still follows and supersedes it.
        """
        if remaining_time_ms is None:
            return None
        delay = max(0.0, (remaining_time_ms() - TIMEOUT_RECORD_MARGIN_MS) / 1000)
        return self._watchdog.arm(delay, lambda: recorder.provisional_failure(TIMEOUT_PENDING))

    def _converse_by_deadline(
        self,
        model_id: str,
        request: InvocationRequest,
        callback: UsageCallback,
        remaining_time_ms: Callable[[], int] | None,
    ) -> AIMessage:
        """The model's answer, or _ModelOutlivedTheFunction shortly before the timeout.

        Bedrock reads may take minutes (botocore's read timeout is 300 s), far past
        a function timeout; without a deadline Lambda would kill the call and the
        caller would get a bare timeout. The call runs on a worker thread and is
        waited for until DEADLINE_MARGIN_MS before the function's end, which leaves
        the time to write the final record and answer.
        """
        call = functools.partial(
            self._chat.converse,
            model_id,
            to_langchain_messages(request),
            callbacks=[callback],
            max_tokens=request.max_tokens,
            service_tier=request.service_tier.value if request.service_tier else None,
            temperature=request.temperature,
        )
        if remaining_time_ms is None:
            return call()
        future = self._model_calls.submit(call)
        wait_s = max(0.0, (remaining_time_ms() - DEADLINE_MARGIN_MS) / 1000)
        try:
            return future.result(timeout=wait_s)
        except concurrent.futures.TimeoutError:
            if future.done():  # answered in the last instant after all
                return future.result()
            raise _ModelOutlivedTheFunction() from None


def usage_sink_for(settings: Settings, source: botocore.session.Session) -> RecordSink:
    """The tenant's usage sink: PutLogEvents (``api``) or one printed line (``stdout``).

    Only the ``api`` sink has logs clients; they are on ``source``, the Lambda's
    own credentials, never the operations session: the records belong here.
    """
    if settings.usage_sink is UsageSink.STDOUT:
        return StdoutUsageSink(max_record_bytes=settings.usage_log_max_record_bytes)
    own = boto3.Session(botocore_session=source)
    return UsageLogWriter(
        logs_client=own.client("logs", config=_LOGS_CLIENT_CONFIG),
        urgent_logs_client=own.client("logs", config=_URGENT_LOGS_CLIENT_CONFIG),
        call_worst_case_ms=LOGS_CALL_WORST_CASE_MS,
        urgent_call_worst_case_ms=URGENT_LOGS_CALL_WORST_CASE_MS,
        log_group=settings.usage_log_group,
        max_record_bytes=settings.usage_log_max_record_bytes,
    )
