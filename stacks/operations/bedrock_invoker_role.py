"""The per-tenant role in the operations account that Bedrock calls are made as."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from contracts import naming
from contracts.model_access import guardrail_arn
from contracts.registry import Operations, Tenant
from stacks.operations.application_inference_profiles import cost_allocation_tags
from stacks.operations.bedrock_model_access import model_access_statements


class BedrockInvokerRole(Construct):
    """One tenant's Bedrock-invoker role.

    Trust admits only the tenant's assuming role, and only with its ExternalId.
    The role trusts the tenant *account* and pins the role with
    ``aws:PrincipalArn``: naming a role ARN from another account as principal
    fails to deploy ("Invalid principal") until that role exists, which would
    force a deploy order between accounts.

    The role carries the tenant's cost-allocation tags: Bedrock attributes cost
    to the calling principal, and its tags become Cost Explorer dimensions. With
    ``application_profiles`` (model id -> profile ARN), the role may invoke the
    tenant's models only through those profiles. With ``created_guardrail`` (the ARN
    and version of the guardrail its operations stack made) the role reads their
    SSM parameter and is held to that guardrail. Every invoke is further held to
    the tenant's service tiers (``bedrock:ServiceTier``) and, when it has one, to
    its guardrail and version (``bedrock:GuardrailIdentifier``), so a function the
    tenant changed still cannot skip either.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        operations: Operations,
        application_profiles: Mapping[str, str] | None = None,
        created_guardrail: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        partition = naming.partition_for_region(operations.region)
        trusted = iam.AccountPrincipal(tenant.account_id).with_conditions(
            {
                # The session name shows in the ops account's CloudTrail: pin it
                # to the tenant id so no caller can put a user id there.
                "StringEquals": {
                    "sts:ExternalId": tenant.external_id,
                    "sts:RoleSessionName": tenant.id,
                },
                "ArnEquals": {"aws:PrincipalArn": tenant.caller_role_arn},
            }
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=naming.invoker_role_name(tenant.id),
            description=f"Bedrock invocations on behalf of tenant {tenant.id}",
            assumed_by=trusted,
            # Lambda role -> this role is role chaining: AWS caps it at one hour.
            max_session_duration=Duration.hours(1),
        )
        for key, value in cost_allocation_tags(tenant).items():
            Tags.of(self.role).add(key, value)
        self.policy = iam.Policy(
            self,
            "ModelAccess",
            statements=model_access_statements(
                tenant.models,
                partition=partition,
                account=operations.account_id,
                region=operations.region,
                profile_regions=operations.profile_regions,
                application_profiles=application_profiles,
                guardrail=created_guardrail or tenant_guardrail(tenant, operations),
                service_tiers=[tier.value for tier in tenant.service_tiers],
            ),
        )
        if application_profiles is not None:
            # Where the function learns its profiles' ARNs: this one parameter only.
            self.policy.add_statements(
                iam.PolicyStatement(
                    sid="ReadOwnInferenceProfileArns",
                    actions=["ssm:GetParameter"],
                    resources=[
                        naming.inference_profiles_parameter_arn(
                            operations.account_id, tenant.id, region=operations.region
                        )
                    ],
                )
            )
        if created_guardrail is not None:
            # Where the function learns the ARN and version of the guardrail this
            # account created for it: this one parameter only.
            self.policy.add_statements(
                iam.PolicyStatement(
                    sid="ReadOwnGuardrail",
                    actions=["ssm:GetParameter"],
                    resources=[
                        naming.guardrail_parameter_arn(
                            operations.account_id, tenant.id, region=operations.region
                        )
                    ],
                )
            )
        self.policy.attach_to_role(self.role)


def tenant_guardrail(tenant: Tenant, operations: Operations) -> tuple[str, str] | None:
    """The tenant's existing guardrail as its ARN in the operations account, and its
    version; None without one, or for one its operations stack creates."""
    if (
        tenant.guardrail is None
        or tenant.guardrail.identifier is None
        or tenant.guardrail.version is None
    ):
        return None
    arn = guardrail_arn(
        naming.partition_for_region(operations.region),
        operations.region,
        operations.account_id,
        tenant.guardrail.identifier,
    )
    return arn, tenant.guardrail.version
