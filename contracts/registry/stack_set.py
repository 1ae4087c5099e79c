"""The registry's ``customer_stack_set`` block: every customer side rolled out by a StackSet.

With the block, no tenant gets a CDK customer stack: ``app.py`` synthesizes the
operations shards and one StackSet template, and ``tenantctl stackset deploy``
and ``sync`` create the StackSet and one stack instance per tenant (its account,
its region, its settings as parameter overrides). The StackSet lives in the
first operations account (``operations``), in its region: with
``SERVICE_MANAGED`` permissions that account must be the organization's
management account or a registered delegated administrator (``call_as:
DELEGATED_ADMIN``).

The block applies to every tenant, because one template carries one value of
the settings it cannot take as parameters (``FIXED_AT_SYNTH``, taken from
``defaults``): a tenant whose own value differs is a registry error here, not a
surprise at rollout.

The operation preferences are held to the rules CloudFormation's
``StackSetOperationPreferences`` has: a count or a percentage, never both, in
the same ranges.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, StrictStr, model_validator

from contracts.fields import FrozenModel, Region
from contracts.function_environment import encode, variable
from contracts.registry.issues import RegistryIssue
from contracts.tenant_settings import Defaults, FunctionSettings, HeldBy, settings

if TYPE_CHECKING:
    from contracts.registry.model import Tenant, TenantRegistry

DEFAULT_STACK_SET_NAME = "BedrockCustomerStackSet"
# The template's stack in the CDK app (and its cloud assembly).
TEMPLATE_STACK_NAME = "BedrockCustomerStackSet"
# Customer-stack settings the StackSet template takes from the registry defaults at
# synth (they change its resources, and CloudFormation has no parameter for that).
FIXED_AT_SYNTH = ("alarms", "xray_tracing")

# CloudFormation's own patterns: StackSetName, OrganizationalUnitId, an S3 bucket name.
STACK_SET_NAME_RE = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}", re.ASCII)
ORGANIZATIONAL_UNIT_ID_RE = re.compile(
    r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32}", re.ASCII
)
BUCKET_NAME_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
ROLE_NAME_RE = re.compile(r"[a-zA-Z_0-9+=,.@-]{1,64}", re.ASCII)
ROLE_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@/-]{1,512}", re.ASCII)


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


StackSetName = Annotated[
    StrictStr,
    _matching(STACK_SET_NAME_RE, "a letter, then up to 127 letters, digits and hyphens"),
]
OrganizationalUnitId = Annotated[
    StrictStr,
    _matching(
        ORGANIZATIONAL_UNIT_ID_RE, "an organizational unit id (ou-xxxx-xxxxxxxx) or a root (r-xxxx)"
    ),
]
BucketName = Annotated[
    StrictStr,
    _matching(BUCKET_NAME_RE, "an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"),
]
RoleName = Annotated[StrictStr, _matching(ROLE_NAME_RE, "an IAM role name")]
RoleArn = Annotated[StrictStr, _matching(ROLE_ARN_RE, "an IAM role ARN")]


class PermissionModel(StrEnum):
    """Who creates the roles StackSets deploy with: AWS Organizations, or the platform team."""

    SERVICE_MANAGED = "SERVICE_MANAGED"
    SELF_MANAGED = "SELF_MANAGED"


class CallAs(StrEnum):
    """Whether the operations account is the management account or a delegated administrator."""

    SELF = "SELF"
    DELEGATED_ADMIN = "DELEGATED_ADMIN"


class RegionConcurrency(StrEnum):
    """Regions one at a time, or all at once."""

    SEQUENTIAL = "SEQUENTIAL"
    PARALLEL = "PARALLEL"


class ConcurrencyMode(StrEnum):
    """Whether failures lower the concurrency (strict, AWS's default) or not (soft)."""

    STRICT_FAILURE_TOLERANCE = "STRICT_FAILURE_TOLERANCE"
    SOFT_FAILURE_TOLERANCE = "SOFT_FAILURE_TOLERANCE"


_Percentage = Annotated[int, Field(strict=True, ge=0, le=100)]


class OperationPreferences(FrozenModel):
    """How a StackSet operation proceeds across the accounts of each region.

    Unset fields are CloudFormation's defaults (one account at a time, no failure
    tolerated): slow for thousands of accounts, so set them.
    """

    max_concurrent_percentage: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    max_concurrent_count: Annotated[int, Field(strict=True, ge=1)] | None = None
    failure_tolerance_percentage: _Percentage | None = None
    failure_tolerance_count: Annotated[int, Field(strict=True, ge=0)] | None = None
    region_concurrency_type: RegionConcurrency | None = None
    concurrency_mode: ConcurrencyMode | None = None

    @model_validator(mode="after")
    def _count_or_percentage(self) -> OperationPreferences:
        for what in ("max_concurrent", "failure_tolerance"):
            if getattr(self, f"{what}_count") is not None and (
                getattr(self, f"{what}_percentage") is not None
            ):
                raise ValueError(
                    f"give {what}_count or {what}_percentage, not both (as CloudFormation requires)"
                )
        return self

    def as_api(self) -> dict[str, Any]:
        """The ``OperationPreferences`` of a CloudFormation StackSet call."""
        names = {
            "max_concurrent_percentage": "MaxConcurrentPercentage",
            "max_concurrent_count": "MaxConcurrentCount",
            "failure_tolerance_percentage": "FailureTolerancePercentage",
            "failure_tolerance_count": "FailureToleranceCount",
            "region_concurrency_type": "RegionConcurrencyType",
            "concurrency_mode": "ConcurrencyMode",
        }
        return {
            api: str(value) if isinstance(value, StrEnum) else value
            for field, api in names.items()
            if (value := getattr(self, field)) is not None
        }


class CustomerStackSet(FrozenModel):
    """``customer_stack_set``: the customer side of every tenant, rolled out by one StackSet."""

    name: StackSetName = DEFAULT_STACK_SET_NAME
    # A bucket every target account may read (e.g. a policy on aws:PrincipalOrgID),
    # holding the function's zip under its content hash.
    code_bucket: BucketName
    # The bucket's region; unset means the operations account's region.
    code_bucket_region: Region | None = None
    permission_model: PermissionModel = PermissionModel.SERVICE_MANAGED
    # SERVICE_MANAGED: the OUs holding the tenant accounts. Each instance targets its
    # tenant's account within them (AccountFilterType INTERSECTION).
    organizational_unit_ids: tuple[OrganizationalUnitId, ...] = ()
    call_as: CallAs = CallAs.SELF
    # SELF_MANAGED: the roles the platform team created (AWS's defaults when unset).
    administration_role_arn: RoleArn | None = None
    execution_role_name: RoleName | None = None
    operation_preferences: OperationPreferences = OperationPreferences()

    @model_validator(mode="after")
    def _permission_model_fits(self) -> CustomerStackSet:
        if self.permission_model is PermissionModel.SERVICE_MANAGED:
            if not self.organizational_unit_ids:
                raise ValueError(
                    "organizational_unit_ids: a SERVICE_MANAGED StackSet needs the OUs "
                    "holding the tenant accounts"
                )
            if self.administration_role_arn or self.execution_role_name:
                raise ValueError(
                    "administration_role_arn / execution_role_name: only for SELF_MANAGED "
                    "(AWS Organizations creates the roles of a SERVICE_MANAGED StackSet)"
                )
        else:
            if self.organizational_unit_ids:
                raise ValueError(
                    "organizational_unit_ids: only for SERVICE_MANAGED (a SELF_MANAGED "
                    "StackSet targets accounts)"
                )
            if self.call_as is CallAs.DELEGATED_ADMIN:
                raise ValueError("call_as: DELEGATED_ADMIN is only for SERVICE_MANAGED")
        return self


def stack_set_issues(registry: TenantRegistry) -> Iterator[RegistryIssue]:
    """Every tenant the StackSet template cannot carry, at the field that sets it."""
    if registry.customer_stack_set is None:
        return
    # The template has one shape for every tenant, and a workload role is a role,
    # a parameter and two outputs more: those tenants deploy with CDK stacks.
    refused = (
        "is not supported with customer_stack_set (the StackSet template creates no "
        "workload role); remove customer_stack_set to deploy the customer stacks with CDK"
    )
    if registry.defaults.workload_role is not None:
        yield RegistryIssue(path="defaults.workload_role", message=refused)
    for index, spec in enumerate(registry.tenants):
        if spec.workload_role is not None:
            yield RegistryIssue(path=f"tenants[{index}].workload_role", message=refused)
        try:
            tenant = registry.resolve(spec)
        except KeyError:
            continue  # an unknown operations account, reported elsewhere
        for name in FIXED_AT_SYNTH:
            if getattr(tenant, name) != getattr(registry.defaults, name):
                yield RegistryIssue(
                    path=f"tenants[{index}].{name}",
                    message=(
                        f"differs from defaults.{name}, which the customer StackSet template "
                        "is synthesized with (customer_stack_set rolls out every tenant): "
                        f"use the defaults' value, or change defaults.{name} for every tenant"
                    ),
                )


# --- the template's parameters: what the template declares and each instance overrides

# Customer-stack settings that change the template's shape, made conditions here.
PARAMETRIC = ("log_retention_days", "snap_start", "usage_sink", "reserved_concurrency")
# An optional number's parameter value when the setting is unset (the registry never
# allows 0, which would stop the function).
UNSET = "0"


def parameter_name(setting: str) -> str:
    """A setting's parameter: its environment variable in CamelCase (``AllowedModels``)."""
    return "".join(part.capitalize() for part in variable(setting).split("_"))


def template_settings() -> list[str]:
    """The settings that are parameters: every one the function reads, and ``PARAMETRIC``."""
    return [
        name
        for name, _, how in settings()
        if HeldBy.CUSTOMER in how.held_by
        and (name in FunctionSettings.model_fields or name in PARAMETRIC)
    ]


class StackSetMismatch(ValueError):
    """A tenant the StackSet template cannot carry as its registry entry says."""


def stack_set_parameters(
    tenant: Tenant, code_bucket: str, *, defaults: Defaults
) -> list[dict[str, str]]:
    """One tenant's parameter overrides for ``create-stack-instances``.

    Raises StackSetMismatch naming each ``FIXED_AT_SYNTH`` setting where the
    tenant differs from ``defaults`` (which the template was synthesized with):
    such a tenant is deployed with ``cdk deploy`` instead.
    """
    differ = [name for name in FIXED_AT_SYNTH if getattr(tenant, name) != getattr(defaults, name)]
    if differ:
        raise StackSetMismatch(
            f"tenant '{tenant.id}': {', '.join(differ)} differ from the registry defaults, "
            "which the StackSet template is synthesized with; deploy this tenant with "
            f"`tenantctl deploy --tenant {tenant.id}`"
        )
    values = {
        "TenantId": tenant.id,
        "ExternalId": tenant.external_id,
        "OperationsAccountId": tenant.operations_account_id,
        "BedrockRegion": tenant.bedrock_region,
        **{
            parameter_name(name): (UNSET if name in PARAMETRIC else "")
            if value is None
            else encode(value)
            for name in template_settings()
            for value in [getattr(tenant, name)]
        },
        "CodeBucket": code_bucket,
    }
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
