"""The usage record's CloudWatch metrics, as Embedded Metric Format (EMF).

CloudWatch Logs extracts the metrics from the record itself once it is in the
tenant's usage log group, so they cost no API call on the answer's path and
work with either sink. The EMF block is built with Powertools' EMF provider, not
by hand; the names, units and dimension sets are ``contracts.usage_metrics``'s,
which the dashboard and alarms read too.

Each record's block has one of four shapes (with or without latency, with or
without cost). The provider builds each shape once per process, and a record
takes its shape's block with its own values filled in: the same block, key for
key, without the provider's per-call objects and checks (about 40 µs a record).
A record the provider would treat otherwise (a timestamp it warns about, a
blank dimension value it drops) goes through the provider itself.

The record's plain fields stay as they are for Logs Insights; the EMF keys
(``_aws``, ``TenantId``, ``InputTokens`` ...) are added beside them.

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
import functools
from typing import Any, TypeGuard

from aws_lambda_powertools.metrics.functions import validate_emf_timestamp
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
    values = {
        m.TENANT_DIMENSION: _dimension_value(record.get("tenant_id")),
        m.APPLICATION_DIMENSION: _dimension_value(
            dimensions.application(str(record.get("application_id") or ""))
        ),
        m.MODEL_DIMENSION: _dimension_value(dimensions.model(str(record.get("model_id") or ""))),
    }
    metrics = _metric_values(record)
    timestamp = _epoch_ms(record.get("timestamp"))
    if (timestamp is not None and not validate_emf_timestamp(timestamp)) or not all(
        value.strip() for value in values.values()
    ):
        emf = emf_block(values, metrics, timestamp)
    else:
        shape = _shape(tuple(metrics))
        # As the provider writes them: each metric's values as a list of floats.
        keyed: dict[str, Any] = {**values}
        keyed.update((name, [float(value)]) for name, value in metrics.items())
        keyed["_aws"] = shape.aws_block(timestamp)
        emf = {key: keyed[key] for key in shape.keys}
    return {**record, **emf}


def emf_block(
    dimension_values: dict[str, str], metrics: dict[str, float], timestamp: int | None
) -> dict[str, Any]:
    """The EMF keys of one record, built by Powertools' provider: its dimension values
    (``contracts.usage_metrics.DIMENSION_SETS``), its metric values (by name, in order)
    and its timestamp (epoch milliseconds; the provider's own time when None)."""
    provider = AmazonCloudWatchEMFProvider(
        namespace=m.NAMESPACE,
        # Not None: None would read POWERTOOLS_SERVICE_NAME and add a "service"
        # dimension to every set, a metric identity the dashboard does not know.
        service="",
    )
    primary, *more = m.DIMENSION_SETS
    for name in primary:
        provider.add_dimension(name=name, value=dimension_values[name])
    for dimension_set in more:
        provider.add_dimensions(**{name: dimension_values[name] for name in dimension_set})
    for name, value in metrics.items():
        provider.add_metric(name=name, unit=_UNITS[name], value=value)
    if timestamp is not None:
        provider.set_timestamp(timestamp)
    return dict(provider.serialize_metric_set())


_UNITS = {metric.name: metric.unit for metric in m.USAGE_METRICS}


def _metric_values(record: Record) -> dict[str, float]:
    """The record's metric values by name, in the block's order; latency and cost
    only when known (a missing figure is left out, not reported as zero)."""
    superseding = bool(record.get("supersedes"))
    # A stream its caller abandoned counts as an invocation, not an error.
    is_error = record.get("status") not in ("success", "cancelled")
    counted = 0 if superseding else 1
    throttled = is_error and record.get("error_type") in m.THROTTLING_ERROR_TYPES
    values: dict[str, float] = {
        m.INVOCATIONS.name: counted,
        m.ERRORS.name: counted if is_error else 0,
        m.THROTTLES.name: counted if throttled else 0,
        m.INPUT_TOKENS.name: _number(record.get("input_tokens")),
        m.OUTPUT_TOKENS.name: _number(record.get("output_tokens")),
        m.CACHE_READ_INPUT_TOKENS.name: _number(record.get("cache_read_input_tokens")),
        m.CACHE_WRITE_INPUT_TOKENS.name: _number(record.get("cache_write_input_tokens")),
    }
    latency = record.get("latency_ms")
    if _is_number(latency):
        values[m.LATENCY_MS.name] = latency
    cost = record.get("cost_usd")
    if _is_number(cost):
        values[m.COST_USD.name] = cost
    return values


class _Shape:
    """The EMF block of every record with the same metrics, as the provider builds it:
    its keys in order and its ``_aws`` directive, values left to each record."""

    def __init__(self, metric_names: tuple[str, ...]) -> None:
        sample = emf_block(
            {name: "sample" for names in m.DIMENSION_SETS for name in names},
            dict.fromkeys(metric_names, 0),
            None,
        )
        self.keys = tuple(sample)
        [directive] = sample["_aws"]["CloudWatchMetrics"]
        self._namespace = directive["Namespace"]
        self._dimensions = tuple(tuple(names) for names in directive["Dimensions"])
        self._metrics = tuple(tuple(definition.items()) for definition in directive["Metrics"])

    def aws_block(self, timestamp: int | None) -> dict[str, Any]:
        """A fresh ``_aws`` directive (no record shares a list with another)."""
        return {
            # As the provider does without a timestamp: the time of serializing.
            "Timestamp": timestamp or int(datetime.datetime.now().timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": self._namespace,
                    "Dimensions": [list(names) for names in self._dimensions],
                    "Metrics": [dict(definition) for definition in self._metrics],
                }
            ],
        }


@functools.cache
def _shape(metric_names: tuple[str, ...]) -> _Shape:
    return _Shape(metric_names)


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
