"""The tenant registry: one YAML file describing the operations account and every tenant.

The file is validated into frozen pydantic models once (in ``app.py`` or the
CLI) and passed down; nothing else reads it. Every problem is reported with
the path of the field it concerns, e.g. ``tenants[2].account_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
from contracts.pricing import ModelPrice
from contracts.usage_record import LOG_RETENTION_DAYS, LogContent, UsageSink

# Every pattern is used with fullmatch and re.ASCII: `$` alone would accept a
# trailing newline, and \d or \w non-ASCII digits and letters, which AWS refuses.
ACCOUNT_ID_RE = re.compile(r"\d{12}", re.ASCII)
REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", re.ASCII)
# IAM's documented character set for sts:ExternalId.
EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]+", re.ASCII)
LOG_GROUP_NAME_RE = re.compile(r"[\w\-/.#]{1,512}", re.ASCII)
EXTERNAL_ID_MIN, EXTERNAL_ID_MAX = 2, 1224

# The operations account's invoker roles are spread over shards, one stack each.
# CloudFormation allows 500 resources and 200 outputs per stack. A shard's capacity
# counts slots: a tenant takes one (its role and policy: two resources, one
# output) plus one per application inference profile (one resource, one output),
# so a full shard has at most capacity outputs and 2 x capacity resources, and a
# shard's guard (and shard 0's alert) about ten more resources. 150 leaves room
# on both counts; 190 is the most the outputs allow.
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
StrictBool = Annotated[bool, Field(strict=True)]
# IAM and Bedrock tag values: up to 256 letters, digits, spaces and _ . : / = + - @.
TAG_VALUE_RE = re.compile(r"[\w .:/=+\-@]{1,256}", re.ASCII)
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
SNS_TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$"


def _tag_value(value: str) -> str:
    if not TAG_VALUE_RE.fullmatch(value):
        raise ValueError("must be 1-256 letters, digits, spaces and _ . : / = + - @")
    return value


TagValue = Annotated[StrictStr, AfterValidator(_tag_value)]
PriceOverrides = dict[ModelId, ModelPrice]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


OPERATIONS_NAME_RE = re.compile(r"[a-z][a-z0-9]{0,19}", re.ASCII)
PRIMARY_OPERATIONS_NAME = "primary"


def _operations_name(value: str) -> str:
    if not OPERATIONS_NAME_RE.fullmatch(value):
        raise ValueError("must be 1-20 lowercase letters and digits, starting with a letter")
    return value


OperationsName = Annotated[StrictStr, AfterValidator(_operations_name)]


class Operations(_Frozen):
    """An operations account that owns Bedrock access and quota for its tenants.

    ``name`` tells several apart (``additional_operations``); the stacks of the
    first account (``operations``) keep the names they had before there could be
    several.
    """

    name: OperationsName = PRIMARY_OPERATIONS_NAME
    account_id: AccountId
    region: Region
    # Bedrock's own invocation logging here would copy every tenant's prompts
    # into this account; the deploy-time guard refuses it unless this is set.
    # Strict: "yes", 1 or "true" would switch on what keeps tenant content out of here.
    allow_ops_invocation_logging: Annotated[bool, Field(strict=True)] = False
    alert_email: Annotated[StrictStr, Field(pattern=EMAIL_PATTERN)] | None = None
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


class AlarmSettings(_Frozen):
    """The tenant's CloudWatch alarms (in its own account) and where they notify.

    A tenant's ``alarms`` block changes only the fields it sets; the rest come
    from ``defaults.alarms``. Each alarm costs a few cents a month.
    """

    enabled: StrictBool = True
    # Failed invocations as a share of all, over 5 minutes.
    error_rate_percent: Annotated[float, Field(gt=0, le=100)] = 5.0
    # Calls Bedrock refused for quota, per 5 minutes.
    throttles_per_5_minutes: Annotated[int, Field(strict=True, ge=1)] = 10
    # Invocations that crashed the function (Lambda's Errors metric), per 5 minutes.
    function_errors_per_5_minutes: Annotated[int, Field(strict=True, ge=1)] = 1
    # The function's maximum duration as a share of its timeout, over 5 minutes.
    duration_percent_of_timeout: Annotated[float, Field(gt=0, le=100)] = 80.0
    # Monthly budgets, alarmed by pace: the trailing 7 days against a week's share
    # of the budget (a CloudWatch alarm looks back 7 days at most).
    monthly_token_budget: Annotated[int, Field(strict=True, ge=1)] | None = None
    monthly_cost_budget_usd: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    # Notify an e-mail address (a new SNS topic in the tenant's account), an
    # existing topic, both, or nobody (the alarms still show on the dashboard).
    email: Annotated[StrictStr, Field(pattern=EMAIL_PATTERN)] | None = None
    sns_topic_arn: Annotated[StrictStr, Field(pattern=SNS_TOPIC_ARN_PATTERN)] | None = None


class Defaults(_Frozen):
    """Settings a tenant inherits unless it sets its own."""

    models: ModelList = ("anthropic.claude-3-haiku-20240307-v1:0",)
    log_retention_days: RetentionDays = 90
    log_content: LogContent = LogContent.METADATA
    usage_log_group: LogGroupName = naming.DEFAULT_USAGE_LOG_GROUP
    reserved_concurrency: ReservedConcurrency | None = None
    # X-Ray active tracing of the invoker Lambda (off: traces cost money per call).
    xray_tracing: Annotated[bool, Field(strict=True)] = False
    # Where the function puts usage records: "api" (PutLogEvents, one stream per
    # user) or "stdout" (printed; Lambda's log delivery puts them in the group).
    usage_sink: UsageSink = UsageSink.API
    # Lambda SnapStart on the published version the "live" alias points at.
    snap_start: StrictBool = False
    # One Bedrock application inference profile per tenant and model, tagged for
    # cost allocation; the tenant's role may then invoke only through them.
    application_inference_profiles: StrictBool = False
    alarms: AlarmSettings = AlarmSettings()
    # Negotiated prices per model (foundation model or profile id), replacing the
    # price table's entry; a tenant's own entries win per model.
    price_overrides: PriceOverrides = Field(default_factory=dict)


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
    usage_sink: UsageSink | None = None
    snap_start: StrictBool | None = None
    application_inference_profiles: StrictBool | None = None
    alarms: AlarmSettings | None = None
    price_overrides: PriceOverrides | None = None
    # Tagged on the tenant's invoker role (and profiles) for cost allocation.
    cost_centre: TagValue | None = None
    display_name: StrictStr | None = None
    # The operations stack (shard) holding this tenant's invoker role. Recorded at
    # onboarding and never changed: moving a role to another stack deletes and
    # recreates it, an outage for the tenant. Unset means shard 0, where every
    # tenant of a registry from before sharding is.
    shard: Annotated[int, Field(strict=True, ge=0)] | None = None
    # The operations account (its ``name``) whose roles and quota serve this
    # tenant; unset means the first one, ``operations``. Recorded at onboarding.
    operations_account: OperationsName | None = None


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
    usage_sink: UsageSink = UsageSink.API
    snap_start: bool = False
    application_inference_profiles: bool = False
    alarms: AlarmSettings = AlarmSettings()
    price_overrides: PriceOverrides = Field(default_factory=dict)
    cost_centre: str | None = None
    shard: int = 0
    operations_account: str = PRIMARY_OPERATIONS_NAME
    # The operations account's id and region, where its invoker role lives and
    # Bedrock is called.
    operations_account_id: str = ""
    bedrock_region: str = ""
    # The operations stack (account and shard) that holds this tenant's invoker role.
    operations_stack_name: str = ""

    @property
    def default_model(self) -> str:
        """The model used when an event names none: the first allowed one."""
        return self.models[0]

    @property
    def stack_name(self) -> str:
        return naming.customer_stack_name(self.id)

    @property
    def invoker_role_arn(self) -> str:
        """The tenant's Bedrock-invoker role in its operations account."""
        return naming.invoker_role_arn(
            self.operations_account_id, self.id, region=self.bedrock_region
        )

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
    # More operations accounts, each with a name: one account holds at most its
    # IAM role quota of tenants (1,000 by default, 5,000 raised) and all of them
    # share its Bedrock quota.
    additional_operations: tuple[Operations, ...] = ()
    defaults: Defaults = Defaults()
    tenants: tuple[TenantSpec, ...] = ()

    @model_validator(mode="after")
    def _cross_checks(self) -> TenantRegistry:
        issues = list(dict.fromkeys(_cross_tenant_issues(self)))
        if issues:
            # Not a ValueError: pydantic would flatten the field paths away.
            raise RegistryError(issues)
        return self

    def resolved_tenants(self) -> tuple[Tenant, ...]:
        """Every tenant with defaults applied, in registry order."""
        return tuple(self.resolve(spec) for spec in self.tenants)

    def operations_accounts(self) -> tuple[Operations, ...]:
        """Every operations account, the first (``operations``) first."""
        return (self.operations, *self.additional_operations)

    def operations_account(self, name: str) -> Operations:
        """An operations account by name; KeyError names the known ones."""
        for ops in self.operations_accounts():
            if ops.name == name:
                return ops
        known = ", ".join(o.name for o in self.operations_accounts())
        raise KeyError(f"unknown operations account '{name}' (known: {known})")

    def resolve(self, spec: TenantSpec) -> Tenant:
        d = self.defaults
        ops = self.operations_account(spec.operations_account or self.operations.name)
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
            usage_sink=spec.usage_sink or d.usage_sink,
            snap_start=d.snap_start if spec.snap_start is None else spec.snap_start,
            application_inference_profiles=(
                d.application_inference_profiles
                if spec.application_inference_profiles is None
                else spec.application_inference_profiles
            ),
            # A tenant's alarms block changes only the fields it sets.
            alarms=(
                d.alarms
                if spec.alarms is None
                else d.alarms.model_copy(update=spec.alarms.model_dump(exclude_unset=True))
            ),
            price_overrides={**d.price_overrides, **(spec.price_overrides or {})},
            cost_centre=spec.cost_centre,
            shard=spec.shard or 0,
            operations_account=ops.name,
            operations_account_id=ops.account_id,
            bedrock_region=ops.region,
            operations_stack_name=self.operations_stack_name(ops, spec.shard or 0),
        )

    def tenant(self, tenant_id: str) -> Tenant:
        """One tenant by id; KeyError names the known ids."""
        for spec in self.tenants:
            if spec.id == tenant_id:
                return self.resolve(spec)
        known = ", ".join(t.id for t in self.tenants) or "none"
        raise KeyError(f"unknown tenant '{tenant_id}' (known: {known})")

    def shards(self, account: str | None = None) -> dict[int, tuple[Tenant, ...]]:
        """One operations account's shards and their tenants (default: the first account).

        Shards ascend, tenants keep registry order; shard 0 is always there (its
        guard and alert deploy before the first tenant).
        """
        name = account or self.operations.name
        by_shard: dict[int, list[Tenant]] = {0: []}
        for tenant in self.resolved_tenants():
            if tenant.operations_account == name:
                by_shard.setdefault(tenant.shard, []).append(tenant)
        return {shard: tuple(by_shard[shard]) for shard in sorted(by_shard)}

    def operations_stacks(self) -> list[OperationsShard]:
        """Every operations stack to deploy: per account, per shard."""
        return [
            OperationsShard(ops, shard, tenants, self.operations_stack_name(ops, shard))
            for ops in self.operations_accounts()
            for shard, tenants in self.shards(ops.name).items()
        ]

    def operations_stack_name(self, ops: Operations, shard: int) -> str:
        """The stack of one shard of one operations account.

        The first account's stacks keep their names from before there could be
        several (``BedrockOperations``, ``BedrockOperations-1`` ...); another
        account's carry its name (``BedrockOperations-eu``, ``BedrockOperations-eu-1``).
        """
        if ops.name == self.operations.name:
            return naming.operations_stack_name(shard)
        base = f"{naming.OPERATIONS_STACK_NAME}-{ops.name}"
        return base if shard == 0 else f"{base}-{shard}"

    def roles_in(self, account: str) -> int:
        """IAM roles the product creates in an operations account (invokers + guards)."""
        shards = self.shards(account)
        return sum(len(t) for t in shards.values()) + len(shards)

    def operations_for_new_tenant(self) -> Operations:
        """Where onboarding puts the next tenant: the first account with a role to spare."""
        for ops in self.operations_accounts():
            new_shard = self.shard_for_new_tenant(ops.name) not in self.shards(ops.name)
            if self.roles_in(ops.name) + 1 + int(new_shard) <= ops.iam_role_quota:
                return ops
        return self.operations_accounts()[-1]  # validation then names the full account

    def shard_for_new_tenant(
        self, account: str | None = None, *, models: Sequence[str] | None = None
    ) -> int:
        """Where onboarding puts the next tenant in an account: the lowest shard with room.

        Filling gaps left by offboarded tenants keeps the shard count low; no
        existing tenant moves, because the choice is recorded in the new entry.
        The new tenant takes the slots the defaults give it (its ``models``, default
        the defaults', and one profile each if the defaults turn profiles on).
        """
        ops = self.operations_account(account or self.operations.name)
        need = operations_stack_slots(
            len(models or self.defaults.models), self.defaults.application_inference_profiles
        )
        used = {
            shard: sum(
                operations_stack_slots(len(t.models), t.application_inference_profiles)
                for t in tenants
            )
            for shard, tenants in self.shards(ops.name).items()
        }
        shard = 0
        # An empty shard always takes it (validation names a tenant bigger than a shard).
        while used.get(shard, 0) and used[shard] + need > ops.shard_capacity:
            shard += 1
        return shard

    def invoker_role_arn(self, tenant_id: str) -> str:
        """A tenant's invoker role, in its own operations account."""
        return self.tenant(tenant_id).invoker_role_arn


