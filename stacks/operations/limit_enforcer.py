"""The limit enforcer of an operations account, and each limited tenant's enforcement plan.

Why the meter is Bedrock's own metrics per application inference profile, and how
the enforcer decides, is ``contracts.limits``; the function is ``lambda/limit_enforcer``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    CfnResource,
    Duration,
    Stack,
    Validations,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from contracts import naming
from contracts.blocks import downgrade_record_parameter_name, record_parameter_name
from contracts.limits import (
    ENFORCER_METRICS_NAMESPACE,
    METER_UNAVAILABLE_METRIC,
    EnforcementPlan,
    EnforcerSettings,
    limits_parameter_name,
    warning_parameter_name,
)
from contracts.registry import Operations, Tenant
from stacks.shared.alarm_topic import alarm_topic
from stacks.shared.function_log_group import FunctionLogGroup, default_policy, depend_on_policy_only
from stacks.shared.lambda_bundling import LambdaPlatform, python_function_code

ENFORCER_SOURCE = Path(__file__).resolve().parents[2] / "lambda" / "limit_enforcer"
ENFORCER_FUNCTION_NAME = "bedrock-limit-enforcer"
ENFORCER_SCHEDULE = events.Schedule.rate(Duration.minutes(1))
# GetMetricData has no resource type: IAM accepts only Resource "*" for it.
READ_METER_SID = "ReadBedrockMetrics"
# Tenants per managed policy: each tenant's role and three parameter ARNs fit a
# managed policy's 6,144 characters 15 at a time; a role takes 10 managed policies.
TENANTS_PER_POLICY = 15


def alarm_name(alarm: str) -> str:
    """The name of one of the enforcer's alarms."""
    return f"{ENFORCER_FUNCTION_NAME}-{alarm}"


class TenantLimitPlan(Construct):
    """The SSM parameter holding one limited tenant's :class:`EnforcementPlan` (JSON).

    In the tenant's own operations stack, beside its profiles: their ARNs, which
    Bedrock generates at deploy time, are resolved into it there.
    """

    def __init__(
        self, scope: Construct, id: str, *, tenant: Tenant, profile_arns: Mapping[str, str]
    ) -> None:
        super().__init__(scope, id)
        assert tenant.limits is not None
        # Validated with the registry (ids, models); the ARNs are tokens until deploy.
        plan = EnforcementPlan.model_construct(
            tenant_id=tenant.id,
            limits=tenant.limits,
            profiles=dict(sorted(profile_arns.items())),
            region=tenant.bedrock_region,
            price_overrides=dict(tenant.price_overrides),
        )
        self.parameter = ssm.StringParameter(
            self,
            "Parameter",
            parameter_name=limits_parameter_name(tenant.id),
            description=f"Limit of tenant {tenant.id}, read by the limit enforcer",
            string_value=Stack.of(self).to_json_string(plan.model_dump(mode="json")),
        )


