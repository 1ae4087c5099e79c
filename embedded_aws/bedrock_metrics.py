"""The metrics Bedrock publishes for each model call, in the calling account's CloudWatch.

Bedrock publishes ``AWS/Bedrock`` metrics per ``ModelId`` in the account that
calls it (the operations account here): ``Invocations``, ``InputTokenCount``,
``OutputTokenCount``, ``InvocationLatency`` for an accepted call, and
``InvocationThrottles``, ``InvocationClientErrors`` or ``InvocationServerErrors``
for one that fails after it was accepted. A call through an application
inference profile is published under ``ModelId`` = the profile's id (the last
part of its ARN); any other call under the model id it named. A call IAM refused
was never accepted, so it publishes nothing.

moto has the CloudWatch API but no Bedrock behind it: this puts the same
datapoints into moto's CloudWatch backend, stamped with the call's time, so the
limit enforcer's ``GetMetricData`` reads what it would read on AWS.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

from contracts.limits import INPUT_TOKENS, METER_DIMENSION, METER_NAMESPACE, OUTPUT_TOKENS
from contracts.model_access import APPLICATION_PROFILE_ARN_RE

# Errors after acceptance, by the metric Bedrock counts them in.
_ERROR_METRICS = {
    "ThrottlingException": "InvocationThrottles",
    "ServiceUnavailableException": "InvocationServerErrors",
    "InternalServerException": "InvocationServerErrors",
    "ModelTimeoutException": "InvocationServerErrors",
    "ModelErrorException": "InvocationClientErrors",
    "ValidationException": "InvocationClientErrors",
}


def model_id_dimension(model_id: str) -> str:
    """The ``ModelId`` value Bedrock publishes a call under."""
    if APPLICATION_PROFILE_ARN_RE.fullmatch(model_id):
        return model_id.rsplit("/", 1)[-1]
    return model_id


def call_metrics(
    *,
    model_id: str,
    outcome: str,
    input_tokens: int,
    output_tokens: int,
    latency_ms: int,
    at: datetime,
) -> list[dict[str, Any]]:
    """The datapoints of one call (``PutMetricData``'s MetricData shape); none if never accepted."""
    dimensions = [{"Name": METER_DIMENSION, "Value": model_id_dimension(model_id)}]
    # moto keeps and compares datapoint times as naive UTC.
    stamp = at.astimezone(UTC).replace(tzinfo=None)

    def datum(name: str, value: float, unit: str) -> dict[str, Any]:
        return {
            "MetricName": name,
            "Value": value,
            "Unit": unit,
            "Dimensions": dimensions,
            "Timestamp": stamp,
        }

    if outcome == "success":
        return [
            datum("Invocations", 1, "Count"),
            datum(INPUT_TOKENS, input_tokens, "Count"),
            datum(OUTPUT_TOKENS, output_tokens, "Count"),
            datum("InvocationLatency", latency_ms, "Milliseconds"),
        ]
    metric = _ERROR_METRICS.get(outcome)
    return [datum(metric, 1, "Count")] if metric else []


def publish(account_id: str | None, region: str, data: list[dict[str, Any]]) -> None:
    """Put ``data`` in moto's CloudWatch of ``account_id`` and ``region``."""
    if account_id is None or not data:
        return
    cloudwatch_backends[account_id][region].put_metric_data(METER_NAMESPACE, data)
