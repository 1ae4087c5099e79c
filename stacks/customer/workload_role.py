"""The tenant's workload role and the client settings parameter its library reads."""

from __future__ import annotations

from collections import defaultdict

from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from contracts import naming
from contracts.function_environment import FunctionEnvironment
from contracts.registry import Tenant
from contracts.registry.workload_role import client_settings_value
from contracts.tenant_settings import (
    WorkloadRoleSettings,
    is_account_root,
    principal_account,
)
from stacks.customer.usage_log_group import UsageLogGroup


class WorkloadRole(Construct):
    """A role the tenant's own workloads assume, with exactly the function's rights.

    It may assume the tenant's invoker role (whose trust admits it with the same
    ExternalId and session name as the function), write the usage log group, and
    read the one SSM parameter holding the client settings: the function's
    environment (``environment``, what the invoker function is given) as JSON.

    Trust: each listed principal's *account* with the principal pinned by
    ``aws:PrincipalArn``, as the operations account trusts the function's role: a
    trust policy naming a role ARN that does not exist yet fails to deploy
    ("Invalid principal"). An account's ``:root`` admits the account, whose own
    IAM policies then decide. Listed services (ECS tasks, SageMaker) may run as
    the role itself.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        settings: WorkloadRoleSettings,
        ops_role_arn: str,
        usage_log_group: UsageLogGroup,
        environment: FunctionEnvironment,
    ) -> None:
        super().__init__(scope, id)
        principals = trusted_principals(settings)
        self.role = iam.Role(
            self,
            "Role",
            role_name=naming.workload_role_name(tenant.id),
            description=(
                f"Tenant {tenant.id}'s own workloads call Bedrock through its invoker role"
            ),
            assumed_by=principals[0],
        )
        assert self.role.assume_role_policy is not None  # a Role always has its trust
        for principal in principals[1:]:
            self.role.assume_role_policy.add_statements(
                iam.PolicyStatement(actions=["sts:AssumeRole"], principals=[principal])
            )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AssumeOwnInvokerRoleOnly", actions=["sts:AssumeRole"], resources=[ops_role_arn]
            )
        )
        usage_log_group.grant_write(self.role)
        self.parameter_name = naming.client_settings_parameter_name(tenant.id)
        self.parameter = ssm.StringParameter(
            self,
            "ClientSettings",
            parameter_name=self.parameter_name,
            description=f"Tenant {tenant.id}'s client library settings (the function's)",
            string_value=client_settings_value(environment),
            tier=ssm.ParameterTier.STANDARD,
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadOwnClientSettings",
                actions=["ssm:GetParameter"],
                resources=[
                    naming.client_settings_parameter_arn(
                        tenant.account_id, tenant.id, region=tenant.region
                    )
                ],
            )
        )


def trusted_principals(settings: WorkloadRoleSettings) -> list[iam.IPrincipal]:
    """Who may assume the role: each account, pinned to its listed principals unless
    its root is listed; then each service."""
    by_account: dict[str, list[str]] = defaultdict(list)
    for arn in settings.principals:
        by_account[principal_account(arn)].append(arn)
    principals: list[iam.IPrincipal] = []
    for account, arns in by_account.items():
        if any(is_account_root(arn) for arn in arns):
            principals.append(iam.AccountPrincipal(account))
        else:
            principals.append(
                iam.AccountPrincipal(account).with_conditions(
                    {"ArnEquals": {"aws:PrincipalArn": arns[0] if len(arns) == 1 else arns}}
                )
            )
    principals.extend(iam.ServicePrincipal(s.service_principal) for s in settings.services)
    return principals
