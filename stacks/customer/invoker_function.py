"""The tenant's Lambda that calls Bedrock through the operations account."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CfnResource,
    Duration,
    RemovalPolicy,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts import function_environment, naming
from contracts.registry import Tenant
from contracts.usage_record import UsageSink
from stacks.customer.usage_log_group import UsageLogGroup
from stacks.shared.function_log_group import FunctionLogGroup, default_policy, depend_on_policy_only
from stacks.shared.lambda_bundling import LambdaPlatform, python_function_code

INVOKER_SOURCE = Path(__file__).resolve().parents[2] / "lambda" / "bedrock_invoker"
# Lambda SnapStart supports Python from 3.12 on.
SNAP_START_MIN_PYTHON = (3, 12)


def function_runtime(platform: LambdaPlatform, *, snap_start: bool) -> lambda_.Runtime:
    """The platform's runtime, marked as SnapStart-capable when the function uses it.

    CDK refuses SnapStart on a runtime it does not know supports it, and the
    platform's runtime is built from its version string. Python 3.12+ supports
    it on AWS. The host platform may be older: its packages only ever run in the
    embedded cloud's runner, which emulates the snapshot's hooks.
    """
    if not snap_start:
        return platform.runtime
    version = tuple(int(part) for part in platform.python_version.split("."))
    host = LambdaPlatform.host()
    on_host = (platform.machine, platform.python_version) == (host.machine, host.python_version)
    if version < SNAP_START_MIN_PYTHON and not on_host:
        minimum = ".".join(map(str, SNAP_START_MIN_PYTHON))
        raise ValueError(
            f"snap_start: Lambda SnapStart needs Python {minimum}+, not {platform.python_version}"
        )
    return lambda_.Runtime(
        platform.runtime.name, lambda_.RuntimeFamily.PYTHON, supports_snap_start=True
    )


class InvokerFunction(Construct):
    """The invoker Lambda with its execution role (the "assuming role") and log group.

    The role may assume exactly one role, the tenant's invoker role in the
    operations account, and write only to the usage log group and, with the
    ``api`` usage sink, its own log group. The function never receives secrets:
    the ExternalId guards against confused deputies and is not a secret.

    Every caller invokes the alias ``naming.INVOKER_ALIAS``, which points at the
    version published from the current configuration, with or without SnapStart
    (registry ``snap_start``): one target whatever the setting.

    With the ``stdout`` usage sink (registry ``usage_sink``) the function's
    logging configuration names the usage log group, so Lambda delivers the
    printed records there (with the function's other lines); with ``api`` the
    function puts them itself and logs to its own group.
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
        stdout_sink = tenant.usage_sink == UsageSink.STDOUT
        # Lambda delivers a function's logs with its execution role's permissions:
        # with the stdout sink the role writes to the usage group through Lambda
        # only, and its own group receives nothing. The own group is kept all the
        # same (empty), so switching a tenant's sink back and forth never has to
        # replace a retained log group.
        if not stdout_sink:
            self.log_group.grant_write(self.role)
        usage_log_group.grant_write(self.role)

        # What the function is told; the workload role's client settings are the same.
        self.environment = function_environment.for_tenant(
            tenant,
            ops_role_arn=ops_role_arn,
            bedrock_region=bedrock_region,
            usage_log_group=usage_log_group.log_group_name,
            bedrock_max_attempts=bedrock_max_attempts,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=fn_name,
            description=f"Calls Bedrock for tenant {tenant.id}; logs usage in this account",
            runtime=function_runtime(platform, snap_start=tenant.snap_start),
            architecture=platform.architecture,
            handler="handler.lambda_handler",
            code=code or python_function_code(INVOKER_SOURCE, platform),
            role=self.role,
            memory_size=1024,
            timeout=Duration.seconds(60),
            log_group=usage_log_group.log_group if stdout_sink else self.log_group.log_group,
            # Printed JSON (usage records) stays a top-level object. The records
            # say "level": "INFO"; a higher application level would drop them.
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if tenant.snap_start else None,
            # A replaced version is deleted once the alias has moved on: nothing
            # invokes it any more, and a retained one would keep a copy of the
            # package against the Region's code storage quota (and, with SnapStart,
            # its snapshot's cache charge while it stays active).
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY),
            reserved_concurrent_executions=tenant.reserved_concurrency,
            # Opt-in per tenant. The handler records no prompt, answer or user id
            # in trace annotations or metadata. Traces hold the Lambda service's own
            # segments (init, invocation, overhead): the SDK calls are not instrumented.
            tracing=lambda_.Tracing.ACTIVE if tenant.xray_tracing else None,
            # The one environment contract, which the function parses back.
            environment=self.environment.to_env(),
        )
        depend_on_policy_only(self.function, self.role)
        # The published version of this configuration (SnapStart's snapshot, when on)
        # and the one name every caller uses for it.
        self.version = self.function.current_version
        self.alias = self.function.add_alias(
            naming.INVOKER_ALIAS,
            description=f"What every caller invokes: tenant {tenant.id}'s current version",
        )
        function_resource = self.function.node.default_child
        assert isinstance(function_resource, CfnResource)
        self._acknowledge_findings(default_policy(self.role), function_resource, tenant)
        if tenant.snap_start:
            self._acknowledge_snap_start(function_resource, platform)

    def _acknowledge_snap_start(self, function: CfnResource, platform: LambdaPlatform) -> None:
        """What synthesis says about SnapStart that this design accepts."""
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="Annotation::@aws-cdk/aws-lambda:snapStartRequirePublish",
                reason=(
                    f"The {naming.INVOKER_ALIAS!r} alias points at the published current "
                    "version, and every caller invokes the alias."
                ),
            )
        )
        if tuple(int(p) for p in platform.python_version.split(".")) < SNAP_START_MIN_PYTHON:
            # function_runtime() allows this on the host platform only.
            Validations.of(function).acknowledge(
                Acknowledgment(
                    id="CloudFormation-Validate::E2530",
                    reason=(
                        "Host-platform template for the embedded cloud, whose runner runs "
                        "the package on this machine's Python and emulates SnapStart's "
                        "hooks; the AWS platform is Python 3.12."
                    ),
                )
            )

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
