"""The tenant's usage log group and the customer-managed key that encrypts it."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.shared.kms import retained_rotating_key
from stacks.shared.log_groups import log_group_arn, set_retention_days, write_logs_statement
from stacks.shared.nag import acknowledge_log_stream_wildcard


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
