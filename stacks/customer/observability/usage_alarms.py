"""The tenant's CloudWatch alarms, with thresholds from the registry (``AlarmSettings``).

Four alarms watch the last five minutes: the error rate and the throttles from
the usage records' metrics, the function's own errors and its longest run
against its timeout from Lambda's metrics. Two optional ones watch the token
and cost budgets.

A CloudWatch alarm cannot sum a calendar month: its evaluation range (period
times evaluation periods) is at most 7 days. So a budget alarm measures pace:
it fires when the trailing 7 days used more than 7 days' share of the monthly
budget (``budget * 7 / 30.4375``, the mean month), i.e. when the month would
overrun the budget at that week's rate. It cannot see spend from earlier in
the month.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from contracts import naming
from contracts import usage_metrics as m
from contracts.registry import AlarmSettings
from stacks.customer.observability.tenant_metrics import (
    FIVE_MINUTES,
    MAXIMUM,
    SUM,
    TenantMetrics,
    lambda_alarm_metric,
)
from stacks.shared.alarm_topic import alarm_topic

# The longest evaluation range CloudWatch allows an alarm (period >= 1 hour).
BUDGET_WINDOW_DAYS = 7
BUDGET_WINDOW = BUDGET_WINDOW_DAYS * 24 * 3600
# 365.25 / 12: the mean length of a month, so a week's share does not depend on the month.
DAYS_PER_MONTH = 30.4375
# The tokens a budget counts: everything Bedrock bills (its totalTokens).
BUDGET_TOKEN_METRICS = (
    m.INPUT_TOKENS,
    m.OUTPUT_TOKENS,
    m.CACHE_READ_INPUT_TOKENS,
    m.CACHE_WRITE_INPUT_TOKENS,
)
# The id CDK's Alarm gives a metric-math alarm's expression; kept so the
# templates stay as they were when the alarms were L2 constructs.
EXPRESSION_ID = "expr_1"


def weekly_share(monthly_budget: float) -> float:
    """The part of a monthly budget the budget window may use before its alarm fires."""
    return monthly_budget * BUDGET_WINDOW_DAYS / DAYS_PER_MONTH


def math_alarm_metric(
    expression: str,
    *,
    label: str,
    inputs: list[cloudwatch.CfnAlarm.MetricDataQueryProperty],
) -> dict[str, Any]:
    """A metric-math alarm's properties: the expression it compares, then its hidden inputs."""
    shown = cloudwatch.CfnAlarm.MetricDataQueryProperty(
        id=EXPRESSION_ID, expression=expression, label=label, return_data=True
    )
    return {"metrics": [shown, *inputs]}


