"""A deployed Lambda function as the local runner sees it, and what an invocation returns.

``FunctionSpec`` is read from moto's Lambda backend
(``embedded_aws.moto_patches.lambda_.function_spec``); ``Invocation`` and
``error_payload`` follow the shapes of ``lambda.invoke``'s answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

LATEST = "$LATEST"


@dataclass(frozen=True)
class FunctionSpec:
    """What the runner needs to know about a deployed function (``$LATEST`` or a version)."""

    account_id: str
    region: str
    function_name: str
    function_arn: str
    handler: str
    runtime: str
    role_arn: str
    code_zip: bytes
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3.0
    memory_mb: int = 128
    version: str = LATEST
    # LoggingConfig: None is Lambda's default group, /aws/lambda/<name>.
    log_group: str | None = None
    log_format: str = "Text"
    application_log_level: str = "INFO"
    system_log_level: str = "INFO"
    # SnapStart ApplyOn PublishedVersions, on a published version.
    snap_start: bool = False

    @property
    def default_log_group_name(self) -> str:
        """The group Lambda uses when LoggingConfig names none."""
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_group_name(self) -> str:
        """Where Lambda sends the function's output."""
        return self.log_group or self.default_log_group_name

    @property
    def code_sha256(self) -> str:
        """SHA-256 of the code package: the key of the extraction cache."""
        return hashlib.sha256(self.code_zip).hexdigest()

    def fingerprint(self) -> str:
        """Changes whenever code or configuration changes (a new container is needed)."""
        config = json.dumps(
            [
                self.handler,
                self.runtime,
                self.role_arn,
                dict(self.environment),
                self.timeout_seconds,
                self.memory_mb,
                self.version,
                self.log_group,
                self.log_format,
                self.application_log_level,
                self.system_log_level,
                self.snap_start,
            ],
            sort_keys=True,
        )
        return f"{self.code_sha256}:{hashlib.sha256(config.encode()).hexdigest()}"


@dataclass(frozen=True)
class LogLine:
    """One line of a function's output, as Lambda sends it to CloudWatch Logs."""

    timestamp_ms: int
    message: str


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation, shaped like ``lambda.invoke``'s answer.

    ``log_lines`` are what Lambda delivers to ``log_group``/``log_stream`` (the
    execution environment's stream); ``log`` is all of the output, as ``Tail`` shows.
    """

    request_id: str
    payload: bytes
    function_error: str | None  # "Unhandled" or None
    log: str
    duration_ms: float
    log_group: str = ""
    log_stream: str = ""
    log_lines: tuple[LogLine, ...] = ()


def error_payload(request_id: str, error_type: str, message: str) -> bytes:
    """The payload of an invocation that Lambda itself failed (timeout, crash, no role)."""
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id}
    ).encode()
