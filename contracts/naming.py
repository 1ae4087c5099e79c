"""Deterministic names derived from a tenant id.

Every physical name the product creates for a tenant comes from here, so the
operations stack, the customer stack, the CLI, the embedded cloud and the
function itself agree on them without looking anything up. The tenant-id rule
lives here too: the registry and the function's settings both check ids with
:func:`tenant_id_problem`, against the longest of these names.
"""

from __future__ import annotations

import hashlib
import re

# Shard 0 of the operations side keeps the single stack's name (and its logical
# ids), so a deployment from before sharding upgrades without replacing a role.
OPERATIONS_STACK_NAME = "BedrockOperations"
CUSTOMER_STACK_PREFIX = "BedrockCustomer-"
DEFAULT_USAGE_LOG_GROUP = "/aws/bedrock/langchain/logs"
# Every caller invokes the function through this alias, which points at the
# latest published version (the one SnapStart snapshots, when it is on).
INVOKER_ALIAS = "live"
# Cost-allocation tags on each tenant's invoker role (and its application
# inference profiles): Cost Explorer groups Bedrock spend by them.
TENANT_TAG_KEY = "tenant-id"
COST_CENTRE_TAG_KEY = "cost-centre"

# Prefixes are short on purpose: IAM role names and Lambda function names are
# limited to 64 characters, and these prefixes leave room for a 40-char id.
INVOKER_ROLE_PREFIX = "bedrock-invoker-"  # ops account, one per tenant
CALLER_ROLE_PREFIX = "bedrock-caller-"  # tenant account, the Lambda's role
# Tenant account, optional (registry ``workload_role``): what the tenant's own
# workloads assume to call Bedrock through the client library.
WORKLOAD_ROLE_PREFIX = "bedrock-workload-"
FUNCTION_PREFIX = "bedrock-invoker-"  # tenant account

IAM_ROLE_NAME_MAX = 64
LAMBDA_FUNCTION_NAME_MAX = 64
STACK_NAME_MAX = 128
TENANT_ID_MAX = 40
# The id is the STS session name of every Bedrock call, and STS wants 2 to 64 characters.
TENANT_ID_MIN = 2
# fullmatch with re.ASCII: `$` alone would accept a trailing newline, and \d or
# \w non-ASCII digits and letters, which AWS refuses.
TENANT_ID_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.ASCII)


def tenant_id_problem(tenant_id: str) -> str | None:
    """Why ``tenant_id`` cannot be a tenant id, or None when it can.

    The id becomes the STS session name, IAM role names, the function name and
    the stack name, so it must fit every one of them.
    """
    if not TENANT_ID_RE.fullmatch(tenant_id):
        return (
            "must be lowercase letters, digits and hyphens, starting and ending with a "
            "letter or digit"
        )
    if len(tenant_id) > TENANT_ID_MAX:
        return f"must be at most {TENANT_ID_MAX} characters"
    if len(tenant_id) < TENANT_ID_MIN:
        return (
            f"must be at least {TENANT_ID_MIN} characters (it is the STS session name of "
            "every Bedrock call)"
        )
    for what, (length, limit) in longest_derived_name_lengths(tenant_id).items():
        if length > limit:
            return f"too long: the {what} would be {length} characters (max {limit})"
    if "--" in tenant_id:
        return "must not contain consecutive hyphens"
    return None


def valid_tenant_id(tenant_id: str) -> str:
    """``tenant_id`` itself, or ValueError saying why it cannot be one (a pydantic validator)."""
    problem = tenant_id_problem(tenant_id)
    if problem is not None:
        raise ValueError(problem)
    return tenant_id


def operations_stack_name(shard: int) -> str:
    """CloudFormation stack name of one shard of the operations account's invoker roles."""
    return OPERATIONS_STACK_NAME if shard == 0 else f"{OPERATIONS_STACK_NAME}-{shard}"