@dataclass(frozen=True)
class OperationsShard:
    """One operations stack: an account's shard and the tenants whose roles it holds."""

    operations: Operations
    shard: int
    tenants: tuple[Tenant, ...]
    stack_name: str


def _operations_issues(registry: TenantRegistry) -> Iterable[RegistryIssue]:
    names: dict[str, str] = {}
    accounts: dict[str, str] = {}
    for path, ops in _operations_paths(registry):
        if ops.name in names:
            yield RegistryIssue(
                path=f"{path}.name",
                message=f"'{ops.name}' is already the name of {names[ops.name]}",
            )
        names.setdefault(ops.name, path)
        if ops.account_id in accounts:
            yield RegistryIssue(
                path=f"{path}.account_id",
                message=f"account {ops.account_id} is already {accounts[ops.account_id]}",
            )
        accounts.setdefault(ops.account_id, path)


def operations_stack_slots(models: int, application_inference_profiles: bool) -> int:
    """How much of its shard's ``shard_capacity`` a tenant takes (see DEFAULT_SHARD_CAPACITY)."""
    return 1 + (models if application_inference_profiles else 0)


def _spec_slots(registry: TenantRegistry, spec: TenantSpec) -> int:
    d = registry.defaults
    profiles = (
        d.application_inference_profiles
        if spec.application_inference_profiles is None
        else spec.application_inference_profiles
    )
    return operations_stack_slots(len(spec.models or d.models), profiles)


