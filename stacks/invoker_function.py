"""The tenant's Lambda that calls Bedrock through the operations account."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CfnResource,
    Duration,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts import naming
from contracts.registry import Tenant
from stacks.function_log_group import FunctionLogGroup, default_policy, depend_on_policy_only
from stacks.lambda_bundling import LambdaPlatform, python_function_code
from stacks.usage_log_group import UsageLogGroup

INVOKER_SOURCE = Path(__file__).resolve().parent.parent / "lambda" / "bedrock_invoker"


class InvokerFunction(Construct):
    """The invoker Lambda with its execution role (the "assuming role") and log group.

    The role may assume exactly one role, the tenant's invoker role in the
    operations account, and write only to the usage log group and its own log
    group. The function never receives secrets: the ExternalId guards against
    confused deputies and is not a secret.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        ops_role_arn: str,
        bedrock_region: str,
        usage_log_group: UsageLogGroup,
        encryption_key: kms.IKey,
        platform: LambdaPlatform,
        code: lambda_.Code | None = None,
        bedrock_max_attempts: int = 4,
    ) -> None:
        super().__init__(scope, id)
        fn_name = naming.function_name(tenant.id)

        self.role = iam.Role(
            self,
            "AssumingRole",
            role_name=naming.caller_role_name(tenant.id),
            description=f"Runs tenant {tenant.id}'s Bedrock invoker; assumes its ops role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AssumeOwnInvokerRoleOnly",
                actions=["sts:AssumeRole"],
                resources=[ops_role_arn],
            )
        )

        self.log_group = FunctionLogGroup(
            self,
            "LogGroup",
            function_name=fn_name,
            retention_days=tenant.log_retention_days,
            encryption_key=encryption_key,
        )
        self.log_group.grant_write(self.role)
        usage_log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=fn_name,
            description=f"Calls Bedrock for tenant {tenant.id}; logs usage in this account",
            runtime=platform.runtime,
            architecture=platform.architecture,
            handler="handler.lambda_handler",
            code=code or python_function_code(INVOKER_SOURCE, platform),
            role=self.role,
            memory_size=1024,
            timeout=Duration.seconds(60),
            log_group=self.log_group.log_group,
            # Printed JSON (fallback usage records) stays a top-level object.
            logging_format=lambda_.LoggingFormat.JSON,
            reserved_concurrent_executions=tenant.reserved_concurrency,
            # Opt-in per tenant. The handler records no prompt, answer or user id
            # in trace annotations or metadata. Traces hold the Lambda service's own
            # segments (init, invocation, overhead): the SDK calls are not instrumented.
            tracing=lambda_.Tracing.ACTIVE if tenant.xray_tracing else None,
            environment={
                "TENANT_ID": tenant.id,
                "OPS_ROLE_ARN": ops_role_arn,
                "OPS_EXTERNAL_ID": tenant.external_id,
                "BEDROCK_REGION": bedrock_region,
                "USAGE_LOG_GROUP": usage_log_group.log_group_name,
                "ALLOWED_MODELS": ",".join(tenant.models),
                "DEFAULT_MODEL_ID": tenant.default_model,
                # str(): the StrEnum's value, or a StackSet parameter's token.
                "LOG_CONTENT": str(tenant.log_content),
                "USAGE_SINK": str(tenant.usage_sink),
                # Sorted keys: the same registry always synthesizes the same template.
                "PRICE_OVERRIDES": json.dumps(
                    {m: p.model_dump(exclude_none=True) for m, p in tenant.price_overrides.items()},
                    sort_keys=True,
                    separators=(",", ":"),
                ),
                "BEDROCK_MAX_ATTEMPTS": str(bedrock_max_attempts),
                "POWERTOOLS_SERVICE_NAME": "bedrock-invoker",
            },
        )
        depend_on_policy_only(self.function, self.role)
        function_resource = self.function.node.default_child
        assert isinstance(function_resource, CfnResource)
        self._acknowledge_findings(default_policy(self.role), function_resource, tenant)

    @staticmethod
    def _acknowledge_findings(policy: CfnElement, function: CfnResource, tenant: Tenant) -> None:
        """cdk-nag findings this design accepts, each on the one resource it concerns."""
        if tenant.xray_tracing:
            Validations.of(policy).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason=(
                        "Added by Tracing.ACTIVE for xray:PutTraceSegments and "
                        "xray:PutTelemetryRecords, which have no resource-level permissions."
                    ),
                )
            )
        else:
            Validations.of(function).acknowledge(
                Acknowledgment(
                    id="Serverless-LambdaTracing",
                    reason=(
                        "X-Ray is opt-in per tenant (registry xray_tracing); every call's "
                        "latency and outcome is already in the tenant's usage record."
                    ),
                )
            )
        Validations.of(function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason=(
                    "Pinned to the Python the bundle's binary wheels are built for "
                    "(LambdaPlatform, cp312); moving up is a deliberate, tested change."
                ),
            ),
            Acknowledgment(
                id="Serverless-LambdaLatestVersion",
                reason=(
                    "Pinned to the Python the bundle's binary wheels are built for (cp312); "
                    "moving up is a deliberate, tested change."
                ),
            ),
            Acknowledgment(
                id="Serverless-LambdaDLQ",
                reason=(
                    "Invoked synchronously (RequestResponse): the caller gets the result or "
                    "error; there are no asynchronous events to dead-letter."
                ),
            ),
        )
