"""Lambda's log delivery: where a function's output goes and which of its lines arrive.

* the output goes to the function's ``LoggingConfig.LogGroup`` (default
  ``/aws/lambda/<name>``), one stream per execution environment named
  ``YYYY/MM/DD/[<version>]<guid>``, or ``YYYY/MM/DD/<name>[<version>]<guid>`` in a
  group of another name;
* with ``LogFormat: JSON`` the platform lines are JSON (``platform.start``,
  ``platform.report``; printed by ``embedded_aws.lambda_bootstrap``) and a
  printed JSON object whose ``level`` is below ``ApplicationLogLevel`` is
  dropped, as Lambda does;
* a missing group and the environment's stream are created on first delivery.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from embedded_aws.lambda_function import FunctionSpec, Invocation

# Lambda's log levels, lowest first (LoggingConfig's ApplicationLogLevel/SystemLogLevel).
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def log_stream_name(spec: FunctionSpec, day: datetime.date, guid: str) -> str:
    """An execution environment's stream; named after the function in a shared group."""
    prefix = "" if spec.log_group_name == spec.default_log_group_name else spec.function_name
    return f"{day:%Y/%m/%d}/{prefix}[{spec.version}]{guid}"


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def is_report(line: str, request_id: str) -> bool:
    """Whether ``line`` is the platform's report of ``request_id`` (text or JSON)."""
    if line.startswith(f"REPORT RequestId: {request_id}"):
        return True
    value = _json_object(line)
    return (
        value is not None
        and value.get("type") == "platform.report"
        and (value.get("record") or {}).get("requestId") == request_id
    )


def _is_platform_line(line: str) -> bool:
    if line.startswith(("START RequestId:", "END RequestId:", "REPORT RequestId:", "RESTORE_")):
        return True
    value = _json_object(line)
    return value is not None and str(value.get("type", "")).startswith("platform.")


def _level_rank(level: Any) -> int | None:
    name = str(level).upper() if isinstance(level, str) else ""
    name = "WARN" if name == "WARNING" else name
    return LOG_LEVELS.index(name) if name in LOG_LEVELS else None


def delivered(spec: FunctionSpec, line: str) -> bool:
    """Whether Lambda sends ``line`` to CloudWatch Logs under the function's LoggingConfig.

    Levels apply with the JSON format only: platform lines are INFO and kept
    while SystemLogLevel is INFO or lower; a JSON object with a valid ``level``
    below ApplicationLogLevel is dropped (one without a valid level counts as INFO).
    """
    if spec.log_format.upper() != "JSON":
        return True
    info = LOG_LEVELS.index("INFO")
    if _is_platform_line(line):
        return info >= (_level_rank(spec.system_log_level) or info)
    value = _json_object(line)
    rank = _level_rank(value.get("level")) if value is not None else None
    return (info if rank is None else rank) >= (_level_rank(spec.application_log_level) or info)


def deliver_logs(logs_backend: Any, invocation: Invocation) -> None:
    """Put an invocation's output in its log group and stream, as Lambda's log delivery does.

    Lambda creates a missing group and the execution environment's stream; an
    empty line is not an event (CloudWatch Logs refuses empty messages).
    ``logs_backend`` is moto's CloudWatch Logs backend of the function's account.
    """
    events = [
        {"timestamp": line.timestamp_ms, "message": line.message}
        for line in invocation.log_lines
        if line.message
    ]
    if not events or not invocation.log_group:
        return
    logs_backend.ensure_log_group(invocation.log_group)
    logs_backend.ensure_log_stream(invocation.log_group, invocation.log_stream)
    logs_backend.put_log_events(invocation.log_group, invocation.log_stream, events)
