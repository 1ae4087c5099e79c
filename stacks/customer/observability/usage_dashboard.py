"""The tenant's usage dashboard, in its own account.

Graphs read the metrics each usage record carries (``contracts.usage_metrics``);
the table of top users reads the records themselves with Logs Insights, since
user ids are never metric dimensions. Per-application and per-model lines come
from SEARCH expressions: applications are not known at synth.

The body is built here as plain JSON (CloudWatch's dashboard body structure)
and handed to the L1 ``CfnDashboard`` in one call: the L2 ``Dashboard`` and its
widgets and metrics cost a jsii round trip each, hundreds per tenant in a fleet
synth. The few deploy-time values (the region, the function's name, the
StackSet's tenant parameter) are CDK tokens inside the JSON text, which CDK
turns into an ``Fn::Join``. The JSON is written as CDK's ``Dashboard`` wrote it
(key order, compact separators, row layout), so an existing stack's dashboard
does not change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts import naming
from contracts import usage_metrics as m
from contracts.registry import AlarmSettings
from stacks.customer.observability.tenant_metrics import MAXIMUM, TenantMetrics, lambda_line
from stacks.customer.observability.usage_queries import top_users_by_tokens

FULL, HALF = 24, 12
GRAPH_HEIGHT = 6
# The time range the dashboard opens with.
DEFAULT_RANGE = "-P7D"


@cache
def top_users_query() -> str:
    """The top-users table's query text, the same for every tenant."""
    return top_users_by_tokens().to_string()


def widget(kind: str, properties: dict[str, Any], *, width: int, height: int) -> dict[str, Any]:
    """A widget before layout; ``rows`` gives it its place."""
    return {"type": kind, "width": width, "height": height, "properties": properties}


