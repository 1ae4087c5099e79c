"""The tenant registry: one YAML file describing the operations account and every tenant.

The file is validated into frozen pydantic models once (in ``app.py`` or the
CLI) and passed down; nothing else reads it. Every problem is reported with
the path of the field it concerns, e.g. ``tenants[2].account_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from contracts import naming
from contracts.errors import field_path
from contracts.model_access import (
    GLOBAL_PROFILE_PREFIX,
    default_profile_regions,
    parse_model_id,
)
from contracts.usage_record import LOG_RETENTION_DAYS, LogContent

# Every pattern is used with fullmatch and re.ASCII: `$` alone would accept a
# trailing newline, and \d or \w non-ASCII digits and letters, which AWS refuses.
ACCOUNT_ID_RE = re.compile(r"\d{12}", re.ASCII)
REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", re.ASCII)
# IAM's documented character set for sts:ExternalId.
EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]+", re.ASCII)
LOG_GROUP_NAME_RE = re.compile(r"[\w\-/.#]{1,512}", re.ASCII)
EXTERNAL_ID_MIN, EXTERNAL_ID_MAX = 2, 1224

# The operations account's invoker roles are spread over shards, one stack each.
# CloudFormation allows 500 resources and 200 outputs per stack; each tenant costs
# two resources and one output, and a shard's guard (and shard 0's alert) about
# ten resources. 150 leaves room on both counts; 190 is the most the outputs allow.
DEFAULT_SHARD_CAPACITY = 150
MAX_SHARD_CAPACITY = 190
# IAM: 1,000 roles per account by default, 5,000 with a quota increase.
DEFAULT_IAM_ROLE_QUOTA = 1000
MAX_IAM_ROLE_QUOTA = 5000
# IAM: trust policies are 2,048 characters by default, 4,096 with a quota increase.
DEFAULT_TRUST_POLICY_MAX_CHARS = 2048
MAX_TRUST_POLICY_MAX_CHARS = 4096


class RegistryIssue(BaseModel):
    """One problem in a registry, at a field path such as ``tenants[2].account_id``."""

    model_config = ConfigDict(frozen=True)
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RegistryError(Exception):
    """A registry that cannot be used; carries every issue found."""

    def __init__(self, issues: Sequence[RegistryIssue], source: str | None = None) -> None:
        self.issues = list(issues)
        self.source = source
        super().__init__("\n".join(str(i) for i in self.issues))


def _account_id(value: str) -> str:
    if not ACCOUNT_ID_RE.fullmatch(value):
        raise ValueError("must be 12 digits")
    return value


def _region(value: str) -> str:
    if not REGION_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not an AWS region name (like us-east-1)")
    return value


def _external_id(value: str) -> str:
    if not EXTERNAL_ID_MIN <= len(value) <= EXTERNAL_ID_MAX:
        raise ValueError(
            f"must be {EXTERNAL_ID_MIN} to {EXTERNAL_ID_MAX} characters (got {len(value)})"
        )
    if not EXTERNAL_ID_RE.fullmatch(value):
        raise ValueError("may only contain letters, digits and + = , . @ : / - _")
    return value


def _model_id(value: str) -> str:
    parse_model_id(value)
    return value


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in sorted(LOG_RETENTION_DAYS))
        raise ValueError(f"{value} is not accepted by CloudWatch Logs; use one of {allowed}")
    return value


def _log_group_name(value: str) -> str:
    if not LOG_GROUP_NAME_RE.fullmatch(value):
        raise ValueError("must be 1-512 characters of letters, digits and _ - / . #")
    return value


def _non_empty_unique(values: tuple[str, ...]) -> tuple[str, ...]:
    # A plain min_length would also fire after a bad item was dropped, so
    # one bad model id would be reported twice.
    if not values:
        raise ValueError("must list at least one model")
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"'{v}' is listed twice")
        seen.add(v)
    return values


AccountId = Annotated[StrictStr, AfterValidator(_account_id)]
Region = Annotated[StrictStr, AfterValidator(_region)]
TenantId = Annotated[StrictStr, AfterValidator(naming.valid_tenant_id)]
ExternalId = Annotated[StrictStr, AfterValidator(_external_id)]
ModelId = Annotated[StrictStr, AfterValidator(_model_id)]
ModelList = Annotated[tuple[ModelId, ...], AfterValidator(_non_empty_unique)]
RetentionDays = Annotated[int, Field(strict=True), AfterValidator(_retention)]
LogGroupName = Annotated[StrictStr, AfterValidator(_log_group_name)]
ReservedConcurrency = Annotated[int, Field(strict=True, ge=1, le=1000)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Operations(_Frozen):
    """The operations account that owns Bedrock access and quota."""

    account_id: AccountId
    region: Region
    # Bedrock's own invocation logging here would copy every tenant's prompts
    # into this account; the deploy-time guard refuses it unless this is set.
    allow_ops_invocation_logging: bool = False
    alert_email: Annotated[StrictStr, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    inference_profile_regions: dict[str, tuple[Region, ...]] | None = None
    # How many tenants' invoker roles one operations stack (shard) holds.
    shard_capacity: Annotated[int, Field(strict=True, ge=1, le=MAX_SHARD_CAPACITY)] = (
        DEFAULT_SHARD_CAPACITY
    )
    # The account's IAM role quota, to warn before it is reached (80%) and refuse past it.
    iam_role_quota: Annotated[int, Field(strict=True, ge=1, le=MAX_IAM_ROLE_QUOTA)] = (
        DEFAULT_IAM_ROLE_QUOTA
    )
    # The account's trust-policy size quota (characters), checked at synth.
    trust_policy_max_chars: Annotated[
        int,
        Field(strict=True, ge=DEFAULT_TRUST_POLICY_MAX_CHARS, le=MAX_TRUST_POLICY_MAX_CHARS),
    ] = DEFAULT_TRUST_POLICY_MAX_CHARS

    def profile_regions(self, prefix: str) -> Sequence[str]:
        """Destination regions of a geographic inference profile prefix."""
        return default_profile_regions(self.inference_profile_regions)(prefix)


class Defaults(_Frozen):
    """Settings a tenant inherits unless it sets its own."""

    models: ModelList = ("anthropic.claude-3-haiku-20240307-v1:0",)
    log_retention_days: RetentionDays = 90
    log_content: LogContent = LogContent.METADATA
    usage_log_group: LogGroupName = naming.DEFAULT_USAGE_LOG_GROUP
    reserved_concurrency: ReservedConcurrency | None = None
    # X-Ray active tracing of the invoker Lambda (off: traces cost money per call).
    xray_tracing: Annotated[bool, Field(strict=True)] = False


class TenantSpec(_Frozen):
    """A tenant as written in the registry; unset fields inherit the defaults."""

    id: TenantId
    account_id: AccountId
    region: Region
    external_id: ExternalId
    models: ModelList | None = None
    log_retention_days: RetentionDays | None = None
    log_content: LogContent | None = None
    reserved_concurrency: ReservedConcurrency | None = None
    xray_tracing: Annotated[bool, Field(strict=True)] | None = None
    display_name: StrictStr | None = None
    # The operations stack (shard) holding this tenant's invoker role. Recorded at
    # onboarding and never changed: moving a role to another stack deletes and
    # recreates it, an outage for the tenant. Unset means shard 0, where every
    # tenant of a registry from before sharding is.
    shard: Annotated[int, Field(strict=True, ge=0)] | None = None


class Tenant(_Frozen):
    """A tenant with the defaults applied: what the stacks and the CLI consume."""

    id: str
    account_id: str
    region: str
    external_id: str
    models: tuple[str, ...]
    log_retention_days: int
    log_content: LogContent
    usage_log_group: str
    reserved_concurrency: int | None
    display_name: str | None = None
    xray_tracing: bool = False
    shard: int = 0

    @property
    def default_model(self) -> str:
        """The model used when an event names none: the first allowed one."""
        return self.models[0]

    @property
    def stack_name(self) -> str:
        return naming.customer_stack_name(self.id)

    @property
    def operations_stack_name(self) -> str:
        """The operations stack (shard) that holds this tenant's invoker role."""
        return naming.operations_stack_name(self.shard)

    @property
    def function_name(self) -> str:
        return naming.function_name(self.id)

    @property
    def caller_role_arn(self) -> str:
        return naming.caller_role_arn(self.account_id, self.id, region=self.region)


