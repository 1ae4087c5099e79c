"""The embedded AWS: moto in-process plus trust enforcement, Bedrock and a Lambda runner.

Start one with ``EmbeddedCloud`` (tests, demo) or run it as a background
process with ``tenantctl local up`` (see ``embedded_aws.process``).

Test infrastructure, not product: installed with the ``embedded`` extra (it needs
moto) and imported by nothing in ``stacks/``, ``lambda/`` or the CLI's AWS paths.
"""

from embedded_aws.bedrock import BedrockCall, BedrockEmulator
from embedded_aws.cloud import AccountCredentials, EmbeddedCloud
from embedded_aws.lambda_function import FunctionSpec, Invocation
from embedded_aws.lambda_runner import LambdaRunner

__all__ = [
    "AccountCredentials",
    "BedrockCall",
    "BedrockEmulator",
    "EmbeddedCloud",
    "FunctionSpec",
    "Invocation",
    "LambdaRunner",
]
