"""Per-tenant Bedrock cost from Cost Explorer in the operations account.

Bedrock attributes each call's cost to the IAM principal that made it, and
every tenant's calls are made by its own invoker role in the operations
account, tagged ``tenant-id`` (and ``cost-centre`` when the registry sets one).
Once those tags are activated as cost-allocation tags, Cost Explorer groups the
operations account's Bedrock spend by them: a split per tenant that needs no
usage record, no prompt and no user id, only the bill.

Principal tags reach Cost Explorer under the ``iamPrincipal/`` prefix
(``iamPrincipal/tenant-id``); the same tag on an application inference profile
is a resource tag and keeps its plain key (``tenant-id``).

Anthropic and other third-party models are billed as their own services
("Claude 3 Haiku (Amazon Bedrock Edition)"), Amazon's models as "Amazon
Bedrock": one request groups by tag and by service, and every service whose
name contains "Bedrock" counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from contracts.naming import COST_CENTRE_TAG_KEY, TENANT_TAG_KEY

PRINCIPAL_TAG_PREFIX = "iamPrincipal/"
BEDROCK_SERVICE_MARKER = "Bedrock"
# Cost Explorer's API has one endpoint per partition.
_CE_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-northwest-1"}


def cost_explorer_region(partition: str) -> str:
    """The region Cost Explorer's API is called in for ``partition``."""
    return _CE_REGIONS.get(partition, "us-east-1")


class CostMetric(StrEnum):
    """The Cost Explorer metrics ``tenantctl cost --metric`` offers (Cost Explorer's spelling)."""

    UNBLENDED = "UnblendedCost"
    NET_UNBLENDED = "NetUnblendedCost"
    AMORTIZED = "AmortizedCost"
    NET_AMORTIZED = "NetAmortizedCost"


DEFAULT_METRIC = CostMetric.UNBLENDED


class CostDimension(StrEnum):
    """What ``tenantctl cost --by`` splits the spend by: which tag."""

    TENANT = "tenant"
    COST_CENTRE = "cost-centre"

    @property
    def tag(self) -> str:
        """The tag key as the stacks write it."""
        return TENANT_TAG_KEY if self is CostDimension.TENANT else COST_CENTRE_TAG_KEY


class TagSource(StrEnum):
    """Where the tag sits: the invoker role (every call) or an application inference profile."""

    PRINCIPAL = "principal"
    RESOURCE = "resource"


def cost_tag_key(tag: str, source: TagSource) -> str:
    """The key Cost Explorer groups by for ``tag`` on a principal or on a resource."""
    return f"{PRINCIPAL_TAG_PREFIX}{tag}" if source is TagSource.PRINCIPAL else tag


def cost_and_usage_request(
    *, start: date, end: date, tag_key: str, metric: str = DEFAULT_METRIC
) -> dict[str, Any]:
    """GetCostAndUsage arguments: ``metric`` per month in [start, end), by tag and service.

    No service filter: Cost Explorer's dimension filters match names exactly,
    and the Bedrock services' names are not known in advance (one per
    third-party model family); :func:`bedrock_cost` keeps the Bedrock ones.
    """
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": [metric],
        "GroupBy": [
            {"Type": "TAG", "Key": tag_key},
            {"Type": "DIMENSION", "Key": "SERVICE"},
        ],
    }


@dataclass
class TagCost:
    """One tag value's Bedrock spend; ``value`` "" is spend without the tag."""

    value: str
    usd: float = 0.0
    by_service: dict[str, float] = field(default_factory=dict)

    def add(self, service: str, usd: float) -> None:
        """Count ``usd`` of ``service``."""
        self.by_service[service] = math.fsum([self.by_service.get(service, 0.0), usd])
        self.usd = math.fsum(self.by_service.values())


@dataclass(frozen=True)
class CostReport:
    """Bedrock spend per tag value over [start, end), as Cost Explorer reports it."""

    start: date
    end: date
    tag_key: str
    metric: str
    unit: str
    costs: tuple[TagCost, ...]
    # Cost Explorer marks a period Estimated until the month's bill is final.
    estimated: bool

    @property
    def total_usd(self) -> float:
        """All Bedrock spend, tagged or not."""
        return math.fsum(c.usd for c in self.costs)

    def usd(self, value: str) -> float:
        """The spend of one tag value (0 when Cost Explorer has none)."""
        return next((c.usd for c in self.costs if c.value == value), 0.0)


def tag_value(group_key: str) -> str:
    """The value of a TAG group key: ``tenant-id$acme`` is ``acme``; ``tenant-id$`` is untagged."""
    _, sep, value = group_key.partition("$")
    return value if sep else group_key