class TenantRegistry(_Frozen):
    """The whole registry file."""

    version: Annotated[int, Field(strict=True, ge=1, le=1)] = 1
    operations: Operations
    defaults: Defaults = Defaults()
    tenants: tuple[TenantSpec, ...] = ()

    @model_validator(mode="after")
    def _cross_checks(self) -> TenantRegistry:
        issues = list(_cross_tenant_issues(self))
        if issues:
            # Not a ValueError: pydantic would flatten the field paths away.
            raise RegistryError(issues)
        return self

    def resolved_tenants(self) -> tuple[Tenant, ...]:
        """Every tenant with defaults applied, in registry order."""
        return tuple(self.resolve(spec) for spec in self.tenants)

    def resolve(self, spec: TenantSpec) -> Tenant:
        d = self.defaults
        return Tenant(
            id=spec.id,
            account_id=spec.account_id,
            region=spec.region,
            external_id=spec.external_id,
            models=spec.models or d.models,
            log_retention_days=spec.log_retention_days or d.log_retention_days,
            log_content=spec.log_content or d.log_content,
            usage_log_group=d.usage_log_group,
            reserved_concurrency=spec.reserved_concurrency or d.reserved_concurrency,
            display_name=spec.display_name,
            xray_tracing=d.xray_tracing if spec.xray_tracing is None else spec.xray_tracing,
            shard=spec.shard or 0,
        )

    def tenant(self, tenant_id: str) -> Tenant:
        """One tenant by id; KeyError names the known ids."""
        for spec in self.tenants:
            if spec.id == tenant_id:
                return self.resolve(spec)
        known = ", ".join(t.id for t in self.tenants) or "none"
        raise KeyError(f"unknown tenant '{tenant_id}' (known: {known})")

    def shards(self) -> dict[int, tuple[Tenant, ...]]:
        """Each shard's tenants, shards in ascending order, tenants in registry order."""
        by_shard: dict[int, list[Tenant]] = {}
        for tenant in self.resolved_tenants():
            by_shard.setdefault(tenant.shard, []).append(tenant)
        if not by_shard:
            by_shard[0] = []  # the guard and alert deploy before the first tenant
        return {shard: tuple(by_shard[shard]) for shard in sorted(by_shard)}

    def shard_for_new_tenant(self) -> int:
        """Where onboarding puts the next tenant: the lowest shard with room.

        Filling gaps left by offboarded tenants keeps the shard count low; no
        existing tenant moves, because the choice is recorded in the new entry.
        """
        counts = {shard: len(tenants) for shard, tenants in self.shards().items()}
        shard = 0
        while counts.get(shard, 0) >= self.operations.shard_capacity:
            shard += 1
        return shard

    def invoker_role_arn(self, tenant_id: str) -> str:
        return naming.invoker_role_arn(
            self.operations.account_id, tenant_id, region=self.operations.region
        )


