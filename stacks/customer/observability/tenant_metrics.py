"""The tenant's usage metrics as plain data, for its dashboard body and its alarms.

The names, namespace and dimension sets are ``contracts.usage_metrics``'s, the
same the function's EMF block declares; this module only says which of them a
graph or an alarm reads.

Plain dicts and jsii structs rather than ``aws_cloudwatch.Metric`` objects: a
metric object costs a round trip to the jsii kernel each time it is made or
used, and the dashboard and alarms read dozens of them per tenant. A struct
(``CfnAlarm.MetricStatProperty``) is Python data until the one call that
creates its alarm.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch

from contracts import usage_metrics as m

# Seconds: every graph and the short alarms read five-minute datapoints.
FIVE_MINUTES = 300
# CloudWatch's statistic names, as its API spells them.
SUM = "Sum"
MAXIMUM = "Maximum"
LAMBDA_NAMESPACE = "AWS/Lambda"


def graph_options(
    *,
    label: str | None = None,
    id: str | None = None,
    stat: str | None = None,
    y_axis: str | None = None,
) -> dict[str, Any]:
    """A dashboard metric line's rendering options, in the order CDK writes them."""
    options = {"label": label, "id": id, "stat": stat, "yAxis": y_axis}
    return {key: value for key, value in options.items() if value is not None}


def lambda_line(
    metric_name: str, function_name: str, *, stat: str = SUM, **options: str
) -> list[Any]:
    """A dashboard line of the invoker function's own Lambda metric."""
    return [
        LAMBDA_NAMESPACE,
        metric_name,
        "FunctionName",
        function_name,
        graph_options(stat=stat, **options),
    ]


def lambda_alarm_metric(metric_name: str, function_name: str, *, stat: str) -> dict[str, Any]:
    """A single-metric alarm's properties on the invoker function's Lambda metric."""
    return {
        "namespace": LAMBDA_NAMESPACE,
        "metric_name": metric_name,
        "dimensions": [
            cloudwatch.CfnAlarm.DimensionProperty(name="FunctionName", value=function_name)
        ],
        "statistic": stat,
        "period": FIVE_MINUTES,
    }


class TenantMetrics:
    """One tenant's usage metrics: its roll-up, and searches over its applications or models."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        dimensions = {m.TENANT_DIMENSION: tenant_id}
        assert tuple(dimensions) == m.TENANT_DIMENSIONS
        self._dimensions = dimensions

    def line(self, metric: m.UsageMetric, *, stat: str = SUM, **options: str) -> list[Any]:
        """A dashboard line of ``metric`` on the tenant roll-up dimension set ([TenantId])."""
        identity: list[Any] = [m.NAMESPACE, metric.name]
        for name, value in self._dimensions.items():
            identity += [name, value]
        return [*identity, graph_options(stat=stat, **options)]

    def search(
        self, metric: m.UsageMetric, *, by: str, stat: str = SUM, label_suffix: str = ""
    ) -> list[Any]:
        """One line per application or model (``by``) that reported ``metric`` lately.

        Applications are not known at synth, so a SEARCH finds them; it sees
        metrics that reported data in the last two weeks.
        """
        dimension_set = next(s for s in m.DIMENSION_SETS if s[1:] == (by,))
        schema = ",".join((m.NAMESPACE, *dimension_set))
        terms = f'{m.TENANT_DIMENSION}="{self.tenant_id}" MetricName="{metric.name}"'
        return [
            {
                # A dynamic label: the application's (or model's) id names each line.
                "label": f"${{PROP('Dim.{by}')}}{label_suffix}",
                "expression": f"SEARCH('{{{schema}}} {terms}', '{stat}')",
            }
        ]

    def alarm_dimensions(self) -> list[cloudwatch.CfnAlarm.DimensionProperty]:
        """The roll-up dimension set as an alarm names it."""
        return [
            cloudwatch.CfnAlarm.DimensionProperty(name=name, value=value)
            for name, value in self._dimensions.items()
        ]

    def alarm_metric(
        self, metric: m.UsageMetric, *, period: int, stat: str = SUM
    ) -> dict[str, Any]:
        """A single-metric alarm's properties on ``metric``'s roll-up."""
        return {
            "namespace": m.NAMESPACE,
            "metric_name": metric.name,
            "dimensions": self.alarm_dimensions(),
            "statistic": stat,
            "period": period,
        }

    def alarm_query(
        self, id: str, metric: m.UsageMetric, *, period: int, stat: str = SUM
    ) -> cloudwatch.CfnAlarm.MetricDataQueryProperty:
        """``metric``'s roll-up as a hidden input of a metric-math alarm."""
        return cloudwatch.CfnAlarm.MetricDataQueryProperty(
            id=id,
            metric_stat=cloudwatch.CfnAlarm.MetricStatProperty(
                metric=cloudwatch.CfnAlarm.MetricProperty(
                    namespace=m.NAMESPACE,
                    metric_name=metric.name,
                    dimensions=self.alarm_dimensions(),
                ),
                period=period,
                stat=stat,
            ),
            return_data=False,
        )
