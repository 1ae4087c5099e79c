"""Every per-tenant setting, declared once: its type, default, where it is held, how it is set.

The registry's ``defaults`` block, a tenant's own entry and the resolved tenant are
all derived from :class:`TenantSettings`; the function's environment from
:class:`FunctionSettings` (``contracts.function_environment``). Each field carries a
:class:`Setting`: which stacks hold it (so ``tenantctl update`` knows what to
redeploy), the ``onboard``/``update`` option that sets it (so the CLI's options are
generated from here), and how a tenant's value combines with the default.

Adding a setting is one field here, plus the construct or the function code that
uses it. A field of ``FunctionSettings`` reaches the function by itself: the stack
writes it into the environment and the function reads it back, both through the
one environment contract, and the StackSet template gets a parameter for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictStr, model_validator
from pydantic.fields import FieldInfo

from contracts import naming
from contracts.fields import (
    ApplicationList,
    Email,
    FrozenModel,
    LogGroupName,
    ModelId,
    ModelList,
    ReservedConcurrency,
    RetentionDays,
    SnsTopicArn,
    StrictBool,
    TagValue,
)
from contracts.limits import LimitSettings
from contracts.pricing import ModelPrice
from contracts.usage_record import LogContent, UsageSink


class HeldBy(StrEnum):
    """The stacks a setting is deployed in."""

    OPERATIONS = "operations"  # the tenant's shard of its operations account
    CUSTOMER = "customer"  # the tenant's own account


class Merge(Enum):
    """How a tenant's own value combines with ``defaults``."""

    REPLACE = "replace"  # the tenant's value, if set, else the default
    BY_FIELD = "by_field"  # a settings block: the tenant's block changes the fields it sets
    BY_KEY = "by_key"  # a mapping: the tenant's entries win per key


@dataclass(frozen=True)
class Setting:
    """How a tenant setting travels; attached to its field as ``Annotated`` metadata.

    ``option``: the ``onboard``/``update`` option that sets it (a boolean gets
    ``--x/--no-x``); None for settings only the registry file sets (blocks and
    mappings).
    """

    held_by: frozenset[HeldBy]
    help: str
    option: str | None = None
    merge: Merge = Merge.REPLACE


_OPS = frozenset({HeldBy.OPERATIONS})
_CUSTOMER = frozenset({HeldBy.CUSTOMER})
_BOTH = _OPS | _CUSTOMER


class AlarmSettings(FrozenModel):
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
    email: Email | None = None
    sns_topic_arn: SnsTopicArn | None = None


PriceOverrides = dict[ModelId, ModelPrice]
# The most output tokens a call may ask for: the function's rule for an event's
# max_tokens, and the ceiling of the tenant setting.
MAX_OUTPUT_TOKENS = 8192
# The tenant's cap when the registry sets none. A call whose event names no
# max_tokens is sent min(this cap, the model's own output limit), never nothing.
DEFAULT_MAX_TOKENS = 4096
DEFAULT_MODELS = ("anthropic.claude-3-haiku-20240307-v1:0",)


class ServiceTier(StrEnum):
    """Bedrock's service tiers: Converse ``serviceTier.type`` and IAM's ``bedrock:ServiceTier``.

    Values as the API reference lists them (``ServiceTier``: priority | default |
    flex | reserved). ``reserved`` needs capacity reserved with AWS for the account.
    """

    DEFAULT = "default"
    PRIORITY = "priority"
    FLEX = "flex"
    RESERVED = "reserved"


class RetryMode(StrEnum):
    """botocore's retry modes for the Bedrock client.

    ``adaptive`` adds client-side rate limiting after throttles (botocore calls it
    experimental); ``standard`` only retries with backoff.
    """

    STANDARD = "standard"
    ADAPTIVE = "adaptive"


def _unique_tiers(values: tuple[ServiceTier, ...]) -> tuple[ServiceTier, ...]:
    if not values:
        raise ValueError("must list at least one service tier")
    if len(set(values)) != len(values):
        raise ValueError("lists a service tier twice")
    return values


ServiceTiers = Annotated[tuple[ServiceTier, ...], AfterValidator(_unique_tiers)]

# Bedrock's patterns (GuardrailConfiguration, EnforcedGuardrailConfiguration): an
# id, or the ARN; and a numeric version. DRAFT is refused: a draft changes under
# the tenant, and IAM's condition would then pin nothing.
GUARDRAIL_IDENTIFIER_PATTERN = (
    r"^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))$"
)
GUARDRAIL_VERSION_PATTERN = r"^[1-9][0-9]{0,7}$"


