"""CloudWatch Logs' side of Embedded Metric Format: validate an event, extract its metrics.

AWS extracts metrics from a log event that follows the EMF specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
and silently drops what does not. The embedded cloud has no metric extraction,
so this module applies the specification's rules instead: the published JSON
schema for the ``_aws`` metadata, plus the rules the schema cannot express
(every referenced dimension is a top-level string, every metric a top-level
number or array of numbers). The tests and the demo check the usage records
with it and read the metrics the records would produce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonschema

# CloudWatch's metric units (MetricDatum.Unit), as EMF accepts them.
CLOUDWATCH_UNITS = (
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
)
MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
MAX_DIMENSION_VALUE_CHARS = 1024
MAX_VALUES_PER_METRIC = 100
MAX_EVENT_BYTES = 1_048_576

# The specification's JSON schema for the root node and its "_aws" metadata.
EMF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "LogGroupName": {"type": "string", "minLength": 1},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": MAX_DIMENSIONS_PER_SET,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": MAX_METRICS_PER_DIRECTIVE,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "properties": {
                                        "Name": {
                                            "type": "string",
                                            "minLength": 1,
                                            "maxLength": 1024,
                                        },
                                        "Unit": {"type": "string", "enum": list(CLOUDWATCH_UNITS)},
                                        "StorageResolution": {"type": "integer", "enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


@dataclass(frozen=True)
class MetricDatum:
    """One value CloudWatch would record from an EMF event."""

    namespace: str
    name: str
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    value: float
    timestamp_ms: int


def problems(message: str) -> list[str]:
    """Why CloudWatch would extract no metrics from this log event (empty: valid EMF)."""
    if len(message.encode("utf-8")) > MAX_EVENT_BYTES:
        return [f"event is over {MAX_EVENT_BYTES} bytes"]
    try:
        event = json.loads(message)
    except ValueError as exc:
        return [f"not a JSON object: {exc}"]
    if not isinstance(event, dict):
        return ["not a JSON object"]
    validator = jsonschema.Draft7Validator(EMF_SCHEMA)
    found = [
        f"{'/'.join(str(p) for p in error.absolute_path) or 'root'}: {error.message}"
        for error in validator.iter_errors(event)
    ]
    if found:
        return found
    for directive in event["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                value = event.get(key)
                if not isinstance(value, str) or not value:
                    found.append(f"dimension {key}: no non-empty string member at the root")
                elif len(value) > MAX_DIMENSION_VALUE_CHARS:
                    found.append(f"dimension {key}: value over {MAX_DIMENSION_VALUE_CHARS} chars")
        for metric in directive["Metrics"]:
            name = metric["Name"]
            if not _metric_values(event.get(name)):
                found.append(f"metric {name}: no number or array of numbers at the root")
    return found


def extract(message: str) -> list[MetricDatum]:
    """The metric values CloudWatch would record from a valid EMF event (else none)."""
    if problems(message):
        return []
    event = json.loads(message)
    timestamp = event["_aws"]["Timestamp"]
    data: list[MetricDatum] = []
    for directive in event["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            dimensions = tuple((key, event[key]) for key in dimension_set)
            for metric in directive["Metrics"]:
                for value in _metric_values(event[metric["Name"]]) or ():
                    data.append(
                        MetricDatum(
                            namespace=directive["Namespace"],
                            name=metric["Name"],
                            unit=metric.get("Unit", "None"),
                            dimensions=dimensions,
                            value=float(value),
                            timestamp_ms=timestamp,
                        )
                    )
    return data


def _metric_values(value: Any) -> list[float] | None:
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if number(value):
        return [value]
    if (
        isinstance(value, list)
        and 0 < len(value) <= MAX_VALUES_PER_METRIC
        and all(number(v) for v in value)
    ):
        return list(value)
    return None