def customer_stack_name(tenant_id: str) -> str:
    """CloudFormation stack name of a tenant's customer stack."""
    return f"{CUSTOMER_STACK_PREFIX}{tenant_id}"


def invoker_role_name(tenant_id: str) -> str:
    """Name of the Bedrock-invoker role in the operations account."""
    return f"{INVOKER_ROLE_PREFIX}{tenant_id}"


def caller_role_name(tenant_id: str) -> str:
    """Name of the assuming role (the Lambda's execution role) in the tenant account."""
    return f"{CALLER_ROLE_PREFIX}{tenant_id}"


def workload_role_name(tenant_id: str) -> str:
    """Name of the role the tenant's own workloads assume (registry ``workload_role``)."""
    return f"{WORKLOAD_ROLE_PREFIX}{tenant_id}"


def function_name(tenant_id: str) -> str:
    """Name of the tenant's invoker Lambda function."""
    return f"{FUNCTION_PREFIX}{tenant_id}"


def function_log_group_name(function_name: str) -> str:
    """Lambda's conventional log group name for a function."""
    return f"/aws/lambda/{function_name}"


# The tenant's dashboard, alarms and saved Logs Insights queries (its own account).
# Dashboard names: up to 255 characters of A-Za-z0-9-_, which tenant ids fit.
USAGE_VIEW_PREFIX = "bedrock-usage"
DASHBOARD_NAME_MAX = 255


def dashboard_name(tenant_id: str) -> str:
    """Name of the tenant's usage dashboard (dashboards are account-wide, not regional)."""
    return f"{USAGE_VIEW_PREFIX}-{tenant_id}"


def alarm_name(tenant_id: str, alarm: str) -> str:
    """Name of one of the tenant's usage alarms, e.g. ``bedrock-usage-acme-error-rate``."""
    return f"{USAGE_VIEW_PREFIX}-{tenant_id}-{alarm}"


def saved_query_name(tenant_id: str, query: str) -> str:
    """A saved Logs Insights query; the console shows ``/`` as folders."""
    return f"{USAGE_VIEW_PREFIX}/{tenant_id}/{query}"


def partition_for_region(region: str) -> str:
    """The AWS partition a region belongs to."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def role_arn(account_id: str, role_name: str, partition: str = "aws") -> str:
    """ARN of a role without a path."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def invoker_role_arn(ops_account_id: str, tenant_id: str, *, region: str) -> str:
    """ARN of a tenant's Bedrock-invoker role in the operations account (in ``region``)."""
    return role_arn(ops_account_id, invoker_role_name(tenant_id), partition_for_region(region))


def caller_role_arn(tenant_account_id: str, tenant_id: str, *, region: str) -> str:
    """ARN of a tenant's assuming role in its own account (in ``region``)."""
    return role_arn(tenant_account_id, caller_role_name(tenant_id), partition_for_region(region))


def workload_role_arn(tenant_account_id: str, tenant_id: str, *, region: str) -> str:
    """ARN of a tenant's workload role in its own account (in ``region``)."""
    return role_arn(tenant_account_id, workload_role_name(tenant_id), partition_for_region(region))


def longest_derived_name_lengths(tenant_id: str) -> dict[str, tuple[int, int]]:
    """Each derived name's (length, limit), for validation messages."""
    return {
        "invoker role name": (len(invoker_role_name(tenant_id)), IAM_ROLE_NAME_MAX),
        "caller role name": (len(caller_role_name(tenant_id)), IAM_ROLE_NAME_MAX),
        "workload role name": (len(workload_role_name(tenant_id)), IAM_ROLE_NAME_MAX),
        "function name": (len(function_name(tenant_id)), LAMBDA_FUNCTION_NAME_MAX),
        "stack name": (len(customer_stack_name(tenant_id)), STACK_NAME_MAX),
        "dashboard name": (len(dashboard_name(tenant_id)), DASHBOARD_NAME_MAX),
    }


