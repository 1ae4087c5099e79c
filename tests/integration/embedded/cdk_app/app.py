"""A throwaway CDK app: the resource kinds the product deploys, in one small stack.

It exercises the embedded cloud's deploy path without the product's app: an
IAM role, an explicit log group, a Python Lambda with inline code and a custom
resource backed by a plain Python Lambda (answered through cfnresponse).
"""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

HANDLER = """
import cfnresponse

def handler(event, context):
    props = event.get("ResourceProperties", {})
    cfnresponse.send(event, context, cfnresponse.SUCCESS,
                     {"Greeting": "hello " + props.get("Name", "?")}, "greeting")
"""


class SeamStack(cdk.Stack):
    """An IAM role, a log group, a Python Lambda and a custom resource it answers."""

    def __init__(self, scope: Construct, id: str, *, env: cdk.Environment) -> None:
        super().__init__(scope, id, env=env)
        role = iam.Role(self, "FnRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group = logs.LogGroup(self, "FnLogs", retention=logs.RetentionDays.ONE_WEEK)
        fn = lambda_.Function(
            self,
            "Fn",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_inline(HANDLER),
            role=role,
            log_group=log_group,
        )
        greeting = cdk.CustomResource(
            self, "Greeting", service_token=fn.function_arn, properties={"Name": "embedded"}
        )
        cdk.CfnOutput(self, "GreetingOut", value=greeting.get_att_string("Greeting"))


app = cdk.App()
# One stack per account ("-c accounts=111111111111,222222222222"), named Seam-<account>.
for account in str(app.node.try_get_context("accounts") or "").split(","):
    if account:
        SeamStack(app, f"Seam-{account}", env=cdk.Environment(account=account, region="us-east-1"))
app.synth()
