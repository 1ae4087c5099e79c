"""The usage record's CloudWatch metrics, as Embedded Metric Format (EMF).

CloudWatch Logs extracts the metrics from the record itself once it is in the
tenant's usage log group, so they cost no API call on the answer's path and
work with either sink. The EMF block is built with Powertools' EMF provider, not
by hand; the names, units and dimension sets are ``contracts.usage_metrics``'s,
which the dashboard and alarms read too. The record's plain fields stay as they
are for Logs Insights; the EMF keys (``_aws``, ``TenantId``, ``InputTokens`` ...)
are added beside them.

Dimension values come from the tenant's registry entry
(``contracts.usage_metrics.DimensionValues``), not from the caller: a model
off the allowlist or an unlisted application is ``refused``, and every
application is ``other`` when the registry lists none. Each new value would be
nine more billed custom metrics; the record keeps the ids as called.

Counting rule: a provisional record (the timeout watchdog's) counts the
invocation as one error; the real record that supersedes it then reports its
tokens, latency and cost but not the invocation, the error or the throttle
again. Metrics cannot be taken back, so an invocation that outlived its
watchdog and then succeeded shows as one error in the metrics, while the
records themselves stay exact.
"""

from __future__ import annotations

import datetime
from typing import Any, TypeGuard

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from contracts import usage_metrics as m
from contracts.usage_record import Record

# EMF: a dimension value is a non-empty string of at most 1,024 characters.
MAX_DIMENSION_VALUE_CHARS = 1024
UNKNOWN_DIMENSION_VALUE = "unknown"


def with_metrics(record: Record, dimensions: m.DimensionValues) -> Record:
    """``record`` with its EMF block and metric values added (a new dict).

    ``dimensions`` bounds the application and model dimension values.
    """
    provider = AmazonCloudWatchEMFProvider(
        namespace=m.NAMESPACE,
        # Not None: None would read POWERTOOLS_SERVICE_NAME and add a "service"
        # dimension to every set, a metric identity the dashboard does not know.
        service="",
    )
    values = {
        m.TENANT_DIMENSION: _dimension_value(record.get("tenant_id")),
        m.APPLICATION_DIMENSION: _dimension_value(
            dimensions.application(str(record.get("application_id") or ""))
        ),
        m.MODEL_DIMENSION: _dimension_value(dimensions.model(str(record.get("model_id") or ""))),
    }
    primary, *more = m.DIMENSION_SETS
    for name in primary:
        provider.add_dimension(name=name, value=values[name])
    for dimension_set in more:
        provider.add_dimensions(**{name: values[name] for name in dimension_set})

    superseding = bool(record.get("supersedes"))
    # A stream its caller abandoned counts as an invocation, not an error.
    is_error = record.get("status") not in ("success", "cancelled")
    counted = 0 if superseding else 1
    _add(provider, m.INVOCATIONS, counted)
    _add(provider, m.ERRORS, counted if is_error else 0)
    throttled = is_error and record.get("error_type") in m.THROTTLING_ERROR_TYPES
    _add(provider, m.THROTTLES, counted if throttled else 0)
    _add(provider, m.INPUT_TOKENS, _number(record.get("input_tokens")))
    _add(provider, m.OUTPUT_TOKENS, _number(record.get("output_tokens")))
    _add(provider, m.CACHE_READ_INPUT_TOKENS, _number(record.get("cache_read_input_tokens")))
    _add(provider, m.CACHE_WRITE_INPUT_TOKENS, _number(record.get("cache_write_input_tokens")))
    latency = record.get("latency_ms")
    if _is_number(latency):
        _add(provider, m.LATENCY_MS, latency)
    cost = record.get("cost_usd")
    if _is_number(cost):
        _add(provider, m.COST_USD, cost)

    timestamp = _epoch_ms(record.get("timestamp"))
    if timestamp is not None:
        provider.set_timestamp(timestamp)
    emf: dict[str, Any] = dict(provider.serialize_metric_set())
    return {**record, **emf}


def _add(provider: AmazonCloudWatchEMFProvider, metric: m.UsageMetric, value: float) -> None:
    provider.add_metric(name=metric.name, unit=metric.unit, value=value)


def _dimension_value(value: Any) -> str:
    text = str(value) if value not in (None, "") else UNKNOWN_DIMENSION_VALUE
    return text[:MAX_DIMENSION_VALUE_CHARS]


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float:
    return value if _is_number(value) else 0


def _epoch_ms(timestamp: Any) -> int | None:
    # The record's own time, so the metric lands in the minute the call was made.
    if not isinstance(timestamp, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(parsed.timestamp() * 1000)