def _cross_tenant_issues(registry: TenantRegistry) -> Iterable[RegistryIssue]:
    ids: dict[str, int] = {}
    accounts: dict[str, int] = {}
    external_ids: dict[str, int] = {}
    ops_account = registry.operations.account_id
    capacity = registry.operations.shard_capacity
    per_shard: dict[int, int] = {}
    for i, t in enumerate(registry.tenants):
        shard = t.shard or 0
        per_shard[shard] = per_shard.get(shard, 0) + 1
        if per_shard[shard] == capacity + 1:
            yield RegistryIssue(
                path=f"tenants[{i}].shard",
                message=(
                    f"tenant '{t.id}' is the {capacity + 1}th in operations stack "
                    f"{naming.operations_stack_name(shard)} (shard {shard}), over "
                    f"operations.shard_capacity {capacity}; give it a shard with room "
                    "(tenantctl onboard records one)"
                ),
            )
    roles = len(registry.tenants) + len(per_shard or {0: 0})  # + one guard role per shard
    quota = registry.operations.iam_role_quota
    if roles > quota:
        yield RegistryIssue(
            path="tenants",
            message=(
                f"{roles} IAM roles ({len(registry.tenants)} invoker roles and "
                f"{len(per_shard or {0: 0})} guard roles) exceed operations.iam_role_quota "
                f"{quota} of account {registry.operations.account_id}; raise the quota "
                "(up to 5,000) or move tenants to another operations account"
            ),
        )
    for i, t in enumerate(registry.tenants):
        if t.id in ids:
            yield RegistryIssue(
                path=f"tenants[{i}].id",
                message=f"duplicate tenant id '{t.id}' (also tenants[{ids[t.id]}])",
            )
        ids.setdefault(t.id, i)
        if t.account_id == ops_account:
            yield RegistryIssue(
                path=f"tenants[{i}].account_id",
                message="is the operations account; a tenant needs its own account",
            )
        if t.account_id in accounts:
            yield RegistryIssue(
                path=f"tenants[{i}].account_id",
                message=(
                    f"account {t.account_id} is already used by tenants[{accounts[t.account_id]}]"
                ),
            )
        accounts.setdefault(t.account_id, i)
        if t.external_id in external_ids:
            yield RegistryIssue(
                path=f"tenants[{i}].external_id",
                message=(
                    f"is the same as tenants[{external_ids[t.external_id]}]; "
                    "each tenant needs its own"
                ),
            )
        external_ids.setdefault(t.external_id, i)
        for j, model in enumerate(t.models or ()):
            yield from _profile_issues(registry, model, f"tenants[{i}].models[{j}]")
    for j, model in enumerate(registry.defaults.models):
        yield from _profile_issues(registry, model, f"defaults.models[{j}]")


