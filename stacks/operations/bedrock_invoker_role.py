"""The per-tenant role in the operations account that Bedrock calls are made as."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnTag, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from contracts import naming
from contracts.model_access import guardrail_arn
from contracts.registry import Operations, Tenant
from stacks.operations.application_inference_profiles import cost_allocation_tags
from stacks.operations.bedrock_model_access import (
    allow_statement,
    model_access_statements,
    policy_document,
)
from stacks.shared.nag import acknowledge_api_key_wildcard

# Short-term Bedrock API keys (registry ``short_term_api_keys``): Bedrock authorizes a
# call made with a key as ``bedrock:CallWithBearerToken`` on the key's principal,
# an action with no resource type (IAM accepts only Resource "*"), and the key's
# kind as ``bedrock:BearerTokenType``: SHORT_TERM (a presigned request of a
# session, as the client library mints) or LONG_TERM (an IAM user's
# service-specific credential).
BEARER_TOKEN_ACTION = "bedrock:CallWithBearerToken"
BEARER_TOKEN_TYPE_KEY = "bedrock:BearerTokenType"
SHORT_TERM = "SHORT_TERM"
SHORT_TERM_API_KEYS_SID = "UseShortTermApiKeys"


class BedrockInvokerRole(Construct):
    """One tenant's Bedrock-invoker role.

    Trust admits only the tenant's assuming role (and its workload role, when the
    registry gives it one), and only with its ExternalId and the tenant id as
    session name.
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
    tenant changed still cannot skip either. With ``short_term_api_keys`` the role
    also accepts short-term Bedrock API keys of its sessions, and only those
    (``short_term_api_keys_statement``).

    ``stack_partition`` is the stack's ``partition``, when the caller already has
    it (read once per stack rather than once per tenant); else it is read here.

    The role and its policy are the L1 ``CfnRole`` and ``CfnPolicy``, each in a
    construct of the id the L2 ``Role`` and ``Policy`` had (``Role/Resource``,
    ``ModelAccess/Resource``), so their logical ids and templates are the ones
    those wrote and a deployed role is not replaced. The L2s' bookkeeping
    (principals, grants, tag aspects, validations) cost Node.js time and memory
    for each of a shard's 150 tenants: without it the shards of a 1,000-tenant
    registry synthesize in about 15% less CPU and 80 MB less peak memory.
    ``role`` and ``policy`` are the two L1 resources.
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
        stack_partition: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.role = iam.CfnRole(
            Construct(self, "Role"),
            "Resource",
            role_name=naming.invoker_role_name(tenant.id),
            description=f"Bedrock invocations on behalf of tenant {tenant.id}",
            assume_role_policy_document=trust_policy(
                tenant, trusted_account_partition=stack_partition or Stack.of(self).partition
            ),
            # Lambda role -> this role is role chaining: AWS caps it at one hour.
            max_session_duration=3600,
            # CDK writes a resource's tags sorted by key, whatever the order here.
            tags=[CfnTag(key=k, value=v) for k, v in cost_allocation_tags(tenant).items()],
        )
        statements = model_access_statements(
            tenant.models,
            partition=naming.partition_for_region(operations.region),
            account=operations.account_id,
            region=operations.region,
            profile_regions=operations.profile_regions,
            application_profiles=application_profiles,
            guardrail=created_guardrail or tenant_guardrail(tenant, operations),
            service_tiers=[tier.value for tier in tenant.service_tiers],
        )
        if application_profiles is not None:
            # Where the function learns its profiles' ARNs: this one parameter only.
            statements.append(
                allow_statement(
                    "ReadOwnInferenceProfileArns",
                    ["ssm:GetParameter"],
                    [
                        naming.inference_profiles_parameter_arn(
                            operations.account_id, tenant.id, region=operations.region
                        )
                    ],
                )
            )
        if created_guardrail is not None:
            # Where the function learns the ARN and version of the guardrail this
            # account created for it: this one parameter only.
            statements.append(
                allow_statement(
                    "ReadOwnGuardrail",
                    ["ssm:GetParameter"],
                    [
                        naming.guardrail_parameter_arn(
                            operations.account_id, tenant.id, region=operations.region
                        )
                    ],
                )
            )
        if tenant.short_term_api_keys:
            statements.append(short_term_api_keys_statement())
        self.policy = iam.CfnPolicy(
            Construct(self, "ModelAccess"),
            "Resource",
            # CDK's PolicyDocument renders it at synth as the L2 Policy did (sorted
            # and deduplicated under the minimizePolicies flag, tokens resolved).
            policy_document=iam.PolicyDocument.from_json(policy_document(statements)),
            # Placeholder until the policy has a logical id to name it by, below.
            policy_name=id,
            roles=[self.role.ref],
        )
        # The L2 Policy's name: its own logical id (unique in the stack, far
        # under IAM's 128 characters with a tenant id of at most 40).
        self.policy.policy_name = self.policy.logical_id
        if tenant.short_term_api_keys:
            acknowledge_api_key_wildcard(self.policy)

    @property
    def role_arn(self) -> str:
        """The role's ARN (a token: ``Fn::GetAtt`` of the role)."""
        return self.role.attr_arn


def short_term_api_keys_statement() -> dict[str, Any]:
    """The opt-in's one statement: calls with a short-term key of this role's sessions.

    Only the key is allowed here, never a call: each call made with it is still
    authorized as the role's own (the invoke statements, with their models,
    guardrail and service tiers). No Deny for LONG_TERM: a long-term key belongs
    to an IAM user, so its calls are never this role's and a Deny here could
    match none; nothing allows them without this SHORT_TERM pin either.
    """
    return allow_statement(
        SHORT_TERM_API_KEYS_SID,
        [BEARER_TOKEN_ACTION],
        ["*"],
        {"StringEquals": {BEARER_TOKEN_TYPE_KEY: SHORT_TERM}},
    )


def trust_policy(tenant: Tenant, *, trusted_account_partition: str) -> dict[str, Any]:
    """The role's trust policy: the tenant's account, pinned to its caller role (and
    workload role), ExternalId and session name.

    ``trusted_account_partition`` is the stack's ``partition``: the partition
    literal CDK knows for the stack's region, else the ``AWS::Partition``
    reference, as the L2 ``AccountPrincipal`` wrote it.
    """
    return policy_document(
        [
            {
                "Action": "sts:AssumeRole",
                "Condition": {
                    # The session name shows in the ops account's CloudTrail: pin it
                    # to the tenant id so no caller can put a user id there.
                    "StringEquals": {
                        "sts:ExternalId": tenant.external_id,
                        "sts:RoleSessionName": tenant.id,
                    },
                    "ArnEquals": {"aws:PrincipalArn": trusted_callers(tenant)},
                },
                "Effect": "Allow",
                "Principal": {
                    "AWS": f"arn:{trusted_account_partition}:iam::{tenant.account_id}:root"
                },
            }
        ]
    )


def trusted_callers(tenant: Tenant) -> str | list[str]:
    """The tenant's roles that may assume its invoker role: the function's, and its
    workload role when it has one (a single ARN stays a string, as it always was)."""
    if tenant.workload_role_arn is None:
        return tenant.caller_role_arn
    return [tenant.caller_role_arn, tenant.workload_role_arn]


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
