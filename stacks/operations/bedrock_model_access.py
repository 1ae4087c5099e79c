"""IAM statements that let a role call exactly a tenant's Bedrock models.

Which resources a model id needs is a contract (``contracts.model_access``),
shared with the embedded cloud's Bedrock emulator; this only turns it into CDK.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import aws_iam as iam

from contracts.model_access import ProfileRegions, model_grants


def model_access_statements(
    models: Iterable[str],
    *,
    partition: str,
    account: str,
    region: str,
    profile_regions: ProfileRegions,
    application_profiles: Mapping[str, str] | None = None,
    guardrail: tuple[str, str] | None = None,
    service_tiers: Sequence[str] | None = None,
) -> list[iam.PolicyStatement]:
    """Least-privilege statements for ``models`` called from ``account``/``region``
    (only through ``application_profiles``, model id -> ARN, when given; only with
    ``guardrail``, its ARN and version, and in ``service_tiers``, when given)."""
    return [
        iam.PolicyStatement(
            sid=grant.sid,
            actions=list(grant.actions),
            resources=list(grant.resources),
            conditions=grant.conditions or None,
        )
        for grant in model_grants(
            models,
            partition=partition,
            account=account,
            region=region,
            profile_regions=profile_regions,
            application_profiles=application_profiles,
            guardrail=guardrail,
            service_tiers=service_tiers,
        )
    ]
