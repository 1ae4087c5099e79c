"""The tenant's usage log group and the customer-managed key that encrypts it."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    Duration,
    RemovalPolicy,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from contracts import naming
from contracts.usage_record import LOG_RETENTION_DAYS


def set_retention_days(log_group: logs.LogGroup, days: int) -> None:
    """Set a log group's retention in days, one of ``LOG_RETENTION_DAYS``.

    The L2 construct only takes ``RetentionDays`` members, whose Python values are
    their names; the registry and CloudWatch speak days. The L1 property takes the
    days as they are, so the set of valid values has one definition (the contract).
    """
    # A StackSet parameter (a token) is held to the same values by its AllowedValues.
    if not Token.is_unresolved(days) and days not in LOG_RETENTION_DAYS:
        raise ValueError(f"{days} is not a CloudWatch Logs retention value")
    cfn = log_group.node.default_child
    assert isinstance(cfn, logs.CfnLogGroup)
    cfn.retention_in_days = days


def retained_rotating_key(scope: Construct, id: str, *, description: str) -> kms.Key:
    """Every key this product makes: yearly rotation, kept when its stack is deleted
    (data it encrypted may outlive the stack), the longest deletion window."""
    return kms.Key(
        scope,
        id,
        description=description,
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
        pending_window=Duration.days(30),
    )


def log_group_arn(stack: Stack, name: str) -> str:
    """The log group's ARN as IAM and KMS conditions expect it (no trailing ``:*``)."""
    partition = naming.partition_for_region(stack.region)
    return f"arn:{partition}:logs:{stack.region}:{stack.account}:log-group:{name}"


class UsageLogKey(Construct):
    """A rotating KMS key CloudWatch Logs may use only for the named log groups.

    The key policy pins ``kms:EncryptionContext:aws:logs:arn`` to those groups'
    ARNs, so the key cannot be borrowed for another log group in the account.
    """

    def __init__(self, scope: Construct, id: str, *, log_group_names: Sequence[str]) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.key = retained_rotating_key(
            self, "Key", description="Encrypts this tenant's Bedrock usage logs"
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForTheseLogGroupsOnly",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "ArnEquals": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            log_group_arn(stack, name) for name in log_group_names
                        ]
                    }
                },
            )
        )


class UsageLogGroup(Construct):
    """Where the invoker writes one usage record per Bedrock call, in the tenant's account.

    Retained on stack deletion: usage records are the tenant's data and
    offboarding must not destroy them.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        log_group_name: str,
        retention_days: int,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=log_group_name,
            retention=logs.RetentionDays.INFINITE,  # set in days below
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        set_retention_days(self.log_group, retention_days)
        self.log_group_name = log_group_name
        self.arn = log_group_arn(stack, log_group_name)

    def grant_write(self, role: iam.Role) -> None:
        """Create streams and put events in this group only, nothing else.

        Also what Lambda needs to deliver a function's output here: it writes a
        function's logs with the function's execution role."""
        role.add_to_principal_policy(write_logs_statement("WriteUsageRecords", self.arn))
        acknowledge_log_stream_wildcard(
            role,
            self.arn,
            "Streams are created at run time (one per sanitized user id by the "
            "function, or one per execution environment by Lambda's log delivery "
            "with the stdout sink); the wildcard covers streams of this one log "
            "group only.",
        )


def acknowledge_log_stream_wildcard(role: iam.Role, log_group_arn: str, reason: str) -> None:
    """Accept cdk-nag's IAM5 for ``<log group>:log-stream:*`` on the role's policy, with why.

    A template whose ARN is not known at synth (the StackSet template's account
    and region are parameters) has no finding id to name; cdk-nag does not run
    on it.
    """
    if Token.is_unresolved(log_group_arn):
        return
    policy = role.node.find_child("DefaultPolicy").node.default_child
    assert isinstance(policy, CfnElement)
    Validations.of(policy).acknowledge(
        Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::{log_group_arn}:log-stream:*]", reason=reason
        )
    )


def write_logs_statement(sid: str, log_group_arn: str) -> iam.PolicyStatement:
    """Create streams in, and put events into, one log group."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group_arn, f"{log_group_arn}:log-stream:*"],
    )
