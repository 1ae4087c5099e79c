"""The CloudWatch metrics every usage record carries, as Embedded Metric Format.

One definition for the function (which attaches them to each record through
Powertools Metrics) and the customer stack (whose dashboard and alarms read
them). CloudWatch Logs extracts them from the record in the tenant's usage log
group, whichever sink delivered it, so they cost no API call on the answer's path.

Every distinct combination of dimension values is a billed custom metric, so
the dimensions are the tenant, the application and the model, never the user
or the request, and their values are bounded by the tenant's registry entry
(:class:`DimensionValues`): a caller cannot create metrics by naming new
application or model ids. The record itself keeps the ids as called.
"""

from __future__ import annotations

from collections.abc import Sequence
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

# The value of a model or application dimension for a call the function refused
# for it (a model not on the tenant's allowlist, an application not in its list).
REFUSED_DIMENSION_VALUE = "refused"
# The application dimension of every call when the registry lists no applications.
OTHER_APPLICATION_DIMENSION_VALUE = "other"


@dataclass(frozen=True)
class DimensionValues:
    """The values a tenant's metric dimensions may take, fixed by its registry entry.

    Stateless, so every container of the function agrees: a model keeps its id
    only if it is on the tenant's allowlist (``models``), an application only if
    the registry lists it (``applications``); anything else is ``refused``. With no
    ``applications`` listed, any application may call and every call is counted
    under ``other``. So a tenant has at most ``1 + (applications + 1 or 1) +
    (models + 1)`` dimension combinations, each holding ``len(USAGE_METRICS)`` metrics.
    """

    models: Sequence[str]
    applications: Sequence[str] | None = None

    def model(self, model_id: str) -> str:
        """The ModelId dimension of a call to ``model_id``."""
        return model_id if model_id in self.models else REFUSED_DIMENSION_VALUE

    def application(self, application_id: str) -> str:
        """The ApplicationId dimension of a call from ``application_id``."""
        if self.applications is None:
            return OTHER_APPLICATION_DIMENSION_VALUE
        if application_id in self.applications:
            return application_id
        return REFUSED_DIMENSION_VALUE

    def most_combinations(self) -> int:
        """The most dimension-value combinations (one per dimension set and value)."""
        roll_up = 1
        applications = 1 if self.applications is None else len(self.applications) + 1
        models = len(self.models) + 1  # with ``refused``
        return roll_up + applications + models

    def most_metrics(self) -> int:
        """The most billed custom metrics the tenant's records can create."""
        return self.most_combinations() * len(USAGE_METRICS)


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
