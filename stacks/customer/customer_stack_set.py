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
  content modes). The settings' parameters come from the settings contract
  (``contracts.tenant_settings``): every setting the function reads becomes its
  environment variable as it is, and the customer stack's structural settings
  (``PARAMETRIC``) become CloudFormation conditions. The few left
  (``FIXED_AT_SYNTH``: alarms, X-Ray) take the registry defaults' values when the
  template is synthesized; ``stack_set_parameters`` refuses a tenant whose own
  values differ, naming them, rather than roll it out without them.

It is the very ``CustomerStack`` composition, so the resources, their logical
ids, policies and cdk-nag acknowledgments are the same as in a CDK deploy.
Chosen over cdklabs ``cdk-stacksets`` (experimental, open bugs with bundled
assets): this is plain CloudFormation that ``aws cloudformation create-stack-set``
takes as it is.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from aws_cdk import Aws, CfnCondition, CfnParameter, CfnResource, DefaultStackSynthesizer, Fn, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from pydantic.fields import FieldInfo

from contracts import naming
from contracts.fields import (
    ACCOUNT_ID_RE,
    EXTERNAL_ID_MAX,
    EXTERNAL_ID_MIN,
    EXTERNAL_ID_RE,
    REGION_RE,
    cfn_pattern,
)
from contracts.function_environment import base_type, encode, variable
from contracts.registry import Defaults, Tenant
from contracts.registry.stack_set import (
    FIXED_AT_SYNTH,
    PARAMETRIC,
    TEMPLATE_STACK_NAME,
    UNSET,
    StackSetMismatch,
    parameter_name,
    stack_set_parameters,
    template_settings,
)
from contracts.tenant_settings import FunctionSettings, setting_named, settings
from contracts.usage_record import LOG_RETENTION_DAYS, UsageSink
from stacks.customer.customer_stack import CustomerStack
from stacks.customer.invoker_function import INVOKER_SOURCE
from stacks.shared.lambda_bundling import LambdaPlatform, python_function_code

STACK_SET_TEMPLATE_NAME = TEMPLATE_STACK_NAME
# The parameters are the contract the CLI fills in per tenant (contracts.registry.stack_set).
__all__ = [
    "FIXED_AT_SYNTH",
    "STACK_SET_TEMPLATE_NAME",
    "CustomerStackSetTemplate",
    "StackSetMismatch",
    "parameter_name",
    "stack_set_parameters",
    "template_settings",
]