class ContentFilterStrength(StrEnum):
    """How strongly a guardrail's content filters block (Bedrock's filter strengths)."""

    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


GuardrailMessage = Annotated[StrictStr, Field(min_length=1, max_length=500)]
BlockedWord = Annotated[StrictStr, Field(min_length=1, max_length=100)]


class GuardrailDefinition(FrozenModel):
    """A guardrail the tenant's operations stack creates (``AWS::Bedrock::Guardrail``).

    Kept minimal: the content filters (hate, insults, sexual, violence,
    misconduct on prompts and answers, prompt attacks on prompts) at one
    strength, and words to block. Anything richer is an existing guardrail named
    by ``identifier`` and ``version``.
    """

    content_filter_strength: ContentFilterStrength = ContentFilterStrength.MEDIUM
    blocked_words: tuple[BlockedWord, ...] = ()
    blocked_input_messaging: GuardrailMessage = "Sorry, this request is not allowed."
    blocked_outputs_messaging: GuardrailMessage = "Sorry, this answer is not allowed."

    @model_validator(mode="after")
    def _blocks_something(self) -> GuardrailDefinition:
        if self.content_filter_strength is ContentFilterStrength.NONE and not self.blocked_words:
            raise ValueError("a guardrail needs content filters or blocked words")
        return self


class EnforcedGuardrail(FrozenModel):
    """An operations account's floor: a guardrail Bedrock applies to every inference
    call in the account and region (``AWS::Bedrock::EnforcedGuardrailConfiguration``),
    whatever the call names. Its version must be numeric (the resource refuses DRAFT)."""

    identifier: Annotated[StrictStr, Field(pattern=GUARDRAIL_IDENTIFIER_PATTERN, max_length=2048)]
    version: Annotated[StrictStr, Field(pattern=GUARDRAIL_VERSION_PATTERN)]


class GuardrailSettings(FrozenModel):
    """The Bedrock guardrail every model call of the tenant must carry.

    Either an existing one: ``identifier`` (its ARN, or its id in the tenant's
    operations account and region) and a numeric ``version``; or ``create``: the
    definition of one the operations stack creates, with a version, and publishes
    (ARN and version) in an SSM parameter the function reads
    (``naming.guardrail_parameter_name``). The tenant's invoker role may invoke
    only with exactly this guardrail and version (``bedrock:GuardrailIdentifier``);
    the function sends it with every call.
    """

    identifier: (
        Annotated[StrictStr, Field(pattern=GUARDRAIL_IDENTIFIER_PATTERN, max_length=2048)] | None
    ) = None
    version: Annotated[StrictStr, Field(pattern=GUARDRAIL_VERSION_PATTERN)] | None = None
    create: GuardrailDefinition | None = None

    @model_validator(mode="after")
    def _one_guardrail(self) -> GuardrailSettings:
        existing = self.identifier is not None or self.version is not None
        if existing and self.create is not None:
            raise ValueError("name an existing guardrail (identifier, version) or create one")
        if self.create is None and (self.identifier is None or self.version is None):
            raise ValueError("an existing guardrail needs both identifier and version")
        return self


class WorkloadService(StrEnum):
    """AWS services that may run as the workload role itself (its trust names their principal)."""

    ECS_TASKS = "ecs-tasks"  # an ECS task role
    SAGEMAKER = "sagemaker"  # a SageMaker execution role

    @property
    def service_principal(self) -> str:
        """The service principal the role's trust policy names."""
        return f"{self.value}.amazonaws.com"


# IAM principals a trust policy can pin with ``aws:PrincipalArn``: a role or a user
# (with its path), or an account's root, which stands for the whole account (its own
# IAM policies then decide who in it may assume the role). A session ARN
# (sts::...:assumed-role/...) is refused: aws:PrincipalArn is the session's role.
PRINCIPAL_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:iam::(?P<account>\d{12}):(?:root|(?:role|user)/[\w+=,.@/-]{1,512})", re.ASCII
)


def principal_arn(value: str) -> str:
    if not PRINCIPAL_ARN_RE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not an IAM principal ARN (arn:aws:iam::<account>:role/<name>, "
            "...:user/<name> or ...:root)"
        )
    return value


def principal_account(arn: str) -> str:
    """The account of a principal ARN ``principal_arn`` accepted."""
    return arn.split(":")[4]


def is_account_root(arn: str) -> bool:
    """True for ``arn:<partition>:iam::<account>:root``: the whole account."""
    return arn.endswith(":root")


