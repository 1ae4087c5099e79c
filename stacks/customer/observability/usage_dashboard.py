"""The tenant's usage dashboard, in its own account.

Graphs read the metrics each usage record carries (``contracts.usage_metrics``);
the table of top users reads the records themselves with Logs Insights, since
user ids are never metric dimensions. Per-application and per-model lines come
from SEARCH expressions: applications are not known at synth.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts import naming
from contracts import usage_metrics as m
from contracts.registry import AlarmSettings
from stacks.customer.observability.tenant_metrics import FIVE_MINUTES, TenantMetrics
from stacks.customer.observability.usage_queries import top_users_by_tokens

FULL, HALF = 24, 12
GRAPH_HEIGHT = 6


class UsageDashboard(Construct):
    """Tokens, calls, errors, latency, throttles and cost of one tenant, and its top users."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant_id: str,
        usage_log_group_name: str,
        function: lambda_.Function,
        alarm_settings: AlarmSettings,
        alarm_names: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        metrics = TenantMetrics(tenant_id)
        timeout = function.timeout
        assert timeout is not None, "the invoker function sets its timeout"

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=naming.dashboard_name(tenant_id),
            default_interval=Duration.days(7),
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    f"# Bedrock usage: {tenant_id}\n"
                    f"Metrics from each usage record (namespace `{m.NAMESPACE}`); the top-users "
                    f"table reads the log group `{usage_log_group_name}`. Saved queries: "
                    f"Logs Insights, *Saved queries*, `{naming.saved_query_name(tenant_id, '')}`."
                ),
                width=FULL,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            _graph(
                "Input tokens by application",
                [metrics.search(m.INPUT_TOKENS, by=m.APPLICATION_DIMENSION)],
                stacked=True,
            ),
            _graph(
                "Output tokens by application",
                [metrics.search(m.OUTPUT_TOKENS, by=m.APPLICATION_DIMENSION)],
                stacked=True,
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Invocations and errors",
                [
                    metrics.total(m.INVOCATIONS, label="Invocations"),
                    metrics.total(m.ERRORS, label="Errors"),
                ],
                right=[
                    cloudwatch.MathExpression(
                        expression="100 * errors / invocations",
                        using_metrics={
                            "errors": metrics.total(m.ERRORS),
                            "invocations": metrics.total(m.INVOCATIONS),
                        },
                        label="Error rate (%)",
                        period=FIVE_MINUTES,
                    )
                ],
            ),
            _graph(
                "Throttles",
                [
                    metrics.total(m.THROTTLES, label="Bedrock refused for quota"),
                    function.metric_throttles(
                        period=FIVE_MINUTES, label="Lambda throttled (concurrency)"
                    ),
                ],
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Latency (ms): p50, p90, p99",
                [
                    metrics.total(m.LATENCY_MS, statistic=stat, label=stat)
                    for stat in ("p50", "p90", "p99")
                ],
            ),
            _graph(
                "Cache tokens: read and write",
                [
                    metrics.total(m.CACHE_READ_INPUT_TOKENS, label="Cache read"),
                    metrics.total(m.CACHE_WRITE_INPUT_TOKENS, label="Cache write"),
                ],
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Cost (USD) by application",
                [metrics.search(m.COST_USD, by=m.APPLICATION_DIMENSION)],
                stacked=True,
            ),
            _graph(
                "Cost (USD) by model",
                [metrics.search(m.COST_USD, by=m.MODEL_DIMENSION)],
                stacked=True,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.SingleValueWidget(
                title=_budget_title(alarm_settings),
                metrics=[
                    metrics.total(m.INPUT_TOKENS, label="Input tokens"),
                    metrics.total(m.OUTPUT_TOKENS, label="Output tokens"),
                    metrics.total(m.CACHE_READ_INPUT_TOKENS, label="Cache read tokens"),
                    metrics.total(m.CACHE_WRITE_INPUT_TOKENS, label="Cache write tokens"),
                    metrics.total(m.COST_USD, label="Cost (USD)"),
                ],
                # One number per metric for the whole 30 days, whatever the dashboard's range.
                start="-P30D",
                set_period_to_time_range=True,
                full_precision=False,
                width=HALF,
                height=GRAPH_HEIGHT,
            ),
            _graph(
                "Invoker function: errors and longest run (ms)",
                [function.metric_errors(period=FIVE_MINUTES, label="Function errors")],
                right=[
                    function.metric_duration(
                        period=FIVE_MINUTES,
                        statistic=cloudwatch.Stats.MAXIMUM,
                        label="Longest run (ms)",
                    )
                ],
                right_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=timeout.to_milliseconds(), label="Timeout"
                    )
                ],
            ),
        )
        if alarm_names:
            # By name, not by reference: the embedded cloud does not create alarms,
            # and a reference to one would fail its whole deploy.
            shown = [
                cloudwatch.Alarm.from_alarm_name(self, f"Alarm{i}", name)
                for i, name in enumerate(alarm_names)
            ]
            self.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(title="Alarms", alarms=shown, width=FULL, height=3)
            )
        self.dashboard.add_widgets(
            cloudwatch.LogQueryWidget(
                title="Top users by tokens",
                log_group_names=[usage_log_group_name],
                query_string=top_users_by_tokens().to_string(),
                view=cloudwatch.LogQueryVisualizationType.TABLE,
                width=FULL,
                height=GRAPH_HEIGHT,
            )
        )


def _graph(
    title: str,
    left: Sequence[cloudwatch.IMetric],
    *,
    right: Sequence[cloudwatch.IMetric] = (),
    right_annotations: Sequence[cloudwatch.HorizontalAnnotation] = (),
    stacked: bool = False,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=list(left),
        right=list(right),
        right_annotations=list(right_annotations),
        left_y_axis=cloudwatch.YAxisProps(min=0),
        right_y_axis=cloudwatch.YAxisProps(min=0),
        stacked=stacked,
        width=HALF,
        height=GRAPH_HEIGHT,
    )


def _budget_title(settings: AlarmSettings) -> str:
    budgets = []
    if settings.monthly_token_budget is not None:
        budgets.append(f"{settings.monthly_token_budget:,} tokens")
    if settings.monthly_cost_budget_usd is not None:
        budgets.append(f"${settings.monthly_cost_budget_usd:,.2f}")
    suffix = f" (monthly budget: {' and '.join(budgets)})" if budgets else ""
    return f"Last 30 days{suffix}"
