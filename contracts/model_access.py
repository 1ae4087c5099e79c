"""Which ARNs a Bedrock call needs: model id or inference profile -> IAM resources.

One definition for the stacks (which grant these resources to a tenant's invoker
role) and the embedded cloud's Bedrock emulator (which checks a caller's policy
on exactly these resources), partition-aware for both.

Converse is authorized as ``bedrock:InvokeModel`` and ConverseStream as
``bedrock:InvokeModelWithResponseStream``; there is no separate Converse action.

- A foundation model id needs that model in the calling region.
- A geographic profile (``us.``, ``eu.`` ...) needs the profile ARN plus the
  foundation model in every destination region, the latter with
  ``bedrock:InferenceProfileArn`` set to the profile.
- A ``global.`` profile needs the profile ARN, the model in the calling region and
  the region-less foundation-model ARN, which Bedrock evaluates with
  ``aws:RequestedRegion = unspecified``.
- Through an *application* inference profile (one per tenant and model, for cost
  allocation), a call needs that profile's ARN plus every foundation model the
  profile routes to, each with ``bedrock:InferenceProfileArn`` set to the
  application profile. The system profile it copies is not checked on its own
  [UNVERIFIED: AWS documents the profile and the foundation models only]; the
  tenant's role then reaches its models through its own profiles and no other way.

Every invoke statement may also pin the request itself:

- ``bedrock:GuardrailIdentifier``: the call must carry the tenant's guardrail, as
  its ARN followed by ``:<version>`` ("Enforce the use of specific guardrails in
  model inference requests", Bedrock user guide, example 1:
  ``arn:aws:bedrock:us-east-1:123456789012:guardrail/guardrail-id:1``). A call
  without a guardrail has no such key, so ``StringEquals`` does not match and
  nothing allows it. Using a guardrail in inference also needs
  ``bedrock:ApplyGuardrail`` on the guardrail ("Set up permissions to use
  Amazon Bedrock Guardrails"), granted on that one guardrail.
- ``bedrock:ServiceTier``: the tier the request names (``reserved``, ``priority``,
  ``default``, ``flex``; "Control access to service tiers", Bedrock user guide).
  A request that names none has no such key and is not allowed either: the
  function always names its tier.

[UNVERIFIED: AWS documents both keys on the foundation-model resource; this
product assumes Bedrock sets them on every resource a call is checked on
(profiles included), as it does for ``bedrock:InferenceProfileArn``.]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
APPLY_GUARDRAIL_ACTION = "bedrock:ApplyGuardrail"
GUARDRAIL_CONDITION_KEY = "bedrock:GuardrailIdentifier"
SERVICE_TIER_CONDITION_KEY = "bedrock:ServiceTier"
APPLY_GUARDRAIL_SID = "ApplyOwnGuardrail"

# Bedrock model providers whose ids this product knows how to scope IAM for.
MODEL_PROVIDERS = frozenset(
    {
        "amazon",
        "anthropic",
        "ai21",
        "cohere",
        "meta",
        "mistral",
        "stability",
        "deepseek",
        "writer",
        "qwen",
        "openai",
        "twelvelabs",
        "luma",
        "minimax",
        "moonshot",
    }
)

# Destination regions of Bedrock's geographic cross-region inference profiles.
# A profile routes a call to any of these regions, so the invoker role must be
# allowed to use the foundation model in each. The registry can override them
# (operations.inference_profile_regions) when AWS adds regions.
DEFAULT_INFERENCE_PROFILE_REGIONS: dict[str, tuple[str, ...]] = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "us-gov": ("us-gov-east-1", "us-gov-west-1"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"),
    "apac": ("ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2"),
    "ca": ("ca-central-1", "us-east-1", "us-east-2", "us-west-2"),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
}
GLOBAL_PROFILE_PREFIX = "global"

MODEL_ID_RE = re.compile(
    r"(?:(?P<profile>[a-z]{2,6}(?:-gov)?)\.)?"
    r"(?P<provider>[a-z0-9]+)\.(?P<name>[a-z0-9][a-zA-Z0-9._-]*(?::\d+)?(?::[a-z0-9]+)?)",
    re.ASCII,
)

ProfileRegions = Callable[[str], Sequence[str]]


def parse_model_id(value: str) -> tuple[str | None, str]:
    """Split a model id into (inference-profile prefix or None, foundation model id).

    Raises ValueError with a message fit for the user.
    """
    match = MODEL_ID_RE.fullmatch(value)
    if not match:
        raise ValueError(
            f"'{value}' is not a Bedrock model id (like anthropic.claude-3-haiku-20240307-v1:0 "
            "or us.anthropic.claude-3-5-haiku-20241022-v1:0)"
        )
    profile, provider = match.group("profile"), match.group("provider")
    if provider not in MODEL_PROVIDERS:
        raise ValueError(f"'{value}': unknown model provider '{provider}'")
    if (
        profile is not None
        and profile != GLOBAL_PROFILE_PREFIX
        and (profile not in DEFAULT_INFERENCE_PROFILE_REGIONS)
    ):
        raise ValueError(f"'{value}': unknown inference profile prefix '{profile}'")
    foundation = value.split(".", 1)[1] if profile else value
    return profile, foundation


def default_profile_regions(
    overrides: Mapping[str, Sequence[str]] | None = None,
) -> ProfileRegions:
    """Destination regions per profile prefix: the registry's overrides, else AWS's."""

    def regions(prefix: str) -> Sequence[str]:
        if overrides and prefix in overrides:
            return overrides[prefix]
        return DEFAULT_INFERENCE_PROFILE_REGIONS[prefix]

    return regions


def foundation_model_arn(partition: str, region: str, model: str) -> str:
    """Foundation models are AWS-owned: their ARNs carry no account."""
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model}"


def inference_profile_arn(partition: str, region: str, account: str, profile_id: str) -> str:
    """System inference profiles live in the calling account."""
    return f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{profile_id}"


def guardrail_arn(partition: str, region: str, account: str, identifier: str) -> str:
    """A guardrail's ARN from its ARN or its id (in ``account`` and ``region``)."""
    if identifier.startswith("arn:"):
        return identifier
    return f"arn:{partition}:bedrock:{region}:{account}:guardrail/{identifier}"