def rows(*lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The widgets placed left to right in rows, each row below the tallest of the last."""
    placed: list[dict[str, Any]] = []
    y = 0
    for line in lines:
        x = 0
        for w in line:
            placed.append(
                {
                    "type": w["type"],
                    "width": w["width"],
                    "height": w["height"],
                    "x": x,
                    "y": y,
                    "properties": w["properties"],
                }
            )
            x += w["width"]
        y += max((w["height"] for w in line), default=0)
    return placed


def graph(
    title: str,
    left: Sequence[list[Any]],
    *,
    right: Sequence[list[Any]] = (),
    right_annotations: Sequence[dict[str, Any]] = (),
    stacked: bool = False,
    region: str,
) -> dict[str, Any]:
    """A time-series graph, both axes from 0; ``right`` lines are drawn on the right axis."""
    properties: dict[str, Any] = {
        "view": "timeSeries",
        "title": title,
        "region": region,
        "stacked": stacked,
        "metrics": [*left, *(_on_right(line) for line in right)],
    }
    if right_annotations:
        properties["annotations"] = {
            "horizontal": [{**a, "yAxis": "right"} for a in right_annotations]
        }
    properties["yAxis"] = {"left": {"min": 0}, "right": {"min": 0}}
    return widget("metric", properties, width=HALF, height=GRAPH_HEIGHT)


def _on_right(line: list[Any]) -> list[Any]:
    *identity, options = line
    return [*identity, {**options, "yAxis": "right"}]


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
        body = {
            "start": DEFAULT_RANGE,
            "widgets": usage_widgets(
                tenant_id=tenant_id,
                usage_log_group_name=usage_log_group_name,
                function_name=function.function_name,
                timeout_ms=_timeout_ms(function),
                alarm_settings=alarm_settings,
                alarm_arns=_alarm_arns(self, alarm_names),
                region=Aws.REGION,
            ),
        }
        # The construct path CDK's Dashboard had (Dashboard/Resource): same logical id.
        self.dashboard = cloudwatch.CfnDashboard(
            Construct(self, "Dashboard"),
            "Resource",
            dashboard_name=naming.dashboard_name(tenant_id),
            # As JSON.stringify writes it: compact, and non-ASCII text as it is.
            dashboard_body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        )


def usage_widgets(
    *,
    tenant_id: str,
    usage_log_group_name: str,
    function_name: str,
    timeout_ms: float,
    alarm_settings: AlarmSettings,
    alarm_arns: Sequence[str],
    region: str,
) -> list[dict[str, Any]]:
    """Every widget of the tenant's dashboard, laid out."""
    metrics = TenantMetrics(tenant_id)
    intro = widget(
        "text",
        {
            "markdown": (
                f"# Bedrock usage: {tenant_id}\n"
                f"Metrics from each usage record (namespace `{m.NAMESPACE}`); the top-users "
                f"table reads the log group `{usage_log_group_name}`. Saved queries: "
                f"Logs Insights, *Saved queries*, `{naming.saved_query_name(tenant_id, '')}`."
            )
        },
        width=FULL,
        height=2,
    )
    layout: list[list[dict[str, Any]]] = [
        [intro],
        [
            graph(
                "Input tokens by application",
                [metrics.search(m.INPUT_TOKENS, by=m.APPLICATION_DIMENSION)],
                stacked=True,
                region=region,
            ),
            graph(
                "Output tokens by application",
                [metrics.search(m.OUTPUT_TOKENS, by=m.APPLICATION_DIMENSION)],
                stacked=True,
                region=region,
            ),
        ],
        [
            graph(
                "Invocations and errors",
                [
                    metrics.line(m.INVOCATIONS, label="Invocations", id="invocations"),
                    metrics.line(m.ERRORS, label="Errors", id="errors"),
                ],
                # The error rate divides the two lines on the left (their ids).
                right=[[{"label": "Error rate (%)", "expression": "100 * errors / invocations"}]],
                region=region,
            ),
            graph(
                "Throttles",
                [
                    metrics.line(m.THROTTLES, label="Bedrock refused for quota"),
                    lambda_line("Throttles", function_name, label="Lambda throttled (concurrency)"),
                ],
                region=region,
            ),
        ],
        [
            graph(
                "Latency (ms): p50, p90, p99",
                [
                    metrics.line(m.LATENCY_MS, stat=stat, label=stat)
                    for stat in ("p50", "p90", "p99")
                ],
                region=region,
            ),
            graph(
                "Cache tokens: read and write",
                [
                    metrics.line(m.CACHE_READ_INPUT_TOKENS, label="Cache read"),
                    metrics.line(m.CACHE_WRITE_INPUT_TOKENS, label="Cache write"),
                ],
                region=region,
            ),
        ],
        [
            graph(
                "Cost (USD) by application",
                [metrics.search(m.COST_USD, by=m.APPLICATION_DIMENSION)],
                stacked=True,
                region=region,
            ),
            graph(
                "Cost (USD) by model",
                [metrics.search(m.COST_USD, by=m.MODEL_DIMENSION)],
                stacked=True,
                region=region,
            ),
        ],
        [
            widget(
                "metric",
                {
                    "view": "singleValue",
                    "title": _budget_title(alarm_settings),
                    "region": region,
                    "metrics": [
                        metrics.line(m.INPUT_TOKENS, label="Input tokens"),
                        metrics.line(m.OUTPUT_TOKENS, label="Output tokens"),
                        metrics.line(m.CACHE_READ_INPUT_TOKENS, label="Cache read tokens"),
                        metrics.line(m.CACHE_WRITE_INPUT_TOKENS, label="Cache write tokens"),
                        metrics.line(m.COST_USD, label="Cost (USD)"),
                    ],
                    # One number per metric for the whole 30 days, whatever the dashboard's range.
                    "setPeriodToTimeRange": True,
                    "singleValueFullPrecision": False,
                    "start": "-P30D",
                },
                width=HALF,
                height=GRAPH_HEIGHT,
            ),
            graph(
                "Invoker function: errors and longest run (ms)",
                [lambda_line("Errors", function_name, label="Function errors")],
                right=[
                    lambda_line("Duration", function_name, stat=MAXIMUM, label="Longest run (ms)")
                ],
                right_annotations=[{"value": timeout_ms, "label": "Timeout"}],
                region=region,
            ),
        ],
    ]
    if alarm_arns:
        layout.append(
            [widget("alarm", {"title": "Alarms", "alarms": list(alarm_arns)}, width=FULL, height=3)]
        )
    layout.append(
        [
            widget(
                "log",
                {
                    "view": "table",
                    "title": "Top users by tokens",
                    "region": region,
                    "query": f"SOURCE '{usage_log_group_name}' | {top_users_query()}",
                },
                width=FULL,
                height=GRAPH_HEIGHT,
            )
        ]
    )
    return rows(*layout)


def _timeout_ms(function: lambda_.Function) -> float:
    timeout = function.timeout
    assert timeout is not None, "the invoker function sets its timeout"
    return timeout.to_milliseconds()


def _alarm_arns(scope: Construct, alarm_names: Sequence[str]) -> list[str]:
    """The alarms by ARN, built from their names.

    By name, not by reference: the embedded cloud does not create alarms, and a
    reference to one would fail its whole deploy.
    """
    if not alarm_names:
        return []
    prefix = Stack.of(scope).format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name="",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    return [prefix + name for name in alarm_names]


def _budget_title(settings: AlarmSettings) -> str:
    budgets = []
    if settings.monthly_token_budget is not None:
        budgets.append(f"{settings.monthly_token_budget:,} tokens")
    if settings.monthly_cost_budget_usd is not None:
        budgets.append(f"${settings.monthly_cost_budget_usd:,.2f}")
    suffix = f" (monthly budget: {' and '.join(budgets)})" if budgets else ""
    return f"Last 30 days{suffix}"