def _profile_issues(registry: TenantRegistry, model: str, path: str) -> Iterable[RegistryIssue]:
    profile, _ = parse_model_id(model)
    if profile and profile != GLOBAL_PROFILE_PREFIX:
        regions = registry.operations.profile_regions(profile)
        if registry.operations.region not in regions:
            yield RegistryIssue(
                path=path,
                message=(
                    f"inference profile '{profile}.' is not offered in the operations region "
                    f"{registry.operations.region} (its regions: {', '.join(regions)})"
                ),
            )


def _friendly(err: dict[str, Any]) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; allowed keys are in docs/registry.md)"
    if kind == "missing":
        return "is required"
    if kind == "string_type" and isinstance(err.get("input"), int):
        return (
            "must be a quoted string (YAML reads unquoted numbers as integers "
            "and drops leading zeros)"
        )
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg


def issues_from_validation_error(exc: ValidationError) -> list[RegistryIssue]:
    """Turn pydantic's errors into field-path issues."""
    return [
        RegistryIssue(path=field_path(tuple(e["loc"])), message=_friendly(dict(e)))
        for e in exc.errors()
    ]


def parse_registry(data: Any, source: str | None = None) -> TenantRegistry:
    """Validate already-loaded registry data; raises RegistryError."""
    if not isinstance(data, dict):
        raise RegistryError(
            [RegistryIssue(path="", message="the registry must be a YAML mapping")], source
        )
    try:
        return TenantRegistry.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(issues_from_validation_error(exc), source) from None
    except RegistryError as exc:
        raise RegistryError(exc.issues, source) from None


def read_registry_text(path: str | Path) -> str:
    """A registry file's text; RegistryError if it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(
            [RegistryIssue(path="", message=f"cannot read {path}: {exc.strerror}")], str(path)
        ) from None


def parse_registry_yaml(text: str, source: str | None = None) -> Any:
    """Registry text as plain data (not yet validated); RegistryError if not YAML."""
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise RegistryError(
            [RegistryIssue(path="", message=f"not valid YAML: {exc}")], source
        ) from None


def load_registry(path: str | Path) -> TenantRegistry:
    """Read and validate a registry file; raises RegistryError naming each bad field."""
    source = str(path)
    return parse_registry(parse_registry_yaml(read_registry_text(path), source), source)
