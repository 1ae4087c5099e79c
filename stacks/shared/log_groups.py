"""Log-group helpers every stack uses: retention in days, ARNs, write grants."""

from __future__ import annotations

from aws_cdk import Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

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


def log_group_arn(stack: Stack, name: str) -> str:
    """The log group's ARN as IAM and KMS conditions expect it (no trailing ``:*``)."""
    partition = naming.partition_for_region(stack.region)
    return f"arn:{partition}:logs:{stack.region}:{stack.account}:log-group:{name}"


def write_logs_statement(sid: str, log_group_arn: str) -> iam.PolicyStatement:
    """Create streams in, and put events into, one log group."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group_arn, f"{log_group_arn}:log-stream:*"],
    )