class UsageAlarms(Construct):
    """The alarms and, when the registry names an e-mail address, the topic that mails them.

    Every alarm notifies the new topic (``email``) and the existing one
    (``sns_topic_arn``), whichever are set; with neither, the alarms only show
    on the dashboard.

    Each alarm is an L1 ``CfnAlarm`` in a construct of the alarm's id: the
    construct path, hence the logical id, is the one CDK's ``Alarm`` had
    (``<id>/Resource``), so an existing stack updates its alarms in place.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant_id: str,
        settings: AlarmSettings,
        function: lambda_.Function,
    ) -> None:
        super().__init__(scope, id)
        self._tenant_id = tenant_id
        # The alarms' names as written (an alarm's alarm_name is a reference to it).
        self.alarm_names: list[str] = []
        metrics = TenantMetrics(tenant_id)
        self.topic = self._email_topic(settings.email) if settings.email else None
        self.alarm_actions: list[str] = [self.topic.topic_arn] if self.topic else []
        if settings.sns_topic_arn:
            self.alarm_actions.append(settings.sns_topic_arn)
        function_name = function.function_name

        error_rate = math_alarm_metric(
            "100 * errors / invocations",
            label="Error rate (%)",
            inputs=[
                metrics.alarm_query("errors", m.ERRORS, period=FIVE_MINUTES),
                metrics.alarm_query("invocations", m.INVOCATIONS, period=FIVE_MINUTES),
            ],
        )
        self.alarms: dict[str, cloudwatch.CfnAlarm] = {
            "error-rate": self._alarm(
                "ErrorRate",
                "error-rate",
                error_rate,
                threshold=settings.error_rate_percent,
                description=(
                    f"At least {settings.error_rate_percent:g}% of Bedrock calls failed "
                    "in 5 minutes (usage records' Errors / Invocations)."
                ),
            ),
            "throttles": self._alarm(
                "Throttles",
                "throttles",
                metrics.alarm_metric(m.THROTTLES, period=FIVE_MINUTES),
                threshold=settings.throttles_per_5_minutes,
                description=(
                    f"Bedrock refused at least {settings.throttles_per_5_minutes} calls for "
                    "quota in 5 minutes (ThrottlingException and similar)."
                ),
            ),
            "function-errors": self._alarm(
                "FunctionErrors",
                "function-errors",
                lambda_alarm_metric("Errors", function_name, stat=SUM),
                threshold=settings.function_errors_per_5_minutes,
                description=(
                    f"Lambda counted at least {settings.function_errors_per_5_minutes} failed "
                    "invocations of the invoker function in 5 minutes (its Errors metric: "
                    "unhandled exceptions, timeouts, crashes)."
                ),
            ),
        }
        timeout = function.timeout
        assert timeout is not None, "the invoker function sets its timeout"
        timeout_seconds = timeout.to_seconds()
        limit_ms = timeout_seconds * 1000 * settings.duration_percent_of_timeout / 100
        self.alarms["duration"] = self._alarm(
            "Duration",
            "duration-near-timeout",
            lambda_alarm_metric("Duration", function_name, stat=MAXIMUM),
            threshold=limit_ms,
            description=(
                f"An invocation ran at least {settings.duration_percent_of_timeout:g}% of the "
                f"function's {timeout_seconds:g} s timeout ({limit_ms:g} ms) "
                "in 5 minutes."
            ),
        )
        if settings.monthly_token_budget is not None:
            tokens = math_alarm_metric(
                " + ".join(f"m{i}" for i in range(len(BUDGET_TOKEN_METRICS))),
                label="Tokens, last 7 days",
                inputs=[
                    metrics.alarm_query(f"m{i}", metric, period=BUDGET_WINDOW)
                    for i, metric in enumerate(BUDGET_TOKEN_METRICS)
                ],
            )
            self.alarms["token-budget"] = self._budget_alarm(
                "TokenBudget",
                "token-budget-pace",
                tokens,
                monthly=settings.monthly_token_budget,
                what=f"{settings.monthly_token_budget:,} tokens",
            )
        if settings.monthly_cost_budget_usd is not None:
            self.alarms["cost-budget"] = self._budget_alarm(
                "CostBudget",
                "cost-budget-pace",
                metrics.alarm_metric(m.COST_USD, period=BUDGET_WINDOW),
                monthly=settings.monthly_cost_budget_usd,
                what=f"${settings.monthly_cost_budget_usd:,.2f}",
            )

    def _alarm(
        self,
        id: str,
        name: str,
        metric: dict[str, Any],
        *,
        threshold: float,
        description: str,
    ) -> cloudwatch.CfnAlarm:
        return self._cfn_alarm(
            id,
            name,
            metric,
            threshold=threshold,
            description=description,
            comparison_operator="GreaterThanOrEqualToThreshold",
        )

    def _budget_alarm(
        self, id: str, name: str, metric: dict[str, Any], *, monthly: float, what: str
    ) -> cloudwatch.CfnAlarm:
        share = weekly_share(monthly)
        return self._cfn_alarm(
            id,
            name,
            metric,
            threshold=share,
            description=(
                f"The last 7 days used more than a week's share ({share:,.2f}) of the monthly "
                f"budget of {what}: at this rate the month overruns it. This is a pace, not "
                "the month to date (CloudWatch alarms look back 7 days at most)."
            ),
            comparison_operator="GreaterThanThreshold",
        )

    def _cfn_alarm(
        self,
        id: str,
        name: str,
        metric: dict[str, Any],
        *,
        threshold: float,
        description: str,
        comparison_operator: str,
    ) -> cloudwatch.CfnAlarm:
        return cloudwatch.CfnAlarm(
            Construct(self, id),
            "Resource",
            alarm_name=self._name(name),
            alarm_description=description,
            threshold=threshold,
            comparison_operator=comparison_operator,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            # No calls, no datapoint: an idle tenant is healthy, not in alarm and
            # not INSUFFICIENT_DATA (which would look broken on the dashboard); a
            # week without calls spent nothing, under budget.
            treat_missing_data="notBreaching",
            alarm_actions=self.alarm_actions or None,
            **metric,
        )

    def _name(self, name: str) -> str:
        full = naming.alarm_name(self._tenant_id, name)
        self.alarm_names.append(full)
        return full

    def _email_topic(self, email: str) -> sns.Topic:
        """A topic under its own key that only this tenant's alarms may publish to."""
        topic, _ = alarm_topic(
            self,
            key_description="Encrypts this tenant's Bedrock usage alarm notices",
            display_name="Bedrock usage alarms",
            alarm_name_pattern=naming.alarm_name(self._tenant_id, "*"),
            publish_sid="AllowThisTenantsAlarmsToPublish",
            email=email,
        )
        return topic
