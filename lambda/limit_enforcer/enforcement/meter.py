"""The meter: Bedrock's token metrics per application inference profile (``AWS/Bedrock``).

Why this meter, and its lag, are in ``contracts.limits``. A profile's calls are
read under ``ModelId`` = its id and = its ARN, and the larger sum of the two is
taken, so a change in how Bedrock spells the dimension can only over-count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts.limits import (
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    INPUT_TOKENS,
    METER_DIMENSION,
    METER_NAMESPACE,
    OUTPUT_TOKENS,
    TOKEN_METRICS,
    EnforcementPlan,
    TokenCounts,
    period_window,
)

# Hourly datapoints: CloudWatch keeps them for 455 days, longer than any period,
# and a month is 744 of them, far under GetMetricData's 100,800.
METER_PERIOD_SECONDS = 3600


class MeterUnavailable(Exception):
    """The meter could not be read (an API error or partial data CloudWatch flagged)."""


def profile_spellings(arn: str) -> tuple[str, str]:
    """The two ``ModelId`` values a profile's calls may be published under: its id, its ARN."""
    return arn.rsplit("/", 1)[-1], arn


class CloudWatchMeter:
    """Reads a tenant's token counts for the current period with ``GetMetricData``."""

    def __init__(self, cloudwatch: Any) -> None:
        self._cloudwatch = cloudwatch

    def read(self, plan: EnforcementPlan, now: datetime) -> dict[str, TokenCounts]:
        """The tenant's counts per model from the start of its period to ``now``."""
        window = period_window(plan.limits.period, now)
        hour = now.replace(minute=0, second=0, microsecond=0)
        end = min(window.end, hour + timedelta(hours=1))
        queries: list[dict[str, Any]] = []
        keys: dict[str, tuple[str, str, int]] = {}
        for m, (model, arn) in enumerate(sorted(plan.profiles.items())):
            for s, spelling in enumerate(profile_spellings(arn)):
                for k, metric in enumerate(TOKEN_METRICS):
                    query_id = f"m{m}_{s}_{k}"
                    keys[query_id] = (model, metric, s)
                    queries.append(
                        {
                            "Id": query_id,
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": METER_NAMESPACE,
                                    "MetricName": metric,
                                    "Dimensions": [{"Name": METER_DIMENSION, "Value": spelling}],
                                },
                                "Period": METER_PERIOD_SECONDS,
                                "Stat": "Sum",
                            },
                            "ReturnData": True,
                        }
                    )
        sums: dict[tuple[str, str, int], float] = {key: 0.0 for key in keys.values()}
        try:
            for start in range(0, len(queries), 500):
                paginator = self._cloudwatch.get_paginator("get_metric_data")
                for page in paginator.paginate(
                    MetricDataQueries=queries[start : start + 500],
                    StartTime=window.start,
                    EndTime=end,
                ):
                    for result in page.get("MetricDataResults", []):
                        if result.get("StatusCode") not in (None, "Complete", "PartialData"):
                            raise MeterUnavailable(f"{result['Id']}: {result.get('StatusCode')}")
                        sums[keys[result["Id"]]] += sum(result.get("Values", []))
        except MeterUnavailable:
            raise
        except Exception as exc:  # any failure to read is an outage of the meter
            raise MeterUnavailable(f"{type(exc).__name__}: {exc}") from exc
        counts: dict[str, TokenCounts] = {}
        for model in plan.profiles:

            def tokens(metric: str, model: str = model) -> int:
                return int(max(sums[(model, metric, 0)], sums[(model, metric, 1)]))

            counts[model] = TokenCounts(
                input=tokens(INPUT_TOKENS),
                output=tokens(OUTPUT_TOKENS),
                cache_read=tokens(CACHE_READ_TOKENS),
                cache_write=tokens(CACHE_WRITE_TOKENS),
            )
        return counts
