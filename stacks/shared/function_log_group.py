"""A Lambda function's own log group, declared explicitly."""

from __future__ import annotations

from aws_cdk import (
    CfnElement,
    CfnResource,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from contracts import naming
from stacks.shared.log_groups import log_group_arn, set_retention_days, write_logs_statement
from stacks.shared.nag import acknowledge_log_stream_wildcard


class FunctionLogGroup(Construct):
    """``/aws/lambda/<function>`` with retention, retained on delete.

    Declared instead of using ``log_retention=``, which adds a Node.js custom
    resource the embedded cloud cannot run.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function_name: str,
        retention_days: int,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.log_group_name = naming.function_log_group_name(function_name)
        # "Default" keeps the log group's logical id as if it were declared directly.
        self.log_group = logs.LogGroup(
            self,
            "Default",
            log_group_name=self.log_group_name,
            retention=logs.RetentionDays.INFINITE,  # set in days below
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        set_retention_days(self.log_group, retention_days)
        self.arn = log_group_arn(Stack.of(self), self.log_group_name)

    def grant_write(self, role: iam.Role) -> None:
        """Let the function's role write its own logs, and nothing else's."""
        role.add_to_principal_policy(write_logs_statement("WriteOwnLogs", self.arn))
        acknowledge_log_stream_wildcard(
            role,
            self.arn,
            "Lambda names a new log stream per execution environment; the wildcard "
            "covers streams of the function's own log group only.",
        )


def default_policy(role: iam.Role) -> CfnElement:
    """The CloudFormation policy CDK attaches for ``role.add_to_principal_policy``."""
    policy = role.node.find_child("DefaultPolicy").node.default_child
    assert isinstance(policy, CfnElement)
    return policy


def depend_on_policy_only(function: lambda_.Function, role: iam.Role) -> None:
    """Keep the function's DependsOn on its role's policy only.

    CDK adds both the role and its policy; the role is implied by GetAtt and
    cfn-lint flags it (W3005). The policy must stay: the function must not run
    before it may do its job and write its logs.
    """
    function_resource = function.node.default_child
    assert isinstance(function_resource, CfnResource)
    function_resource.add_override(
        "DependsOn", [Stack.of(function).get_logical_id(default_policy(role))]
    )
