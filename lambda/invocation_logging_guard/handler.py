"""CloudFormation custom resource: refuse to deploy while Bedrock logs prompts in this account.

Bedrock's model-invocation logging is one account+region setting with no
CloudFormation resource. Enabled in the operations account, it would copy every
tenant's prompts and responses there. On Create and Update this function reads
the setting and answers FAILED (the deployment rolls back, with the reason in
the stack events) unless the registry allows it; Delete succeeds without a call,
so a stack can always be removed.

It answers CloudFormation itself (a PUT of the JSON response to the
pre-signed ``ResponseURL``), with the standard library and the runtime's boto3
only: no ``cfn-response`` module, no provider framework, nothing to bundle. The
embedded cloud runs it the same way.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from contracts.invocation_logging import LoggingVerdict, evaluate

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient

PHYSICAL_RESOURCE_ID = "bedrock-ops-invocation-logging-guard"
ALLOW_PROPERTY = "AllowOpsInvocationLogging"
# CloudFormation rejects a response body over 4 KB; the reason is the bulk of it.
MAX_REASON_CHARS = 1500
# A role created in the same deployment may not be usable for a few seconds.
ACCESS_DENIED_RETRY_DELAYS: tuple[float, ...] = (2.0, 5.0)


def bedrock_client() -> BedrockClient:
    """The control-plane client, bounded so the answer always beats the Lambda timeout."""
    return boto3.client(
        "bedrock",
        config=Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"}),
    )


def lambda_handler(event: Mapping[str, Any], context: Any) -> None:
    """Check on Create/Update, succeed on Delete, and always answer CloudFormation."""
    request_type = event.get("RequestType")
    try:
        if request_type == "Delete":
            status, reason, data = "SUCCESS", "Delete: nothing to check", {}
        else:
            verdict = check(allowed(event.get("ResourceProperties") or {}))
            status = "SUCCESS" if verdict.ok else "FAILED"
            reason, data = verdict.message, _data(verdict)
    except Exception as exc:  # any failure must still answer CloudFormation
        status, reason, data = "FAILED", f"cannot check invocation logging: {_describe(exc)}", {}
    _log(request_type, status, reason)
    send_response(event, status=status, reason=reason, data=data)


def allowed(properties: Mapping[str, Any]) -> bool:
    """The registry flag as passed in the resource properties (CloudFormation sends strings)."""
    value = properties.get(ALLOW_PROPERTY, "false")
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in {"true", "false"}:
        raise ValueError(f"{ALLOW_PROPERTY}: expected true or false, got {value!r}")
    return text == "true"


def check(
    allow: bool,
    client: BedrockClient | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> LoggingVerdict:
    """Read the account's logging configuration and decide."""
    client = client or bedrock_client()
    for delay in (*ACCESS_DENIED_RETRY_DELAYS, None):
        try:
            response = client.get_model_invocation_logging_configuration()
            break
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if delay is None or code != "AccessDeniedException":
                raise
            sleep(delay)
    return evaluate(dict(response), allow=allow)


def send_response(
    event: Mapping[str, Any], *, status: str, reason: str, data: Mapping[str, str]
) -> None:
    """PUT the answer to the pre-signed ResponseURL.

    The Content-Type is empty on purpose: the URL is signed without one.
    """
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:MAX_REASON_CHARS],
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_RESOURCE_ID,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": dict(data),
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        response.read()


def _data(verdict: LoggingVerdict) -> dict[str, str]:
    return {
        "LoggingEnabled": str(verdict.logging_enabled).lower(),
        "ContentDelivered": ",".join(verdict.content_kinds),
    }


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{exc.operation_name}: {err.get('Code')}: {err.get('Message')}"
    if isinstance(exc, BotoCoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _log(request_type: Any, status: str, reason: str) -> None:
    # Printed JSON stays a top-level object under Lambda's JSON log format.
    level = "INFO" if status == "SUCCESS" else "ERROR"
    record = {"level": level, "requestType": request_type, "status": status, "reason": reason}
    print(json.dumps(record))
