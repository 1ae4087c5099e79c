"""Where moto (pinned 5.2.5) falls short of AWS for this project, one module per service.

* ``cloudformation``: custom resources, change sets, custom-resource answers;
* ``lambda_``: runs functions in the local runner, keeps LoggingConfig and
  SnapStart, versions and aliases in stacks;
* ``bedrock``: ``AWS::Bedrock::ApplicationInferenceProfile`` in stacks;
* ``bedrock_guardrails``: ``AWS::Bedrock::Guardrail`` and ``GuardrailVersion`` in stacks;
* ``logs``: JSON filter patterns, a template's ``KmsKeyId``, log group updates;
* ``iam``: inline policies from templates kept as text,
  GetAccountAuthorizationDetails paginated, a stack update applying a role's
  tags, trust and session duration, and a stack's role deleted only with the
  inline policies the stack manages (DeleteConflict and DELETE_FAILED
  otherwise);
* ``organizations``: existing accounts invited into an organization (handshakes);
* ``stack_sets``: StackSet operations run for real in the target accounts, OUs
  resolved through the organization, with preferences, results and failures.

Each module's docstring says what moto does wrong and what AWS does instead.
``install`` applies them all while an ``EmbeddedCloud`` runs; STS trust and the
Bedrock runtime API are served in front of moto, in ``embedded_aws.cloud``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from embedded_aws.bedrock import BedrockEmulator
from embedded_aws.lambda_runner import LambdaRunner
from embedded_aws.moto_patches import cloudformation, iam, lambda_, logs, organizations, stack_sets
from embedded_aws.moto_patches.bedrock import (
    APPLICATION_INFERENCE_PROFILE_TYPE,
    application_profile_model,
)
from embedded_aws.moto_patches.bedrock_guardrails import guardrail_models


def install(*, lambda_runner: LambdaRunner, bedrock: BedrockEmulator) -> Callable[[], None]:
    """Apply every patch; returns a function that undoes them all."""
    patches = contextlib.ExitStack()
    patches.callback(lambda_.install(lambda_runner))
    patches.callback(logs.install())
    patches.callback(iam.install())
    patches.callback(
        cloudformation.install(
            {
                APPLICATION_INFERENCE_PROFILE_TYPE: application_profile_model(bedrock),
                **guardrail_models(bedrock),
            }
        )
    )
    patches.callback(organizations.install())
    patches.callback(stack_sets.install())
    return patches.close
