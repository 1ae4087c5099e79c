"""The operations account: Bedrock access and quota, one invoker role per tenant.

It also refuses to deploy while Bedrock's model-invocation logging would copy
tenants' prompts into this account, and alerts when that setting changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts.registry import Tenant, TenantRegistry
from stacks.bedrock_invoker_role import BedrockInvokerRole
from stacks.invocation_logging_alert import InvocationLoggingAlert
from stacks.invocation_logging_guard import InvocationLoggingGuard
from stacks.lambda_bundling import LambdaPlatform


class OperationsStack(Stack):
    """Deploys a ``BedrockInvokerRole`` for every tenant in the registry.

    ``platform`` is what the guard Lambda runs on, as for the customer stacks'
    invoker (the embedded cloud deploys with the host's Python).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        registry: TenantRegistry,
        platform: LambdaPlatform,
        guard_code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        # The registry caps the tenant count (MAX_TENANTS) below CloudFormation's limits.
        tenants = registry.resolved_tenants()
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
        operations = registry.operations
        self.invocation_logging_guard = InvocationLoggingGuard(
            self,
            "InvocationLoggingGuard",
            allow_ops_invocation_logging=operations.allow_ops_invocation_logging,
            recheck_token=tenant_set_digest(tenants),
            platform=platform,
            code=guard_code,
        )
        self.invocation_logging_alert = InvocationLoggingAlert(
            self, "InvocationLoggingAlert", alert_email=operations.alert_email
        )


def tenant_set_digest(tenants: Sequence[Tenant]) -> str:
    """A short digest of what this stack deploys per tenant (ids and models)."""
    digest = hashlib.sha256()
    for tenant in tenants:
        digest.update(f"{tenant.id}:{','.join(tenant.models)};".encode())
    return digest.hexdigest()[:16]