def _parameter(stack: Stack, name: str, field: FieldInfo, default: Any) -> CfnParameter:
    """One setting's parameter, held to its type's values; the registry default as default."""
    kind = base_type(field.annotation)
    options: dict[str, Any] = {}
    if name == "log_retention_days":
        options = {"type": "Number", "allowed_values": [str(d) for d in sorted(LOG_RETENTION_DAYS)]}
    elif kind is bool:
        options = {"allowed_values": ["true", "false"]}
    elif isinstance(kind, type) and issubclass(kind, Enum):
        options = {"allowed_values": [str(member.value) for member in list(kind)]}
    elif kind is int and name in PARAMETRIC:
        # A property's number: 0 for unset (the registry never allows 0, which would
        # stop the function).
        options = {"type": "Number", "min_value": 0}
    elif kind is int:
        options = {"allowed_pattern": "[0-9]*"}  # a variable's text: empty for unset
    _, how = setting_named(name)
    return CfnParameter(
        stack,
        parameter_name(name),
        description=how.help,
        default=(UNSET if name in PARAMETRIC else "") if default is None else encode(default),
        **options,
    )


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
            allowed_pattern=cfn_pattern(EXTERNAL_ID_RE),
            min_length=EXTERNAL_ID_MIN,
            max_length=EXTERNAL_ID_MAX,
        )
        ops_account = CfnParameter(
            self,
            "OperationsAccountId",
            description="The tenant's operations account (its invoker role lives there)",
            allowed_pattern=cfn_pattern(ACCOUNT_ID_RE),
        )
        bedrock_region = CfnParameter(
            self,
            "BedrockRegion",
            description="Region of the operations account's Bedrock calls",
            allowed_pattern=cfn_pattern(REGION_RE),
        )
        fields = FunctionSettings.model_fields | {
            name: field for name, field, _ in settings() if name in PARAMETRIC
        }
        values = {
            name: _parameter(self, name, fields[name], getattr(defaults, name))
            for name in template_settings()
        }
        code_bucket = CfnParameter(
            self,
            "CodeBucket",
            description="A bucket every target account may read, holding the function's zip",
        )
        # The bundled function as a CDK asset of this stack that no resource uses: the
        # assembly holds the directory `tenantctl stackset deploy` zips into the bucket,
        # under the asset's own key (its hash), which is CodeKey's default.
        bundle = python_function_code(INVOKER_SOURCE, platform).bind(
            Construct(self, "InvokerBundle")
        )
        assert bundle.s3_location is not None
        code_key = CfnParameter(
            self,
            "CodeKey",
            description="The zip's key: the CDK asset's content hash",
            default=bundle.s3_location.object_key,
        )
        # The tenant as the template sees it: the defaults' shape (the api sink, no
        # SnapStart, no reserved concurrency), then the parameters replace the
        # function's settings and conditions the structural ones. model_construct:
        # parameters are CloudFormation references, which the registry's validators
        # would rightly refuse; the parameters' own constraints hold them to the
        # same rules.
        shape: dict[str, Any] = {name: getattr(defaults, name) for name, _, _ in settings()}
        shape.update({name: values[name].value_as_string for name in FunctionSettings.model_fields})
        shape.update(
            models=(values["models"].value_as_string,),
            log_retention_days=values["log_retention_days"].value_as_number,
            usage_sink=UsageSink.API,
            snap_start=False,
            reserved_concurrency=None,
            id=tenant_id.value_as_string,
            account_id=Aws.ACCOUNT_ID,
            region=Aws.REGION,
            external_id=external_id.value_as_string,
            usage_log_group=defaults.usage_log_group,
            operations_account_id=ops_account.value_as_string,
            bedrock_region=bedrock_region.value_as_string,
        )
        tenant = Tenant.model_construct(**shape)
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
        # Every setting the function reads, as its parameter says; the first of the
        # allowed models is the default, as in the registry.
        for name in FunctionSettings.model_fields:
            self.invoker.function.add_environment(variable(name), values[name].value_as_string)
        models = values["models"].value_as_string
        self.invoker.function.add_environment(
            variable("default_model_id"), Fn.select(0, Fn.split(",", models))
        )
        self._make_structural_settings_parametric(values)

    def _make_structural_settings_parametric(self, values: dict[str, CfnParameter]) -> None:
        """SnapStart, the usage sink's log routing and reserved concurrency, per parameter."""
        function = self.invoker.function.node.default_child
        assert isinstance(function, CfnResource)

        def condition(name: str, expression: Any) -> CfnCondition:
            return CfnCondition(self, name, expression=expression)

        snap_start = condition("SnapStartOn", Fn.condition_equals(values["snap_start"], "true"))
        stdout = condition(
            "StdoutSink", Fn.condition_equals(values["usage_sink"], UsageSink.STDOUT.value)
        )
        reserved = condition(
            "ReservedConcurrencySet",
            Fn.condition_not(Fn.condition_equals(values["reserved_concurrency"], UNSET)),
        )
        function.add_property_override(
            "SnapStart",
            Fn.condition_if(snap_start.logical_id, {"ApplyOn": "PublishedVersions"}, Aws.NO_VALUE),
        )
        # With stdout, Lambda delivers the printed records into the usage group. The
        # role may write to both groups either way: the template has one shape.
        function.add_property_override(
            "LoggingConfig.LogGroup",
            Fn.condition_if(
                stdout.logical_id,
                self.usage_log_group.log_group.log_group_name,
                self.invoker.log_group.log_group.log_group_name,
            ),
        )
        function.add_property_override(
            "ReservedConcurrentExecutions",
            Fn.condition_if(
                reserved.logical_id, values["reserved_concurrency"].value_as_string, Aws.NO_VALUE
            ),
        )