def is_bedrock_service(service: str) -> bool:
    """Whether a SERVICE value is Bedrock's: "Amazon Bedrock", "... (Amazon Bedrock Edition)"."""
    return BEDROCK_SERVICE_MARKER.lower() in service.lower()


def _pages(client: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # boto3 has no paginator for GetCostAndUsage: follow NextPageToken by hand.
    token: str | None = None
    while True:
        page: dict[str, Any] = client.get_cost_and_usage(
            **request, **({"NextPageToken": token} if token else {})
        )
        yield page
        token = page.get("NextPageToken")
        if not token:
            return


def bedrock_cost(
    client: Any, *, start: date, end: date, tag_key: str, metric: str = DEFAULT_METRIC
) -> CostReport:
    """Bedrock spend per value of ``tag_key`` from a Cost Explorer client of the paying account."""
    request = cost_and_usage_request(start=start, end=end, tag_key=tag_key, metric=metric)
    return summarize_results(_pages(client, request), start=start, end=end, tag_key=tag_key,
                             metric=metric)  # fmt: skip


def summarize_results(
    pages: Iterable[dict[str, Any]], *, start: date, end: date, tag_key: str, metric: str
) -> CostReport:
    """Add up GetCostAndUsage pages grouped by (tag, service), keeping Bedrock services."""
    costs: dict[str, TagCost] = {}
    units: set[str] = set()
    estimated = False
    for page in pages:
        for period in page.get("ResultsByTime", []):
            estimated = estimated or bool(period.get("Estimated"))
            for group in period.get("Groups", []):
                keys = group.get("Keys", [])
                if len(keys) != 2 or not is_bedrock_service(keys[1]):
                    continue
                amount = group.get("Metrics", {}).get(metric, {})
                value = tag_value(keys[0])
                costs.setdefault(value, TagCost(value)).add(keys[1], float(amount.get("Amount", 0)))
                if amount.get("Unit"):
                    units.add(str(amount["Unit"]))
    return CostReport(
        start=start,
        end=end,
        tag_key=tag_key,
        metric=metric,
        unit=", ".join(sorted(units)) or "USD",
        costs=tuple(sorted(costs.values(), key=lambda c: (c.value == "", c.value))),
        estimated=estimated,
    )


# A tenant's bill and its own records may differ by this much before reconciliation
# flags it: Cost Explorer rounds, lags about a day and prices a whole month, the
# records carry list prices and the registry's overrides.
DEFAULT_DRIFT_PERCENT = 10.0


def month_window(month: str) -> tuple[date, date]:
    """[first day, first day of the next month) of ``YYYY-MM``; ValueError when it is none."""
    year, sep, number = month.partition("-")
    if not (sep and len(year) == 4 and len(number) == 2 and year.isdigit() and number.isdigit()):
        raise ValueError(f"'{month}' is not a month; use YYYY-MM")
    try:
        start = date(int(year), int(number), 1)
    except ValueError:
        raise ValueError(f"'{month}' is not a month; use YYYY-MM") from None
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, end


@dataclass(frozen=True)
class Reconciliation:
    """One tenant's month: what the bill says (Cost Explorer, by the invoker role's tag)
    beside what the tenant's own usage records say (the sum of their ``cost_usd``)."""

    tenant_id: str
    billed_usd: float
    metered_usd: float
    threshold_percent: float

    @property
    def difference_usd(self) -> float:
        """Records minus bill: negative when the records missed spend."""
        return math.fsum([self.metered_usd, -self.billed_usd])

    @property
    def drift_percent(self) -> float | None:
        """The difference as a percentage of the bill; None when there is no bill to
        compare with but the records say there was spend."""
        if self.billed_usd == 0:
            return 0.0 if self.metered_usd == 0 else None
        return 100.0 * self.difference_usd / self.billed_usd

    @property
    def drifts(self) -> bool:
        """Whether the two differ by more than the threshold (spend without a bill does)."""
        drift = self.drift_percent
        return drift is None or abs(drift) > self.threshold_percent


def reconcile(
    report: CostReport, metered_usd: dict[str, float], *, threshold_percent: float
) -> tuple[Reconciliation, ...]:
    """Each tenant of ``metered_usd`` (tenant id -> its records' cost), in its order, beside
    its Bedrock spend in ``report`` (grouped by the tenant tag)."""
    return tuple(
        Reconciliation(tenant, report.usd(tenant), usd, threshold_percent)
        for tenant, usd in metered_usd.items()
    )
