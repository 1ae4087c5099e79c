"""Lambda entry point of the tenant's Bedrock invoker: parse, invoke, respond.

Settings are validated at import (cold start), so a misconfigured function fails
to initialise instead of failing every call. Everything else lives in ``invoker``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from invoker.invocation import BedrockInvoker, error_result
from invoker.settings import Settings

SETTINGS = Settings.from_env()

logger = Logger()
logger.append_keys(tenant_id=SETTINGS.tenant_id)
# The invoker modules log through plain ``logging``; give them the same JSON output.
copy_config_to_registered_loggers(source_logger=logger, include={"invoker"})

# Built on the first invocation and reused while the container stays warm.
_invoker: BedrockInvoker | None = None


def _container_invoker() -> BedrockInvoker:
    global _invoker
    if _invoker is None:
        _invoker = BedrockInvoker.from_settings(SETTINGS)
    return _invoker


@logger.inject_lambda_context(log_event=False)  # events carry prompts: never log them
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Answer one event with ``{"output", "usage", ...}`` or ``{"error": {...}}``."""
    try:
        result: dict[str, Any] = _container_invoker().handle(
            event,
            remaining_time_ms=getattr(context, "get_remaining_time_in_millis", None),
            invocation_id=getattr(context, "aws_request_id", None) or None,
        )
        return result
    except Exception:
        # A bug, not bad input: keep the details in this function's logs only.
        logger.exception("invocation failed unexpectedly")
        failure: dict[str, Any] = error_result(
            "InternalError", "the invocation failed; see the function's logs"
        )
        return failure