class LimitEnforcer(Construct):
    """A function run every minute that meters each limited tenant of this operations
    account and blocks, downgrades, warns and lifts, with an audit line per action.

    Its role may change only the limited tenants' block and downgrade policies and
    their records, read the meter (``cloudwatch:GetMetricData``), publish to its
    topic and write its own logs. Its failures alarm (``Errors``), and so does a
    meter it cannot read where the registry fails closed.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        operations: Operations,
        settings: EnforcerSettings,
        tenants: Sequence[Tenant],
        platform: LambdaPlatform,
        code: lambda_.Code | None = None,
        log_retention_days: int = 365,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        partition = naming.partition_for_region(operations.region)

        self.topic = self._topic(operations.alert_email)
        self.role = iam.Role(
            self,
            "Role",
            description="Meters tenants' Bedrock use and applies their limits",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid=READ_METER_SID, actions=["cloudwatch:GetMetricData"], resources=["*"]
            )
        )
        # Not grant_publish: it grants kms:GenerateDataKey*, a wildcard action.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PublishWarnings", actions=["sns:Publish"], resources=[self.topic.topic_arn]
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptWarnings",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.topic_key.key_arn],
            )
        )
        self.log_group = FunctionLogGroup(
            self,
            "LogGroup",
            function_name=ENFORCER_FUNCTION_NAME,
            retention_days=log_retention_days,
        )
        self.log_group.grant_write(self.role)
        Validations.of(default_policy(self.role)).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "cloudwatch:GetMetricData has no resource type; IAM accepts only "
                    "Resource '*' for it. It reads metrics, and is the statement's only action."
                ),
            ),
        )
        for start in range(0, len(tenants), TENANTS_PER_POLICY):
            chunk = tenants[start : start + TENANTS_PER_POLICY]
            iam.ManagedPolicy(
                self,
                f"Restrictions{start // TENANTS_PER_POLICY}",
                description="Block, downgrade and warn these tenants, and only these",
                roles=[self.role],
                statements=_restriction_statements(stack, partition, chunk),
            )

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=ENFORCER_FUNCTION_NAME,
            description="Applies tenants' Bedrock spend and token limits (every minute)",
            runtime=platform.runtime,
            architecture=platform.architecture,
            handler="handler.lambda_handler",
            code=code or python_function_code(ENFORCER_SOURCE, platform),
            role=self.role,
            memory_size=256,
            # Under the schedule's minute: one pass never overlaps the next.
            timeout=Duration.seconds(50),
            # One pass at a time: two would race on the same records.
            reserved_concurrent_executions=1,
            log_group=self.log_group.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "LIMITED_TENANTS": ",".join(t.id for t in tenants),
                "FAIL_CLOSED_ON_METER_OUTAGE": str(settings.fail_closed_on_meter_outage).lower(),
                "ALERT_TOPIC_ARN": self.topic.topic_arn,
            },
        )
        depend_on_policy_only(self.function, self.role)
        self._acknowledge_function()

        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Runs the Bedrock limit enforcer",
            schedule=ENFORCER_SCHEDULE,
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        rule_resource = self.schedule.node.default_child
        assert isinstance(rule_resource, CfnResource)
        Validations.of(rule_resource).acknowledge(
            Acknowledgment(
                id="Serverless-EventBusDLQ",
                reason=(
                    "A missed run is repeated by the next minute's: each pass reads the "
                    "whole period from the meter, so a queue of old events adds nothing."
                ),
            )
        )
        self.alarms = [
            cloudwatch.Alarm(
                self,
                "ErrorsAlarm",
                alarm_name=alarm_name("errors"),
                alarm_description="The limit enforcer failed: limits may not be applied",
                metric=self.function.metric_errors(period=Duration.minutes(5)),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        ]
        if settings.fail_closed_on_meter_outage:
            self.alarms.append(
                cloudwatch.Alarm(
                    self,
                    "MeterAlarm",
                    alarm_name=alarm_name("meter-unavailable"),
                    alarm_description=(
                        "The meter (AWS/Bedrock metrics) cannot be read: limited tenants are "
                        "blocked until it can (fail closed)"
                    ),
                    metric=cloudwatch.Metric(
                        namespace=ENFORCER_METRICS_NAMESPACE,
                        metric_name=METER_UNAVAILABLE_METRIC,
                        statistic="Sum",
                        period=Duration.minutes(5),
                    ),
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for alarm in self.alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))

    def _topic(self, alert_email: str | None) -> sns.Topic:
        topic, self.topic_key = alarm_topic(
            self,
            key_description="Encrypts the limit enforcer's warnings and alarms",
            display_name="Bedrock limits (operations account)",
            alarm_name_pattern=alarm_name("*"),
            publish_sid="AllowTheEnforcersAlarmsToPublish",
            email=alert_email,
        )
        return topic

    def _acknowledge_function(self) -> None:
        function_resource = self.function.node.default_child
        assert isinstance(function_resource, CfnResource)
        Validations.of(function_resource).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason=(
                    "Runs on the same pinned Python as the invoker (LambdaPlatform), so one "
                    "runtime is qualified and upgraded for every function."
                ),
            ),
            Acknowledgment(
                id="Serverless-LambdaLatestVersion",
                reason=(
                    "Same pinned Python as the invoker (LambdaPlatform); they move to a newer "
                    "runtime together, as a tested change."
                ),
            ),
            Acknowledgment(
                id="Serverless-LambdaDLQ",
                reason=(
                    "Invoked by the schedule every minute; a failed pass is repeated by the "
                    "next one (it reads the whole period) and alarms on Errors."
                ),
            ),
            Acknowledgment(
                id="Serverless-LambdaTracing",
                reason=(
                    "A few API calls a minute; its audit lines and the Errors alarm carry "
                    "what a trace would."
                ),
            ),
        )


def _parameter_arn(stack: Stack, partition: str, name: str) -> str:
    return f"arn:{partition}:ssm:{stack.region}:{stack.account}:parameter/{name.lstrip('/')}"


def _restriction_statements(
    stack: Stack, partition: str, tenants: Sequence[Tenant]
) -> list[iam.PolicyStatement]:
    """The role and parameters of each tenant, named one by one: no wildcard."""
    roles = [
        naming.role_arn(stack.account, naming.invoker_role_name(t.id), partition) for t in tenants
    ]
    records = [
        _parameter_arn(stack, partition, name(t.id))
        for t in tenants
        for name in (record_parameter_name, downgrade_record_parameter_name, warning_parameter_name)
    ]
    plans = [_parameter_arn(stack, partition, limits_parameter_name(t.id)) for t in tenants]
    return [
        iam.PolicyStatement(
            sid="BlockAndDowngradeTheseTenants",
            actions=["iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
            resources=roles,
        ),
        iam.PolicyStatement(
            sid="KeepTheirRecords",
            actions=["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
            resources=records,
        ),
        iam.PolicyStatement(sid="ReadTheirPlans", actions=["ssm:GetParameters"], resources=plans),
    ]