# Application inference profiles (one per tenant and model, opt-in per tenant).
# Bedrock's name rule: 1-64 characters of ([0-9a-zA-Z][ _-]?)+, so no dots or colons.
INFERENCE_PROFILE_NAME_MAX = 64
_PROFILE_DIGEST_CHARS = 8


def _short_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_PROFILE_DIGEST_CHARS]


def application_inference_profile_name(tenant_id: str, model_id: str) -> str:
    """Name of a tenant's application inference profile for ``model_id``.

    ``<tenant>-<model, dots and colons as hyphens, cut to fit>-<digest of the model
    id>``: readable in the console, at most 64 characters, and unique per account
    (tenant ids are; the digest tells apart ids that differ only in punctuation).
    """
    digest = _short_digest(model_id)
    slug = re.sub(r"[^0-9A-Za-z]+", "-", model_id).strip("-")
    room = INFERENCE_PROFILE_NAME_MAX - len(tenant_id) - len(digest) - 2
    slug = slug[:room].rstrip("-")
    return "-".join(part for part in (tenant_id, slug, digest) if part)


def inference_profiles_parameter_name(tenant_id: str) -> str:
    """The SSM parameter, in the tenant's operations account and region, that holds its
    application inference profiles' ARNs (a JSON map model id -> ARN).

    Bedrock generates the ARNs at deploy time, so no template of the tenant's own
    account can know them; the function reads them here with its invoker role.
    """
    return f"/bedrock-invoker/{tenant_id}/inference-profile-arns"


def parameter_arn(account_id: str, parameter_name: str, *, region: str) -> str:
    """An SSM parameter's ARN in IAM's form: a name's leading slash is not doubled."""
    partition = partition_for_region(region)
    return f"arn:{partition}:ssm:{region}:{account_id}:parameter/{parameter_name.lstrip('/')}"


def inference_profiles_parameter_arn(account_id: str, tenant_id: str, *, region: str) -> str:
    """The ARN of ``inference_profiles_parameter_name`` (IAM's form: no doubled slash)."""
    return parameter_arn(account_id, inference_profiles_parameter_name(tenant_id), region=region)


def guardrail_name(tenant_id: str) -> str:
    """The guardrail an operations stack creates for a tenant (``guardrail.create``)."""
    return f"{INVOKER_ROLE_PREFIX}{tenant_id}"


def guardrail_parameter_name(tenant_id: str) -> str:
    """The SSM parameter, in the tenant's operations account and region, that holds the
    ARN and version of the guardrail its operations stack created (JSON ``{"arn",
    "version"}``): Bedrock generates both at deploy time, so the function reads them
    here with its invoker role."""
    return f"/bedrock-invoker/{tenant_id}/guardrail"


def guardrail_parameter_arn(account_id: str, tenant_id: str, *, region: str) -> str:
    """The ARN of ``guardrail_parameter_name`` (IAM's form: no doubled slash)."""
    return parameter_arn(account_id, guardrail_parameter_name(tenant_id), region=region)


def client_settings_parameter_name(tenant_id: str) -> str:
    """The SSM parameter, in the tenant's own account and region, that holds the client
    library's settings: the function's environment contract as one JSON object
    (``FunctionEnvironment.from_env(json.loads(value))`` reads it back). Created with
    the tenant's ``workload_role``; the workload role may read it, nothing else."""
    return f"/bedrock-invoker/{tenant_id}/client-settings"


def client_settings_parameter_arn(account_id: str, tenant_id: str, *, region: str) -> str:
    """The ARN of ``client_settings_parameter_name`` (IAM's form: no doubled slash)."""
    return parameter_arn(account_id, client_settings_parameter_name(tenant_id), region=region)


def inference_profile_output_key(tenant_id: str, model_id: str) -> str:
    """The operations stack's output holding a tenant's profile ARN for ``model_id``."""
    tenant = re.sub(r"[^A-Za-z0-9]", "", tenant_id)
    return f"InferenceProfileArn{tenant}{_short_digest(model_id)}"
