"""A tenant's account: the assuming role, the usage log group, the invoker Lambda, the
views of its usage (dashboard, alarms, saved queries) and, optionally, the workload role."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts import naming
from contracts.registry import Tenant
from contracts.tenant_settings import WorkloadRoleSettings
from stacks.customer.invoker_function import InvokerFunction
from stacks.customer.observability.usage_alarms import UsageAlarms
from stacks.customer.observability.usage_dashboard import UsageDashboard
from stacks.customer.observability.usage_queries import UsageQueries
from stacks.customer.usage_log_group import UsageLogGroup, UsageLogKey
from stacks.customer.workload_role import WorkloadRole
from stacks.shared.lambda_bundling import LambdaPlatform


class CustomerStack(Stack):
    """Everything one tenant runs in its own account. Usage records never leave it."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        platform: LambdaPlatform,
        invoker_code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self._compose(tenant, platform, invoker_code)

    def _compose(
        self,
        tenant: Tenant,
        platform: LambdaPlatform,
        invoker_code: lambda_.Code | None,
        ops_role_arn: str | None = None,
    ) -> None:
        key = UsageLogKey(
            self,
            "UsageLogKey",
            log_group_names=[
                tenant.usage_log_group,
                naming.function_log_group_name(tenant.function_name),
            ],
        )
        self.usage_log_group = UsageLogGroup(
            self,
            "UsageLogGroup",
            log_group_name=tenant.usage_log_group,
            retention_days=tenant.log_retention_days,
            encryption_key=key.key,
        )
        self.invoker = InvokerFunction(
            self,
            "Invoker",
            tenant=tenant,
            # The tenant's own operations account: its invoker role, Bedrock's region.
            ops_role_arn=ops_role_arn or tenant.invoker_role_arn,
            bedrock_region=tenant.bedrock_region,
            usage_log_group=self.usage_log_group,
            encryption_key=key.key,
            platform=platform,
            code=invoker_code,
        )
        self._observe(tenant)
        CfnOutput(self, "FunctionName", value=self.invoker.function.function_name)
        CfnOutput(self, "AssumingRoleArn", value=self.invoker.role.role_arn)
        CfnOutput(self, "UsageLogGroupName", value=self.usage_log_group.log_group_name)
        self.workload_role = (
            None
            if tenant.workload_role is None
            else self._workload_role(tenant, tenant.workload_role)
        )

    def _workload_role(self, tenant: Tenant, settings: WorkloadRoleSettings) -> WorkloadRole:
        """The role the tenant's own workloads assume, told what the function is told."""
        workload_role = WorkloadRole(
            self,
            "WorkloadRole",
            tenant=tenant,
            settings=settings,
            ops_role_arn=self.invoker.environment.ops_role_arn,
            usage_log_group=self.usage_log_group,
            environment=self.invoker.environment,
        )
        CfnOutput(self, "WorkloadRoleArn", value=workload_role.role.role_arn)
        CfnOutput(self, "ClientSettingsParameterName", value=workload_role.parameter_name)
        return workload_role

    def _observe(self, tenant: Tenant) -> None:
        """The tenant's dashboard, alarms (unless the registry turns them off) and queries."""
        function = self.invoker.function
        self.usage_alarms = (
            UsageAlarms(
                self, "UsageAlarms", tenant_id=tenant.id, settings=tenant.alarms, function=function
            )
            if tenant.alarms.enabled
            else None
        )
        self.usage_queries = UsageQueries(
            self, "UsageQueries", tenant_id=tenant.id, log_group=self.usage_log_group.log_group
        )
        self.usage_dashboard = UsageDashboard(
            self,
            "UsageDashboard",
            tenant_id=tenant.id,
            usage_log_group_name=self.usage_log_group.log_group_name,
            function=function,
            alarm_settings=tenant.alarms,
            alarm_names=self.usage_alarms.alarm_names if self.usage_alarms else [],
        )
