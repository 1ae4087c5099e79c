"""The tenant's usage metrics as CloudWatch metric objects, for its dashboard and alarms.

The names, namespace and dimension sets are ``contracts.usage_metrics``'s, the
same the function's EMF block declares; this module only says which of them a
graph or an alarm reads.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from contracts import usage_metrics as m

FIVE_MINUTES = Duration.minutes(5)


class TenantMetrics:
    """One tenant's usage metrics: its roll-up, and searches over its applications or models."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def total(
        self,
        metric: m.UsageMetric,
        *,
        statistic: str = cloudwatch.Stats.SUM,
        period: Duration = FIVE_MINUTES,
        label: str | None = None,
    ) -> cloudwatch.Metric:
        """``metric`` on the tenant roll-up dimension set ([TenantId])."""
        dimensions = {m.TENANT_DIMENSION: self.tenant_id}
        assert tuple(dimensions) == m.TENANT_DIMENSIONS
        return cloudwatch.Metric(
            namespace=m.NAMESPACE,
            metric_name=metric.name,
            dimensions_map=dimensions,
            statistic=statistic,
            period=period,
            label=label,
        )

    def search(
        self,
        metric: m.UsageMetric,
        *,
        by: str,
        statistic: str = cloudwatch.Stats.SUM,
        period: Duration = FIVE_MINUTES,
        label_suffix: str = "",
    ) -> cloudwatch.SearchExpression:
        """One line per application or model (``by``) that reported ``metric`` lately.

        Applications are not known at synth, so a SEARCH finds them; it sees
        metrics that reported data in the last two weeks.
        """
        dimension_set = next(s for s in m.DIMENSION_SETS if s[1:] == (by,))
        schema = ",".join((m.NAMESPACE, *dimension_set))
        terms = f'{m.TENANT_DIMENSION}="{self.tenant_id}" MetricName="{metric.name}"'
        return cloudwatch.SearchExpression(
            expression=f"SEARCH('{{{schema}}} {terms}', '{statistic}')",
            # A dynamic label: the application's (or model's) id names each line.
            label=f"${{PROP('Dim.{by}')}}{label_suffix}",
            period=period,
        )
