"""The customer stack as one CloudFormation StackSet template for every tenant account.

For organizations where a CDK deploy per account does not scale (thousands of
accounts, or accounts the platform team cannot bootstrap), the same resources
are rolled out by a service-managed StackSet (AWS Organizations), with each
tenant's settings as per-account parameter overrides.

A plain CDK template does not work as a StackSet template: its
``CheckBootstrapVersion`` rule reads an SSM parameter that only a bootstrapped
account has, and its Lambda code lives in the deploying account's bootstrap
bucket, which target accounts cannot read. This template therefore

- is synthesized without the bootstrap-version rule, environment-agnostic;
- takes the function code from a bucket the whole organization may read
  (``CodeBucket``, e.g. with an ``aws:PrincipalOrgID`` bucket policy) under the
  same content-hashed key the CDK asset has (``CodeKey``);
- takes every tenant value as a parameter, validated with the registry's own
  rules (tenant-id pattern and length, ExternalId characters, retention values,
  content modes).

It is the very ``CustomerStack`` composition, so the resources, their logical
ids, policies and cdk-nag acknowledgments are the same as in a CDK deploy.
Chosen over cdklabs ``cdk-stacksets`` (experimental, open bugs with bundled
assets): this is plain CloudFormation that ``aws cloudformation create-stack-set``
takes as it is.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnParameter, DefaultStackSynthesizer, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from contracts import naming
from contracts.registry import EXTERNAL_ID_MAX, EXTERNAL_ID_MIN, Defaults, Tenant
from contracts.usage_record import LOG_RETENTION_DAYS, LogContent
from stacks.customer.customer_stack import CustomerStack
from stacks.customer.invoker_function import INVOKER_SOURCE
from stacks.shared.lambda_bundling import LambdaPlatform, source_fingerprint

STACK_SET_TEMPLATE_NAME = "BedrockCustomerStackSet"


class CustomerStackSetTemplate(CustomerStack):
    """``CustomerStack`` with every tenant value a parameter and the code in an org bucket."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        defaults: Defaults,
        platform: LambdaPlatform,
        **kwargs: Any,
    ) -> None:
        # Not CustomerStack.__init__: the parameters must exist before the resources.
        Stack.__init__(
            self,
            scope,
            id,
            synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
            **kwargs,
        )
        tenant_id = CfnParameter(
            self,
            "TenantId",
            description="The tenant's id in the registry",
            allowed_pattern=naming.TENANT_ID_RE.pattern,
            max_length=naming.TENANT_ID_MAX,
        )
        external_id = CfnParameter(
            self,
            "ExternalId",
            description="The ExternalId the tenant's invoker role requires",
            allowed_pattern=r"[\w+=,.@:/-]+",
            min_length=EXTERNAL_ID_MIN,
            max_length=EXTERNAL_ID_MAX,
        )
        ops_account = CfnParameter(
            self,
            "OperationsAccountId",
            description="The tenant's operations account (its invoker role lives there)",
            allowed_pattern=r"\d{12}",
        )
        bedrock_region = CfnParameter(
            self, "BedrockRegion", description="Region of the operations account's Bedrock calls"
        )
        models = CfnParameter(
            self,
            "AllowedModels",
            description="Comma-separated model ids the function may call; the first is default",
        )
        default_model = CfnParameter(
            self, "DefaultModelId", description="The model used when an event names none"
        )
        log_content = CfnParameter(
            self,
            "LogContent",
            allowed_values=[mode.value for mode in LogContent],
            default=defaults.log_content.value,
        )
        retention = CfnParameter(
            self,
            "LogRetentionDays",
            type="Number",
            allowed_values=[str(d) for d in sorted(LOG_RETENTION_DAYS)],
            default=str(defaults.log_retention_days),
        )
        code_bucket = CfnParameter(
            self,
            "CodeBucket",
            description="A bucket every target account may read, holding the function's zip",
        )
        code_key = CfnParameter(
            self,
            "CodeKey",
            description="The zip's key: the CDK asset's content hash",
            default=f"{source_fingerprint(INVOKER_SOURCE, platform)}.zip",
        )
        # The tenant as the template sees it: parameters, not registry values.
        # model_construct: these are CloudFormation references, which the
        # registry's validators would rightly refuse; the parameters' own
        # constraints hold them to the same rules.
        tenant = Tenant.model_construct(
            id=tenant_id.value_as_string,
            account_id=Aws.ACCOUNT_ID,
            region=Aws.REGION,
            external_id=external_id.value_as_string,
            models=(models.value_as_string,),
            log_retention_days=retention.value_as_number,
            log_content=log_content.value_as_string,
            usage_log_group=defaults.usage_log_group,
            reserved_concurrency=None,
            display_name=None,
            xray_tracing=False,
            shard=0,
            operations_account="",
            operations_account_id=ops_account.value_as_string,
            bedrock_region=bedrock_region.value_as_string,
            operations_stack_name="",
        )
        self.default_model = default_model
        code = lambda_.Code.from_bucket(
            s3.Bucket.from_bucket_name(self, "Code", code_bucket.value_as_string),
            code_key.value_as_string,
        )
        # The partition from the target account's region, at deploy time.
        ops_role_arn = (
            f"arn:{Aws.PARTITION}:iam::{ops_account.value_as_string}:role/"
            f"{naming.invoker_role_name(tenant_id.value_as_string)}"
        )
        self._compose(tenant, platform, code, ops_role_arn=ops_role_arn)
        # ALLOWED_MODELS is the whole list; the default is its own parameter.
        self.invoker.function.add_environment("DEFAULT_MODEL_ID", default_model.value_as_string)


def stack_set_parameters(tenant: Tenant, code_bucket: str) -> list[dict[str, str]]:
    """One tenant's parameter overrides for ``create-stack-instances``."""
    values = {
        "TenantId": tenant.id,
        "ExternalId": tenant.external_id,
        "OperationsAccountId": tenant.operations_account_id,
        "BedrockRegion": tenant.bedrock_region,
        "AllowedModels": ",".join(tenant.models),
        "DefaultModelId": tenant.default_model,
        "LogContent": tenant.log_content.value,
        "LogRetentionDays": str(tenant.log_retention_days),
        "CodeBucket": code_bucket,
    }
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
