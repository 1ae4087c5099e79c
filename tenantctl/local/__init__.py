"""The embedded AWS: moto in-process plus trust enforcement, Bedrock and a Lambda runner.

Start one with ``EmbeddedCloud`` (tests, demo) or run it as a background
process with ``python -m tenantctl.local up`` (see ``tenantctl.local.process``).
"""

from tenantctl.local.bedrock import BedrockCall, BedrockEmulator
from tenantctl.local.cloud import AccountCredentials, EmbeddedCloud
from tenantctl.local.lambda_runner import FunctionSpec, Invocation, LambdaRunner

__all__ = [
    "AccountCredentials",
    "BedrockCall",
    "BedrockEmulator",
    "EmbeddedCloud",
    "FunctionSpec",
    "Invocation",
    "LambdaRunner",
]
