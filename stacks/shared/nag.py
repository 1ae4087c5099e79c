"""cdk-nag acknowledgments shared by both accounts' stacks, each with its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Token, Validations
from aws_cdk import aws_iam as iam


def acknowledge_log_stream_wildcard(role: iam.Role, log_group_arn: str, reason: str) -> None:
    """Accept cdk-nag's IAM5 for ``<log group>:log-stream:*`` on the role's policy, with why.

    A template whose ARN is not known at synth (the StackSet template's account
    and region are parameters) has no finding id to name; cdk-nag does not run
    on it.
    """
    if Token.is_unresolved(log_group_arn):
        return
    policy = role.node.find_child("DefaultPolicy").node.default_child
    assert isinstance(policy, CfnElement)
    Validations.of(policy).acknowledge(
        Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::{log_group_arn}:log-stream:*]", reason=reason
        )
    )


def acknowledge_api_key_wildcard(policy: CfnElement) -> None:
    """Accept cdk-nag's IAM5 for ``Resource: "*"`` on an invoker role's policy whose
    tenant opted in to short-term API keys (registry ``short_term_api_keys``)."""
    Validations.of(policy).acknowledge(
        Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason=(
                "bedrock:CallWithBearerToken has no resource type: IAM accepts only "
                "Resource '*' for it. The statement allows only that action, only for "
                "SHORT_TERM keys (bedrock:BearerTokenType), and only for a tenant the "
                "registry opts in; each call made with a key is still authorized against "
                "the role's model, guardrail and service-tier statements."
            ),
        )
    )
