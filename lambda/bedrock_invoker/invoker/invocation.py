"""One invocation, end to end: validate, call Bedrock, log usage, answer.

``BedrockInvoker`` is built once per container and holds everything worth
reusing between invocations: the operations-account credentials and clients,
the cached models and the usage log writer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from invoker.chat import BedrockChat, describe_model_error
from invoker.event import InvalidRequestError, parse_request, resolve_model
from invoker.ops_credentials import Clock, create_ops_session, utc_now
from invoker.settings import Settings
from invoker.usage_logger import CallIdentity, UsageLogger, UsageLogWriter

# Plain logging: handler.py hands these loggers the Powertools JSON formatter.
logger = logging.getLogger(__name__)

Result = dict[str, Any]

# Time kept back from the function timeout to write a record for a call still
# running: one PutLogEvents round trip with its retries, comfortably.
TIMEOUT_RECORD_MARGIN_MS = 2500

# PutLogEvents sits on the answer's path: a few quick attempts, then stdout.
_LOGS_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=5
)


def error_result(error_type: str, message: str) -> Result:
    """The result shape for any refused or failed invocation."""
    return {"error": {"type": error_type, "message": message}}


def _start_timeout_watchdog(
    usage_logger: UsageLogger, remaining_time_ms: Callable[[], int] | None
) -> threading.Timer | None:
    """Write a timeout record shortly before Lambda would kill a still-running call.

    Lambda gives no chance to log after its timeout; without this, a call that
    outlives the function would leave no usage record at all.
    """
    if remaining_time_ms is None:
        return None
    delay = max(0.0, (remaining_time_ms() - TIMEOUT_RECORD_MARGIN_MS) / 1000)
    timer = threading.Timer(
        delay,
        usage_logger.record_failure,
        args=("FunctionTimeout", "the function timed out waiting for Bedrock"),
        kwargs={"request_id": None},
    )
    timer.daemon = True
    timer.start()
    return timer


class BedrockInvoker:
    """Answers events with Bedrock in the operations account; logs usage in the tenant's."""

    def __init__(self, settings: Settings, *, chat: BedrockChat, writer: UsageLogWriter) -> None:
        self._settings = settings
        self._chat = chat
        self._writer = writer

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        source_session: botocore.session.Session | None = None,
        clock: Clock = utc_now,
    ) -> BedrockInvoker:
        """Wire the container: ops credentials for Bedrock, own credentials for logs.

        ``source_session`` is the Lambda's own botocore session (default: from the
        environment). ``clock`` drives credential refresh; tests move it forward.
        """
        source = source_session or botocore.session.get_session()
        ops_session = create_ops_session(
            role_arn=settings.ops_role_arn,
            external_id=settings.ops_external_id,
            tenant_id=settings.tenant_id,
            source_session=source,
            clock=clock,
        )
        chat = BedrockChat.from_session(
            ops_session,
            region_name=settings.bedrock_region,
            max_attempts=settings.bedrock_max_attempts,
        )
        # The Lambda's own credentials, never ops_session: the records belong here.
        logs_client = boto3.Session(botocore_session=source).client(
            "logs", config=_LOGS_CLIENT_CONFIG
        )
        writer = UsageLogWriter(
            logs_client=logs_client,
            log_group=settings.usage_log_group,
            max_record_bytes=settings.usage_log_max_record_bytes,
        )
        return cls(settings, chat=chat, writer=writer)

    @property
    def chat(self) -> BedrockChat:
        """The container's model cache and bedrock-runtime client."""
        return self._chat

    def handle(self, event: Any, *, remaining_time_ms: Callable[[], int] | None = None) -> Result:
        """Answer one event. Never raises for bad input or a failed model call.

        ``remaining_time_ms`` (the Lambda context's) lets a call that is about to be
        cut off by the function timeout still leave its usage record.
        """
        try:
            request = parse_request(event)
        except InvalidRequestError as error:
            return error_result(error.error_type, str(error))

        model_id = request.model_id or self._settings.default_model_id
        usage_logger = UsageLogger(
            writer=self._writer,
            identity=CallIdentity(
                tenant_id=self._settings.tenant_id,
                application_id=request.application_id,
                user_id=request.user_id,
                model_id=model_id,
            ),
            log_content=self._settings.log_content,
        )
        try:
            resolve_model(model_id, allowed_models=self._settings.allowed_models)
        except InvalidRequestError as error:
            # Refused before any call, but still the tenant's business: keep a record.
            usage_logger.record_failure(error.error_type, str(error), request_id=None)
            logger.info("model refused", extra={"model_id": model_id})
            return error_result(error.error_type, str(error))

        started = time.monotonic()
        watchdog = _start_timeout_watchdog(usage_logger, remaining_time_ms)
        try:
            answer = self._chat.converse(model_id, request, callbacks=[usage_logger])
        except Exception as error:
            error_type, message = describe_model_error(error)
            # LangChain reports most failures through on_llm_error; this covers the rest.
            usage_logger.record_error(error)
            logger.warning(
                "model call failed", extra={"model_id": model_id, "error_type": error_type}
            )
            return error_result(error_type, message)
        finally:
            if watchdog is not None:
                watchdog.cancel()

        usage_logger.record_success(answer)  # no-op when the callback already did it
        record = usage_logger.record or {}
        latency_ms = record.get("latency_ms")
        if latency_ms is None:
            latency_ms = round((time.monotonic() - started) * 1000)
        logger.info(
            "model call succeeded",
            extra={
                "model_id": model_id,
                "application_id": request.application_id,
                "latency_ms": latency_ms,
                "usage_delivery": usage_logger.delivery,
            },
        )
        return {
            "output": answer.text,
            "usage": {
                "input_tokens": record.get("input_tokens", 0),
                "output_tokens": record.get("output_tokens", 0),
                "total_tokens": record.get("total_tokens", 0),
            },
            "model_id": model_id,
            "latency_ms": latency_ms,
            "request_id": record.get("request_id"),
        }
