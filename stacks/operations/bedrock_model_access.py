"""IAM statements that let a role call exactly a tenant's Bedrock models.

Which resources a model id needs is a contract (``contracts.model_access``),
shared with the embedded cloud's Bedrock emulator; this only turns it into IAM
policy JSON.

The statements are plain JSON, not ``iam.PolicyStatement`` objects: each of
those is a jsii round trip, and a shard holds 150 tenants. The role turns the
whole document into CDK's ``PolicyDocument`` in one call
(``PolicyDocument.from_json``), which renders it at synth as the L2 ``Policy``
rendered its statements (duplicates dropped, actions and resources sorted under
``@aws-cdk/aws-iam:minimizePolicies``, resolved tokens included), so a
deployed policy does not change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from contracts.model_access import ProfileRegions, model_grants

# The IAM policy language version every document states.
POLICY_VERSION = "2012-10-17"


def allow_statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str],
    conditions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One Allow statement as IAM JSON, a single action or resource written bare."""
    statement: dict[str, Any] = {"Action": _one_or_list(actions)}
    if conditions:
        statement["Condition"] = dict(conditions)
    statement["Effect"] = "Allow"
    statement["Resource"] = _one_or_list(resources)
    statement["Sid"] = sid
    return statement


def policy_document(statements: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """An IAM policy document of ``statements``."""
    return {"Statement": list(statements), "Version": POLICY_VERSION}


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
) -> list[dict[str, Any]]:
    """Least-privilege statements (IAM JSON) for ``models`` called from
    ``account``/``region`` (only through ``application_profiles``, model id -> ARN,
    when given; only with ``guardrail``, its ARN and version, and in
    ``service_tiers``, when given)."""
    return [
        allow_statement(grant.sid, grant.actions, grant.resources, grant.conditions)
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


def _one_or_list(values: Sequence[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)
