"""Lambda entry point of the tenant's Bedrock invoker: parse, invoke, respond.

Everything a call reuses is built at import, during Lambda's init phase: the
settings (a misconfigured function fails to initialise instead of failing every
call), the imports, the clients and the usage sink. None of it makes a network
call, so with SnapStart the snapshot holds no credentials for the operations
account; the after-restore hook drops anything that would be shared between
restored environments. Everything else lives in ``invoker``.
"""

from __future__ import annotations

from typing import Any

from invoker.init_phase import long_lived_init

# Everything init builds lives as long as the environment: the garbage collector
# would only rescan it while it is built (invoker/init_phase.py).
with long_lived_init():
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from bedrock_tenant_client.outcome import INTERNAL_ERROR, Failure
    from invoker.invocation import BedrockInvoker, error_result
    from invoker.settings import Settings

    # Lambda's Python managed runtimes ship snapshot_restore_py (SnapStart's runtime
    # hooks); elsewhere (unit tests, the bench) no snapshot is ever taken.
    try:
        from snapshot_restore_py import register_after_restore as _register_after_restore
    except ImportError:
        _register_after_restore = None

    SETTINGS = Settings.from_env()

    logger = Logger()
    logger.append_keys(tenant_id=SETTINGS.tenant_id)
    # The invoker modules log through plain ``logging``; give them the same JSON output.
    copy_config_to_registered_loggers(source_logger=logger, include={"invoker"})

    # Built during init and reused while the environment lives.
    _invoker: BedrockInvoker = BedrockInvoker.from_settings(SETTINGS)

# What the caller hears of a bug: the details stay in this function's logs.
_UNEXPECTED = Failure(INTERNAL_ERROR, "the invocation failed; see the function's logs")


def _after_restore() -> None:
    # Looked up at call time: the environment's invoker, whichever it is then.
    _invoker.after_restore()


if _register_after_restore is not None:
    _register_after_restore(_after_restore)


@logger.inject_lambda_context(log_event=False)  # events carry prompts: never log them
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Answer one event with ``{"output", "usage", ...}`` or ``{"error": {...}}``."""
    try:
        result: dict[str, Any] = _invoker.handle(
            event,
            remaining_time_ms=getattr(context, "get_remaining_time_in_millis", None),
            invocation_id=getattr(context, "aws_request_id", None) or None,
        )
        return result
    except Exception:
        # A bug, not bad input: keep the details in this function's logs only.
        logger.exception("invocation failed unexpectedly")
        return error_result(_UNEXPECTED)
