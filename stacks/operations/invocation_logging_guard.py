"""Deploy-time guard: the operations stack fails while Bedrock logs prompts in its account."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    CfnResource,
    CustomResource,
    Duration,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.shared.function_log_group import FunctionLogGroup, default_policy, depend_on_policy_only
from stacks.shared.lambda_bundling import LambdaPlatform, python_function_code

GUARD_SOURCE = Path(__file__).resolve().parents[2] / "lambda" / "invocation_logging_guard"
GUARD_FUNCTION_NAME = "bedrock-ops-invocation-logging-guard"
GUARD_RESOURCE_TYPE = "Custom::OpsInvocationLoggingGuard"


def guard_function_name(shard: int) -> str:
    """Each operations shard has its own guard; shard 0's keeps the original name."""
    return GUARD_FUNCTION_NAME if shard == 0 else f"{GUARD_FUNCTION_NAME}-{shard}"


# The only action the guard needs; Bedrock offers no resource-level scoping for it,
# so its statement is the one Resource "*" the least-privilege tests allow, by Sid.
READ_LOGGING_CONFIG = "bedrock:GetModelInvocationLoggingConfiguration"
READ_LOGGING_CONFIG_SID = "ReadInvocationLoggingSetting"


class InvocationLoggingGuard(Construct):
    """A Python custom resource that reads the account's model-invocation logging setting.

    It answers FAILED on Create/Update if logging delivers any content (text,
    image, embedding, video ...) unless ``allow_ops_invocation_logging`` is set.
    It runs when the stack is created, when that flag changes and when the
    tenant set changes (``recheck_token``); between
    deployments the ``InvocationLoggingAlert`` rule and ``tenantctl doctor``
    cover the setting. Plain Lambda on purpose: no provider framework and no
    Node.js, so the embedded cloud's runner can execute it.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        allow_ops_invocation_logging: bool,
        recheck_token: str,
        platform: LambdaPlatform,
        function_name: str = GUARD_FUNCTION_NAME,
        code: lambda_.Code | None = None,
        log_retention_days: int = 365,
    ) -> None:
        super().__init__(scope, id)

        self.role = iam.Role(
            self,
            "Role",
            description="Reads Bedrock's model-invocation logging setting at deploy time",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid=READ_LOGGING_CONFIG_SID,
                actions=[READ_LOGGING_CONFIG],
                resources=["*"],
            )
        )
        self.log_group = FunctionLogGroup(
            self, "LogGroup", function_name=function_name, retention_days=log_retention_days
        )
        self.log_group.grant_write(self.role)
        Validations.of(default_policy(self.role)).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    f"{READ_LOGGING_CONFIG} is an account-level read with no resource type; "
                    "IAM accepts only Resource '*' for it. It is the statement's only action."
                ),
            ),
        )

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="Fails the deployment if Bedrock invocation logging copies prompts here",
            runtime=platform.runtime,
            architecture=platform.architecture,
            handler="handler.lambda_handler",
            code=code or python_function_code(GUARD_SOURCE, platform),
            role=self.role,
            memory_size=128,
            # Bounded retries inside (about 40 s worst case) and still time to answer.
            timeout=Duration.seconds(90),
            log_group=self.log_group.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        depend_on_policy_only(self.function, self.role)
        function_resource = self.function.node.default_child
        assert isinstance(function_resource, CfnResource)
        Validations.of(function_resource).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason=(
                    "Runs on the same pinned Python as the invoker (LambdaPlatform), so one "
                    "runtime is qualified and upgraded for both."
                ),
            ),
            Acknowledgment(
                id="Serverless-LambdaLatestVersion",
                reason=(
                    "Same pinned Python as the invoker (LambdaPlatform); both move to a newer "
                    "runtime together, as a tested change."
                ),
            ),
            Acknowledgment(
                id="Serverless-LambdaDLQ",
                reason=(
                    "Only CloudFormation invokes it, once per deployment, and waits for the "
                    "answer: a lost invocation fails the stack operation, which is the alert."
                ),
            ),
            Acknowledgment(
                id="Serverless-LambdaTracing",
                reason=(
                    "One short API call per deployment; its JSON log record and the stack "
                    "event carry everything a trace would."
                ),
            ),
        )

        self.check = CustomResource(
            self,
            "Check",
            service_token=self.function.function_arn,
            resource_type=GUARD_RESOURCE_TYPE,
            properties={
                # CloudFormation passes properties as strings; the handler parses this.
                "AllowOpsInvocationLogging": "true" if allow_ops_invocation_logging else "false",
                # CloudFormation calls a custom resource only when its properties
                # change: this token changes with every deploy that changes the
                # tenants, so onboarding and offboarding re-check the setting.
                "RecheckToken": recheck_token,
            },
        )
