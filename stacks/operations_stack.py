"""The operations account: Bedrock access and quota, one invoker role per tenant."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.bedrock_invoker_role import BedrockInvokerRole
from tenantctl.registry import TenantRegistry

# CloudFormation allows 500 resources per stack; each tenant costs two (role and
# policy) plus one output, so refuse well before the hard failure at deploy.
MAX_TENANTS_PER_OPERATIONS_STACK = 200


class OperationsStack(Stack):
    """Deploys a ``BedrockInvokerRole`` for every tenant in the registry."""

    def __init__(
        self, scope: Construct, id: str, *, registry: TenantRegistry, **kwargs: Any
    ) -> None:
        super().__init__(scope, id, **kwargs)
        tenants = registry.resolved_tenants()
        if len(tenants) > MAX_TENANTS_PER_OPERATIONS_STACK:
            raise ValueError(
                f"tenants: {len(tenants)} tenants exceed {MAX_TENANTS_PER_OPERATIONS_STACK} per "
                "operations stack (CloudFormation's 500-resource limit); shard the registry"
            )
        self.invoker_roles: dict[str, BedrockInvokerRole] = {}
        for tenant in tenants:
            # The logical id comes from the tenant id so that onboarding or
            # offboarding one tenant never replaces another tenant's role.
            invoker = BedrockInvokerRole(
                self, f"Invoker-{tenant.id}", tenant=tenant, operations=registry.operations
            )
            self.invoker_roles[tenant.id] = invoker
            CfnOutput(
                self,
                f"InvokerRoleArn-{tenant.id}",
                value=invoker.role.role_arn,
                description=f"Bedrock-invoker role of tenant {tenant.id}",
            )