def guardrail_condition_value(arn: str, version: str) -> str:
    """What ``bedrock:GuardrailIdentifier`` holds for a call with this guardrail version."""
    return f"{arn}:{version}"


def application_profile_arn(partition: str, region: str, account: str, profile_id: str) -> str:
    """Application inference profiles: an id Bedrock generates, in the creating account."""
    return f"arn:{partition}:bedrock:{region}:{account}:application-inference-profile/{profile_id}"


# Bedrock generates an application profile's id (12 lowercase letters and digits seen).
APPLICATION_PROFILE_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:application-inference-profile/[a-z0-9]{1,64}",
    re.ASCII,
)
_SOURCE_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d{0,12}:(?:foundation-model|inference-profile)/(?P<id>.+)",
    re.ASCII,
)


def application_profile_source_arn(
    model_id: str, *, partition: str, region: str, account: str
) -> str:
    """What an application profile for ``model_id`` copies (``ModelSource.CopyFrom``).

    The foundation model in the calling region, or the system cross-region
    profile for a ``us.``/``eu.``/``global.`` ... id, so the application profile
    routes exactly as the model id would.
    """
    prefix, foundation = parse_model_id(model_id)
    if prefix is None:
        return foundation_model_arn(partition, region, foundation)
    return inference_profile_arn(partition, region, account, model_id)


def model_id_of_source_arn(arn: str) -> str:
    """The model id behind a foundation-model or system-profile ARN (the inverse of
    :func:`application_profile_source_arn`); ValueError for anything else."""
    match = _SOURCE_ARN_RE.fullmatch(arn)
    if not match:
        raise ValueError(f"'{arn}' is not a foundation-model or inference-profile ARN")
    model_id = match.group("id")
    parse_model_id(model_id)
    return model_id


class NeedKind(StrEnum):
    """Why a call needs a resource; each kind is one IAM statement."""

    FOUNDATION_MODEL = "FoundationModels"
    INFERENCE_PROFILE = "InferenceProfiles"
    APPLICATION_PROFILE = "ApplicationInferenceProfiles"
    ROUTED_BY_PROFILE = "ModelsRoutedByInferenceProfiles"
    ROUTED_BY_GLOBAL_PROFILE = "ModelsRoutedByGlobalProfiles"


@dataclass(frozen=True)
class ResourceNeed:
    """One resource a call is authorized on, and the request context it carries there."""

    arn: str
    kind: NeedKind
    via_profile: str | None = None  # bedrock:InferenceProfileArn

    @property
    def context(self) -> dict[str, str]:
        """The condition keys Bedrock sets when it checks this resource."""
        context: dict[str, str] = {}
        if self.via_profile is not None:
            context["bedrock:InferenceProfileArn"] = self.via_profile
        if self.kind is NeedKind.ROUTED_BY_GLOBAL_PROFILE:
            context["aws:RequestedRegion"] = "unspecified"
        return context


