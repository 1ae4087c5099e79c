"""The CloudWatch metrics every usage record carries, as Embedded Metric Format.

One definition for the function (which attaches them to each record through
Powertools Metrics) and the customer stack (whose dashboard and alarms read
them). CloudWatch Logs extracts them from the record in the tenant's usage log
group, whichever sink delivered it, so they cost no API call on the answer's path.

Every distinct combination of dimension values is a billed custom metric, so
the dimensions are the tenant, the application and the model, never the user
or the request.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "BedrockUsage"

TENANT_DIMENSION = "TenantId"
APPLICATION_DIMENSION = "ApplicationId"
MODEL_DIMENSION = "ModelId"

# The dimension sets each record reports: the tenant roll-up first, then per
# application and per model. CloudWatch aggregates nothing across dimension
# sets, so each view the dashboard and alarms need has its own set.
TENANT_DIMENSIONS: tuple[str, ...] = (TENANT_DIMENSION,)
APPLICATION_DIMENSIONS: tuple[str, ...] = (TENANT_DIMENSION, APPLICATION_DIMENSION)
MODEL_DIMENSIONS: tuple[str, ...] = (TENANT_DIMENSION, MODEL_DIMENSION)
DIMENSION_SETS: tuple[tuple[str, ...], ...] = (
    TENANT_DIMENSIONS,
    APPLICATION_DIMENSIONS,
    MODEL_DIMENSIONS,
)


@dataclass(frozen=True)
class UsageMetric:
    """One metric: its CloudWatch name and unit (EMF / CloudWatch unit names)."""

    name: str
    unit: str


INVOCATIONS = UsageMetric("Invocations", "Count")
INPUT_TOKENS = UsageMetric("InputTokens", "Count")
OUTPUT_TOKENS = UsageMetric("OutputTokens", "Count")
CACHE_READ_INPUT_TOKENS = UsageMetric("CacheReadInputTokens", "Count")
CACHE_WRITE_INPUT_TOKENS = UsageMetric("CacheWriteInputTokens", "Count")
LATENCY_MS = UsageMetric("LatencyMs", "Milliseconds")
ERRORS = UsageMetric("Errors", "Count")
THROTTLES = UsageMetric("Throttles", "Count")
# CloudWatch has no currency unit; the value is US dollars at the record's price table.
COST_USD = UsageMetric("CostUSD", "None")

USAGE_METRICS: tuple[UsageMetric, ...] = (
    INVOCATIONS,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_INPUT_TOKENS,
    CACHE_WRITE_INPUT_TOKENS,
    LATENCY_MS,
    ERRORS,
    THROTTLES,
    COST_USD,
)

# Bedrock's error codes for a call refused for quota (the Throttles metric).
THROTTLING_ERROR_TYPES = frozenset(
    {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
)