def _operations_paths(registry: TenantRegistry) -> Iterable[tuple[str, Operations]]:
    yield "operations", registry.operations
    for k, ops in enumerate(registry.additional_operations):
        yield f"additional_operations[{k}]", ops


def _capacity_issues(registry: TenantRegistry) -> Iterable[RegistryIssue]:
    """Shards over their capacity, accounts over their IAM role quota."""
    paths = {ops.name: path for path, ops in _operations_paths(registry)}
    per_shard: dict[tuple[str, int], int] = {}
    slots_per_shard: dict[tuple[str, int], int] = {}
    for i, t in enumerate(registry.tenants):
        try:
            ops = registry.operations_account(t.operations_account or registry.operations.name)
        except KeyError as exc:
            yield RegistryIssue(path=f"tenants[{i}].operations_account", message=exc.args[0])
            continue
        key = (ops.name, t.shard or 0)
        per_shard[key] = per_shard.get(key, 0) + 1
        slots = _spec_slots(registry, t)
        before = slots_per_shard.get(key, 0)
        slots_per_shard[key] = before + slots
        # Reported once per shard: at the tenant that first takes it over capacity.
        if before <= ops.shard_capacity < before + slots:
            where = (
                f"operations stack {registry.operations_stack_name(ops, key[1])} (shard {key[1]})"
            )
            over = f"{paths[ops.name]}.shard_capacity {ops.shard_capacity}"
            yield RegistryIssue(
                path=f"tenants[{i}].shard",
                message=(
                    f"tenant '{t.id}' is the {before + 1}th in {where}, over {over}; "
                    "give it a shard with room (tenantctl onboard records one)"
                    if slots == 1
                    else f"tenant '{t.id}' takes {slots} slots (its role and {slots - 1} "
                    f"application inference profiles) and brings {where} to {before + slots}, "
                    f"over {over}; give it a shard with room"
                ),
            )
    for path, ops in _operations_paths(registry):
        shards = {0} | {shard for (name, shard) in per_shard if name == ops.name}
        invokers = sum(n for (name, _), n in per_shard.items() if name == ops.name)
        roles = invokers + len(shards)  # + one guard role per shard
        if roles > ops.iam_role_quota:
            yield RegistryIssue(
                path="tenants",
                message=(
                    f"{roles} IAM roles ({invokers} invoker roles and {len(shards)} guard "
                    f"roles) exceed {path}.iam_role_quota {ops.iam_role_quota} of account "
                    f"{ops.account_id}; raise the quota (up to 5,000) or move tenants to "
                    "another operations account"
                ),
            )


