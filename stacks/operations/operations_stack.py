"""The operations account: Bedrock access and quota, one invoker role per tenant.

It also refuses to deploy while Bedrock's model-invocation logging would copy
tenants' prompts into this account, and alerts when that setting changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts import naming
from contracts.model_access import guardrail_arn
from contracts.registry import Operations, Tenant
from stacks.operations.application_inference_profiles import TenantInferenceProfiles
from stacks.operations.bedrock_invoker_role import BedrockInvokerRole
from stacks.operations.invocation_logging_alert import InvocationLoggingAlert
from stacks.operations.invocation_logging_guard import InvocationLoggingGuard, guard_function_name
from stacks.operations.limit_enforcer import LimitEnforcer, TenantLimitPlan
from stacks.operations.tenant_guardrail import TenantGuardrail
from stacks.shared.lambda_bundling import LambdaPlatform


class OperationsStack(Stack):
    """One shard of the operations account: a ``BedrockInvokerRole`` for each of its tenants.

    A tenant with ``application_inference_profiles`` also gets its
    ``TenantInferenceProfiles``: their ARNs are published in an SSM parameter of this
    account that the tenant's function reads, and each is also an output
    (``naming.inference_profile_output_key``) for operators. A tenant whose
    ``guardrail`` is a definition gets its ``TenantGuardrail`` (a guardrail, a
    version and their own SSM parameter), which its role is then held to.

    Every shard has its own invocation-logging guard, so deploying any shard
    re-checks the account's setting; shard 0 also holds the account's alert and,
    where the registry enables it, the account's ``LimitEnforcer`` for
    ``limited_tenants`` (each limited tenant's plan is in its own shard), and with
    ``operations.enforced_guardrail`` the account's guardrail floor.
    ``platform`` is what the guard Lambda runs on, as for the customer stacks'
    invoker (the embedded cloud deploys with the host's Python).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        operations: Operations,
        tenants: Sequence[Tenant],
        platform: LambdaPlatform,
        shard: int = 0,
        guard_code: lambda_.Code | None = None,
        limited_tenants: Sequence[Tenant] = (),
        enforcer_code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        # The registry holds each shard to operations.shard_capacity, below
        # CloudFormation's limits; stacks.shared.limits checks the synthesized templates.
        self.invoker_roles: dict[str, BedrockInvokerRole] = {}
        self.inference_profiles: dict[str, TenantInferenceProfiles] = {}
        self.guardrails: dict[str, TenantGuardrail] = {}
        # Read from the stack once: every invoker role's trust names this partition.
        partition = self.partition
        for tenant in tenants:
            if tenant.guardrail is not None and tenant.guardrail.create is not None:
                self.guardrails[tenant.id] = TenantGuardrail(
                    self,
                    f"Guardrail-{tenant.id}",
                    tenant=tenant,
                    definition=tenant.guardrail.create,
                )
            created = self.guardrails.get(tenant.id)
            profiles = (
                TenantInferenceProfiles(
                    self, f"Profiles-{tenant.id}", tenant=tenant, operations=operations
                )
                if tenant.application_inference_profiles
                else None
            )
            # The logical id comes from the tenant id so that onboarding or
            # offboarding one tenant never replaces another tenant's role.
            invoker = BedrockInvokerRole(
                self,
                f"Invoker-{tenant.id}",
                tenant=tenant,
                operations=operations,
                application_profiles=profiles.arns if profiles is not None else None,
                created_guardrail=created.arn_and_version if created is not None else None,
                stack_partition=partition,
            )
            self.invoker_roles[tenant.id] = invoker
            CfnOutput(
                self,
                f"InvokerRoleArn-{tenant.id}",
                value=invoker.role_arn,
                description=f"Bedrock-invoker role of tenant {tenant.id}",
            )
            if profiles is None:
                continue
            self.inference_profiles[tenant.id] = profiles
            if tenant.limits is not None and operations.enforcer.enabled:
                TenantLimitPlan(
                    self, f"LimitPlan-{tenant.id}", tenant=tenant, profile_arns=profiles.arns
                )
            for model, arn in profiles.arns.items():
                CfnOutput(
                    self,
                    naming.inference_profile_output_key(tenant.id, model),
                    value=arn,
                    description=f"Application inference profile of tenant {tenant.id} for {model}",
                )
        self.invocation_logging_guard = InvocationLoggingGuard(
            self,
            "InvocationLoggingGuard",
            allow_ops_invocation_logging=operations.allow_ops_invocation_logging,
            recheck_token=tenant_set_digest(tenants),
            platform=platform,
            function_name=guard_function_name(shard),
            code=guard_code,
        )
        # One rule per account: a second would alert twice for one change.
        self.invocation_logging_alert = (
            InvocationLoggingAlert(
                self, "InvocationLoggingAlert", alert_email=operations.alert_email
            )
            if shard == 0
            else None
        )
        # One per account and region: Bedrock keeps a single enforced configuration
        # there, so a second stack declaring one would overwrite the first.
        self.enforced_guardrail = (
            account_guardrail_floor(self, operations)
            if shard == 0 and operations.enforced_guardrail is not None
            else None
        )
        # One per account, in shard 0: it meters the limited tenants of every shard.
        limited = [t for t in limited_tenants if t.limits is not None]
        self.limit_enforcer = (
            LimitEnforcer(
                self,
                "LimitEnforcer",
                operations=operations,
                settings=operations.enforcer,
                tenants=limited,
                platform=platform,
                code=enforcer_code,
            )
            if shard == 0 and operations.enforcer.enabled and limited
            else None
        )


def account_guardrail_floor(
    scope: Construct, operations: Operations
) -> bedrock.CfnEnforcedGuardrailConfiguration:
    """The account-wide guardrail floor (``operations.enforced_guardrail``): Bedrock
    applies it to every inference call in the account and region, whatever guardrail
    a call names or omits."""
    floor = operations.enforced_guardrail
    assert floor is not None
    return bedrock.CfnEnforcedGuardrailConfiguration(
        scope,
        "EnforcedGuardrail",
        guardrail_identifier=guardrail_arn(
            naming.partition_for_region(operations.region),
            operations.region,
            operations.account_id,
            floor.identifier,
        ),
        guardrail_version=floor.version,
    )


def tenant_set_digest(tenants: Sequence[Tenant]) -> str:
    """A short digest of what this stack deploys per tenant (ids, models, profiles)."""
    digest = hashlib.sha256()
    for tenant in tenants:
        # Marked only when on, so the digest of a registry without profiles stays as it was.
        profiles = "+profiles" if tenant.application_inference_profiles else ""
        digest.update(f"{tenant.id}:{','.join(tenant.models)}{profiles};".encode())
    return digest.hexdigest()[:16]