def _unique_principals(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    roots = {principal_account(v) for v in values if is_account_root(v)}
    for value in values:
        if value in seen:
            raise ValueError(f"'{value}' is listed twice")
        seen.add(value)
        if not is_account_root(value) and principal_account(value) in roots:
            raise ValueError(
                f"'{value}' is already admitted by the root of account "
                f"{principal_account(value)}, also listed; list one or the other"
            )
    return values


def _unique_services(values: tuple[WorkloadService, ...]) -> tuple[WorkloadService, ...]:
    if len(set(values)) != len(values):
        raise ValueError("lists a service twice")
    return values


PrincipalArn = Annotated[StrictStr, AfterValidator(principal_arn)]


class WorkloadRoleSettings(FrozenModel):
    """A role in the tenant's account for its own workloads (the client library), with
    exactly the function's rights: assume the tenant's invoker role (ExternalId and
    session name as the function's), write the usage log group, and read the client
    settings parameter (``naming.client_settings_parameter_name``).

    ``principals``: IAM role or user ARNs, in any account, that may assume it (an ECS
    task role, a SageMaker execution role, a CI user ...); an account's ``:root``
    admits every principal its own IAM policies allow. ``services``: the role itself
    may be an ECS task role or a SageMaker execution role.
    """

    principals: Annotated[tuple[PrincipalArn, ...], AfterValidator(_unique_principals)] = ()
    services: Annotated[tuple[WorkloadService, ...], AfterValidator(_unique_services)] = ()

    @model_validator(mode="after")
    def _admits_someone(self) -> WorkloadRoleSettings:
        if not self.principals and not self.services:
            raise ValueError("a workload role needs principals or services that may assume it")
        return self


class FunctionSettings(FrozenModel):
    """The settings the tenant's function reads at run time, through its environment."""

    models: Annotated[
        ModelList,
        Setting(
            _BOTH,
            "Allowed model ids; the first is the default (repeat the option).",
            option="--models",
        ),
    ] = DEFAULT_MODELS
    log_content: Annotated[
        LogContent,
        Setting(_CUSTOMER, "How much content a usage record holds.", option="--log-content"),
    ] = LogContent.METADATA
    # "api" (PutLogEvents, one stream per user) or "stdout" (printed; Lambda's log
    # delivery puts them in the group).
    usage_sink: Annotated[
        UsageSink,
        Setting(
            _CUSTOMER,
            "api (PutLogEvents) | stdout (Lambda log delivery).",
            option="--usage-sink",
        ),
    ] = UsageSink.API
    # One Bedrock application inference profile per tenant and model, tagged for
    # cost allocation; the tenant's role may then invoke only through them.
    application_inference_profiles: Annotated[
        StrictBool,
        Setting(
            _BOTH,
            "One tagged application inference profile per model.",
            option="--inference-profiles",
        ),
    ] = False
    # The applications that may call. Each listed id is its own ApplicationId metric
    # dimension value, and any other id is refused: a caller cannot add billed
    # metrics. Unset: any application may call, and all are counted as "other".
    applications: Annotated[
        ApplicationList | None,
        Setting(
            _CUSTOMER,
            "Application ids that may call (repeat the option); unset: any, "
            "counted together in the metrics.",
            option="--applications",
        ),
    ] = None
    # Negotiated prices per model (foundation model or profile id), replacing the
    # price table's entry.
    price_overrides: Annotated[
        PriceOverrides,
        Setting(_CUSTOMER, "Negotiated prices per model.", merge=Merge.BY_KEY),
    ] = Field(default_factory=dict)
    # Bedrock reserves throughput quota for a call's maxTokens up front, and an unset
    # maxTokens reserves the model's maximum: one tenant's calls could hold the whole
    # account's tokens-per-minute. The function sends this when an event names none
    # and refuses an event that asks for more.
    max_tokens: Annotated[
        Annotated[int, Field(strict=True, ge=1, le=MAX_OUTPUT_TOKENS)],
        Setting(
            _CUSTOMER,
            "The most output tokens a call may ask for; sent (within the model's limit) "
            "when an event names none.",
            option="--max-tokens",
        ),
    ] = DEFAULT_MAX_TOKENS
    # The tiers the tenant's role may call Bedrock with (``bedrock:ServiceTier``);
    # the first is the function's, an event may ask for another of them.
    service_tiers: Annotated[
        ServiceTiers,
        Setting(
            _BOTH,
            "Allowed Bedrock service tiers; the first is the default (repeat the option).",
            option="--service-tiers",
        ),
    ] = (ServiceTier.DEFAULT,)
    # Every call carries this guardrail, and the role allows no call without it.
    guardrail: Annotated[
        GuardrailSettings | None,
        Setting(_BOTH, "The Bedrock guardrail every call must carry (id or ARN, version)."),
    ] = None
    retry_mode: Annotated[
        RetryMode,
        Setting(
            _CUSTOMER,
            "botocore retry mode of the Bedrock client: standard | adaptive.",
            option="--retry-mode",
        ),
    ] = RetryMode.ADAPTIVE


class TenantSettings(FunctionSettings):
    """Every per-tenant setting: the function's, and those only the stacks use."""

    log_retention_days: Annotated[
        RetentionDays,
        Setting(_CUSTOMER, "Usage log retention in days.", option="--retention-days"),
    ] = 90
    reserved_concurrency: Annotated[
        ReservedConcurrency | None,
        Setting(
            _CUSTOMER,
            "Reserved concurrent executions of the function.",
            option="--reserved-concurrency",
        ),
    ] = None
    # Off by default: traces cost money per call.
    xray_tracing: Annotated[
        StrictBool,
        Setting(_CUSTOMER, "X-Ray active tracing of the function.", option="--xray-tracing"),
    ] = False
    snap_start: Annotated[
        StrictBool,
        Setting(
            _CUSTOMER,
            "Lambda SnapStart on the published version (charged).",
            option="--snap-start",
        ),
    ] = False
    alarms: Annotated[
        AlarmSettings,
        Setting(_CUSTOMER, "CloudWatch alarms and where they notify.", merge=Merge.BY_FIELD),
    ] = AlarmSettings()
    # Tagged on the tenant's invoker role (and profiles) for cost allocation.
    cost_centre: Annotated[
        TagValue | None,
        Setting(_OPS, "Cost-allocation tag on the tenant's invoker role.", option="--cost-centre"),
    ] = None
    # A spend or token limit per UTC month or day, enforced from the operations
    # account (contracts.limits): a tenant's block replaces the default's whole,
    # since its amount is in usd or tokens, never both.
    limits: Annotated[
        LimitSettings | None,
        Setting(_OPS, "Spend or token limit per period, and the action at 100%."),
    ] = None
    # Not a function setting: the role lives beside the function (customer stack)
    # and the tenant's invoker role trusts it (operations stack). A tenant's block
    # replaces the default's whole: principals are a list to be read as one.
    workload_role: Annotated[
        WorkloadRoleSettings | None,
        Setting(_BOTH, "A role the tenant's own workloads assume to call through the library."),
    ] = None
    # Not a function setting: the tenant's invoker role (operations stack) then
    # accepts short-term Bedrock API keys minted from its sessions (OpenAI-style
    # SDKs). Off by default: a key's calls reach no callback, so they leave a usage
    # record only if the caller writes one. Long-term keys stay refused either way.
    short_term_api_keys: Annotated[
        StrictBool,
        Setting(
            _OPS,
            "Let the tenant's invoker role accept short-term Bedrock API keys (SHORT_TERM only).",
        ),
    ] = False


class Defaults(TenantSettings):
    """Settings a tenant inherits unless it sets its own."""

    # One name in every tenant account: the group is not a per-tenant setting.
    usage_log_group: LogGroupName = naming.DEFAULT_USAGE_LOG_GROUP


def setting(field: FieldInfo) -> Setting:
    """The :class:`Setting` a settings field carries."""
    for item in field.metadata:
        if isinstance(item, Setting):
            return item
    raise LookupError("not a tenant setting")  # every TenantSettings field carries one


def settings() -> Iterator[tuple[str, FieldInfo, Setting]]:
    """Every tenant setting: name, pydantic field and how it travels, in declaration order."""
    for name, field in TenantSettings.model_fields.items():
        yield name, field, setting(field)


def setting_named(name: str) -> tuple[FieldInfo, Setting]:
    """One setting's pydantic field and how it travels; KeyError for an unknown name."""
    field = TenantSettings.model_fields[name]
    return field, setting(field)


def held_by(names: Iterator[str] | list[str] | tuple[str, ...]) -> frozenset[HeldBy]:
    """The stacks that hold any of the named settings."""
    fields = TenantSettings.model_fields
    return frozenset(where for name in names for where in setting(fields[name]).held_by)


def resolve_settings(defaults: TenantSettings, own: Mapping[str, Any]) -> dict[str, Any]:
    """The tenant's settings: ``own`` (the values its entry sets) over ``defaults``."""
    resolved: dict[str, Any] = {}
    for name, _, how in settings():
        base, mine = getattr(defaults, name), own.get(name)
        if mine is None:
            resolved[name] = base
        elif how.merge is Merge.BY_KEY:
            resolved[name] = {**base, **mine}
        elif how.merge is Merge.BY_FIELD:
            resolved[name] = base.model_copy(update=mine.model_dump(exclude_unset=True))
        else:
            resolved[name] = mine
    return resolved