def _cross_tenant_issues(registry: TenantRegistry) -> Iterable[RegistryIssue]:
    ids: dict[str, int] = {}
    accounts: dict[str, int] = {}
    external_ids: dict[str, int] = {}
    ops_accounts = {ops.account_id for ops in registry.operations_accounts()}
    yield from _operations_issues(registry)
    yield from _capacity_issues(registry)
    for i, t in enumerate(registry.tenants):
        if t.id in ids:
            yield RegistryIssue(
                path=f"tenants[{i}].id",
                message=f"duplicate tenant id '{t.id}' (also tenants[{ids[t.id]}])",
            )
        ids.setdefault(t.id, i)
        if t.account_id in ops_accounts:
            yield RegistryIssue(
                path=f"tenants[{i}].account_id",
                message="is an operations account; a tenant needs its own account",
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
        try:
            ops = registry.operations_account(t.operations_account or registry.operations.name)
        except KeyError:
            continue  # reported by _capacity_issues
        for j, model in enumerate(t.models or registry.defaults.models):
            path = f"tenants[{i}].models[{j}]" if t.models else f"defaults.models[{j}]"
            yield from _profile_issues(ops, model, path, registry)
    for j, model in enumerate(registry.defaults.models):
        yield from _profile_issues(registry.operations, model, f"defaults.models[{j}]", registry)


def _profile_issues(
    ops: Operations, model: str, path: str, registry: TenantRegistry
) -> Iterable[RegistryIssue]:
    profile, _ = parse_model_id(model)
    if profile and profile != GLOBAL_PROFILE_PREFIX:
        regions = ops.profile_regions(profile)
        if ops.region not in regions:
            where = "" if ops.name == registry.operations.name else f" of '{ops.name}'"
            yield RegistryIssue(
                path=path,
                message=(
                    f"inference profile '{profile}.' is not offered in the operations region "
                    f"{ops.region}{where} (its regions: {', '.join(regions)})"
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
        RegistryIssue(
            path=field_path(tuple(e["loc"]), key_last=e["type"] == "extra_forbidden"),
            message=_friendly(dict(e)),
        )
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
    except UnicodeDecodeError as exc:
        raise RegistryError(
            [RegistryIssue(path="", message=f"{path} is not UTF-8 text (byte {exc.start})")],
            str(path),
        ) from None


def parse_registry_yaml(text: str, source: str | None = None) -> Any:
    """Registry text as plain data (not yet validated); RegistryError if not YAML."""
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise RegistryError(
            [RegistryIssue(path="", message=f"not valid YAML: {exc}")], source
        ) from None
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        # The loader's own conversions: an impossible date (2021-02-30), an integer
        # past Python's 4,300 digits, a !!bool or !!int tag on text that is neither.
        raise RegistryError(
            [RegistryIssue(path="", message=f"not valid YAML: {type(exc).__name__}: {exc}")],
            source,
        ) from None
    except RecursionError:
        raise RegistryError(
            [RegistryIssue(path="", message="not valid YAML: nested too deeply")], source
        ) from None


def load_registry(path: str | Path) -> TenantRegistry:
    """Read and validate a registry file; raises RegistryError naming each bad field."""
    source = str(path)
    return parse_registry(parse_registry_yaml(read_registry_text(path), source), source)
