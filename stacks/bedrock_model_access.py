"""IAM statements that let a role call exactly a tenant's Bedrock models.

Converse is authorized as ``bedrock:InvokeModel`` and ConverseStream as
``bedrock:InvokeModelWithResponseStream``; there is no separate Converse IAM
action, so these two are all a caller needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aws_cdk import aws_iam as iam

from tenantctl.registry import GLOBAL_PROFILE_PREFIX, parse_model_id

INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")


def foundation_model_arn(partition: str, region: str, model: str) -> str:
    """Foundation models are AWS-owned: their ARNs carry no account."""
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model}"


def inference_profile_arn(partition: str, region: str, account: str, profile_id: str) -> str:
    """System inference profiles live in the calling account."""
    return f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{profile_id}"


def model_access_statements(
    models: Iterable[str],
    *,
    partition: str,
    account: str,
    region: str,
    profile_regions: Callable[[str], tuple[str, ...]],
) -> list[iam.PolicyStatement]:
    """Least-privilege statements for ``models`` called from ``account``/``region``.

    - A foundation model id grants that model in ``region`` only.
    - A geographic profile (``us.``, ``eu.`` ...) grants the profile ARN plus the
      foundation model in every destination region, the latter only when the call
      goes through that profile (``bedrock:InferenceProfileArn``).
    - A ``global.`` profile also needs the region-less foundation-model ARN, which
      Bedrock evaluates with ``aws:RequestedRegion = unspecified``.
    """
    direct: list[str] = []
    profiles: list[str] = []
    routed: list[str] = []
    global_routed: list[str] = []
    for model in models:
        prefix, foundation = parse_model_id(model)
        if prefix is None:
            direct.append(foundation_model_arn(partition, region, foundation))
            continue
        profiles.append(inference_profile_arn(partition, region, account, model))
        if prefix == GLOBAL_PROFILE_PREFIX:
            routed.append(foundation_model_arn(partition, region, foundation))
            global_routed.append(foundation_model_arn(partition, "", foundation))
        else:
            routed.extend(
                foundation_model_arn(partition, dest, foundation)
                for dest in profile_regions(prefix)
            )

    statements: list[iam.PolicyStatement] = []
    if direct:
        statements.append(
            iam.PolicyStatement(
                sid="FoundationModels", actions=list(INVOKE_ACTIONS), resources=_dedupe(direct)
            )
        )
    if profiles:
        statements.append(
            iam.PolicyStatement(
                sid="InferenceProfiles", actions=list(INVOKE_ACTIONS), resources=_dedupe(profiles)
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="ModelsRoutedByInferenceProfiles",
                actions=list(INVOKE_ACTIONS),
                resources=_dedupe(routed),
                conditions={"StringEquals": {"bedrock:InferenceProfileArn": _dedupe(profiles)}},
            )
        )
    if global_routed:
        statements.append(
            iam.PolicyStatement(
                sid="ModelsRoutedByGlobalProfiles",
                actions=list(INVOKE_ACTIONS),
                resources=_dedupe(global_routed),
                conditions={
                    "StringEquals": {
                        "aws:RequestedRegion": "unspecified",
                        "bedrock:InferenceProfileArn": _dedupe(profiles),
                    }
                },
            )
        )
    return statements


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))