def resources_needed(
    model_id: str,
    *,
    partition: str,
    region: str,
    account: str,
    profile_regions: ProfileRegions,
    application_profile: str | None = None,
) -> list[ResourceNeed]:
    """Every resource a call to ``model_id`` from ``account``/``region`` is checked on.

    With ``application_profile`` (the ARN of an application inference profile
    made for ``model_id``), the call goes through that profile instead.
    Raises ValueError for an id that is not a Bedrock model id.
    """
    prefix, foundation = parse_model_id(model_id)
    if application_profile is not None:
        needs = [ResourceNeed(application_profile, NeedKind.APPLICATION_PROFILE)]
        if prefix is None:
            return [
                *needs,
                ResourceNeed(
                    foundation_model_arn(partition, region, foundation),
                    NeedKind.ROUTED_BY_PROFILE,
                    application_profile,
                ),
            ]
        profile = application_profile
    else:
        if prefix is None:
            return [
                ResourceNeed(
                    foundation_model_arn(partition, region, foundation), NeedKind.FOUNDATION_MODEL
                )
            ]
        profile = inference_profile_arn(partition, region, account, model_id)
        needs = [ResourceNeed(profile, NeedKind.INFERENCE_PROFILE)]
    if prefix == GLOBAL_PROFILE_PREFIX:
        needs.append(
            ResourceNeed(
                foundation_model_arn(partition, region, foundation),
                NeedKind.ROUTED_BY_PROFILE,
                profile,
            )
        )
        needs.append(
            ResourceNeed(
                foundation_model_arn(partition, "", foundation),
                NeedKind.ROUTED_BY_GLOBAL_PROFILE,
                profile,
            )
        )
        return needs
    needs += [
        ResourceNeed(
            foundation_model_arn(partition, dest, foundation), NeedKind.ROUTED_BY_PROFILE, profile
        )
        for dest in profile_regions(prefix)
    ]
    return needs


@dataclass(frozen=True)
class ModelGrant:
    """One IAM statement's worth of access: invoke ``resources`` under ``conditions``."""

    sid: str
    resources: tuple[str, ...]
    conditions: dict[str, dict[str, str | list[str]]] = field(default_factory=dict)
    actions: tuple[str, ...] = INVOKE_ACTIONS


def model_grants(
    models: Iterable[str],
    *,
    partition: str,
    region: str,
    account: str,
    profile_regions: ProfileRegions,
    application_profiles: Mapping[str, str] | None = None,
    guardrail: tuple[str, str] | None = None,
    service_tiers: Sequence[str] | None = None,
) -> list[ModelGrant]:
    """Least-privilege grants for calling ``models`` from ``account``/``region``.

    Foundation-model statements reached through a profile hold only when the call
    goes through one of the tenant's profiles (``bedrock:InferenceProfileArn``).
    With ``application_profiles`` (model id -> application profile ARN, one for
    every model), every model is reachable only through its application profile.
    With ``guardrail`` (its ARN and version) every invoke statement holds only for a
    call carrying exactly that guardrail, and ``ApplyOwnGuardrail`` lets the call
    apply it; with ``service_tiers`` only for a call naming one of those tiers.
    """
    by_kind: dict[NeedKind, list[str]] = {kind: [] for kind in NeedKind}
    via: list[str] = []
    for model in models:
        if application_profiles is not None and model not in application_profiles:
            raise ValueError(f"'{model}': no application inference profile given")
        for need in resources_needed(
            model,
            partition=partition,
            region=region,
            account=account,
            profile_regions=profile_regions,
            application_profile=(
                application_profiles[model] if application_profiles is not None else None
            ),
        ):
            by_kind[need.kind].append(need.arn)
            if need.via_profile is not None:
                via.append(need.via_profile)
    profiles = _dedupe(via)
    conditions: dict[NeedKind, dict[str, dict[str, str | list[str]]]] = {
        NeedKind.FOUNDATION_MODEL: {},
        NeedKind.INFERENCE_PROFILE: {},
        NeedKind.APPLICATION_PROFILE: {},
        NeedKind.ROUTED_BY_PROFILE: {"StringEquals": {"bedrock:InferenceProfileArn": profiles}},
        NeedKind.ROUTED_BY_GLOBAL_PROFILE: {
            "StringEquals": {
                "aws:RequestedRegion": "unspecified",
                "bedrock:InferenceProfileArn": profiles,
            }
        },
    }
    pinned: dict[str, str | list[str]] = {}
    if guardrail is not None:
        pinned[GUARDRAIL_CONDITION_KEY] = guardrail_condition_value(*guardrail)
    if service_tiers is not None:
        pinned[SERVICE_TIER_CONDITION_KEY] = list(service_tiers)
    grants = [
        ModelGrant(
            sid=kind.value,
            resources=tuple(_dedupe(arns)),
            conditions=_with_string_equals(conditions[kind], pinned),
        )
        for kind, arns in by_kind.items()
        if arns
    ]
    if guardrail is not None:
        grants.append(
            ModelGrant(
                sid=APPLY_GUARDRAIL_SID,
                resources=(guardrail[0],),
                actions=(APPLY_GUARDRAIL_ACTION,),
            )
        )
    return grants


def _with_string_equals(
    conditions: dict[str, dict[str, str | list[str]]], pinned: Mapping[str, str | list[str]]
) -> dict[str, dict[str, str | list[str]]]:
    """``conditions`` with ``pinned`` added to its ``StringEquals`` block (all must match)."""
    if not pinned:
        return conditions
    return {**conditions, "StringEquals": {**conditions.get("StringEquals", {}), **pinned}}


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))
