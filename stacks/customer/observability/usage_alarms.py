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

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from contracts import naming
from contracts import usage_metrics as m
from contracts.registry import AlarmSettings
from stacks.customer.observability.tenant_metrics import FIVE_MINUTES, TenantMetrics
from stacks.shared.alarm_topic import alarm_topic

# The longest evaluation range CloudWatch allows an alarm (period >= 1 hour).
BUDGET_WINDOW = Duration.days(7)
# 365.25 / 12: the mean length of a month, so a week's share does not depend on the month.
DAYS_PER_MONTH = 30.4375
# The tokens a budget counts: everything Bedrock bills (its totalTokens).
BUDGET_TOKEN_METRICS = (
    m.INPUT_TOKENS,
    m.OUTPUT_TOKENS,
    m.CACHE_READ_INPUT_TOKENS,
    m.CACHE_WRITE_INPUT_TOKENS,
)


def weekly_share(monthly_budget: float) -> float:
    """The part of a monthly budget the budget window may use before its alarm fires."""
    return monthly_budget * BUDGET_WINDOW.to_days() / DAYS_PER_MONTH


class UsageAlarms(Construct):
    """The alarms and, when the registry names an e-mail address, the topic that mails them.

    Every alarm notifies the new topic (``email``) and the existing one
    (``sns_topic_arn``), whichever are set; with neither, the alarms only show
    on the dashboard.
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
        self.topics: list[sns.ITopic] = [self.topic] if self.topic else []
        if settings.sns_topic_arn:
            self.topics.append(
                sns.Topic.from_topic_arn(self, "ExistingTopic", settings.sns_topic_arn)
            )

        error_rate = cloudwatch.MathExpression(
            expression="100 * errors / invocations",
            using_metrics={
                "errors": metrics.total(m.ERRORS),
                "invocations": metrics.total(m.INVOCATIONS),
            },
            label="Error rate (%)",
            period=FIVE_MINUTES,
        )
        self.alarms: dict[str, cloudwatch.Alarm] = {
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
                metrics.total(m.THROTTLES),
                threshold=settings.throttles_per_5_minutes,
                description=(
                    f"Bedrock refused at least {settings.throttles_per_5_minutes} calls for "
                    "quota in 5 minutes (ThrottlingException and similar)."
                ),
            ),
            "function-errors": self._alarm(
                "FunctionErrors",
                "function-errors",
                function.metric_errors(period=FIVE_MINUTES, statistic=cloudwatch.Stats.SUM),
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
        limit_ms = timeout.to_milliseconds() * settings.duration_percent_of_timeout / 100
        self.alarms["duration"] = self._alarm(
            "Duration",
            "duration-near-timeout",
            function.metric_duration(period=FIVE_MINUTES, statistic=cloudwatch.Stats.MAXIMUM),
            threshold=limit_ms,
            description=(
                f"An invocation ran at least {settings.duration_percent_of_timeout:g}% of the "
                f"function's {timeout.to_seconds():g} s timeout ({limit_ms:g} ms) "
                "in 5 minutes."
            ),
        )
        if settings.monthly_token_budget is not None:
            tokens = cloudwatch.MathExpression(
                expression=" + ".join(f"m{i}" for i in range(len(BUDGET_TOKEN_METRICS))),
                using_metrics={
                    f"m{i}": metrics.total(metric, period=BUDGET_WINDOW)
                    for i, metric in enumerate(BUDGET_TOKEN_METRICS)
                },
                label="Tokens, last 7 days",
                period=BUDGET_WINDOW,
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
                metrics.total(m.COST_USD, period=BUDGET_WINDOW),
                monthly=settings.monthly_cost_budget_usd,
                what=f"${settings.monthly_cost_budget_usd:,.2f}",
            )

    def _alarm(
        self,
        id: str,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            id,
            alarm_name=self._name(name),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            # No calls, no datapoint: an idle tenant is healthy, not in alarm and
            # not INSUFFICIENT_DATA (which would look broken on the dashboard).
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._notify(alarm)
        return alarm

    def _budget_alarm(
        self, id: str, name: str, metric: cloudwatch.IMetric, *, monthly: float, what: str
    ) -> cloudwatch.Alarm:
        share = weekly_share(monthly)
        alarm = cloudwatch.Alarm(
            self,
            id,
            alarm_name=self._name(name),
            alarm_description=(
                f"The last 7 days used more than a week's share ({share:,.2f}) of the monthly "
                f"budget of {what}: at this rate the month overruns it. This is a pace, not "
                "the month to date (CloudWatch alarms look back 7 days at most)."
            ),
            metric=metric,
            threshold=share,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            # A week without calls spent nothing: under budget.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._notify(alarm)
        return alarm

    def _name(self, name: str) -> str:
        full = naming.alarm_name(self._tenant_id, name)
        self.alarm_names.append(full)
        return full

    def _notify(self, alarm: cloudwatch.Alarm) -> None:
        for topic in self.topics:
            alarm.add_alarm_action(actions.SnsAction(topic))

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
