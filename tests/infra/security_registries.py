"""Registries the security tests synthesize besides the example one.

``wide_registry`` switches on every optional path the stacks have: geographic
and global inference profiles, application inference profiles and a cost centre,
X-Ray tracing, reserved concurrency, an alert
e-mail, a tenant's alarm topic and budget alarms, a guardrail and service tiers,
a workload role (principals in two accounts and both services) and
short-term API keys, and the registry's consent to ops-account invocation logging, so the
generic checks (cdk-nag, least privilege, embedded deployability) see every
resource and statement the product can emit.
"""

from __future__ import annotations

from typing import Any

from contracts.registry import TenantRegistry, parse_registry

WIDE_REGISTRY: dict[str, Any] = {
    "version": 1,
    "operations": {
        "account_id": "111111111111",
        "region": "us-east-1",
        "allow_ops_invocation_logging": True,
        "alert_email": "security-alerts@example.com",
        # An account-wide guardrail floor.
        "enforced_guardrail": {"identifier": "floor0000001", "version": "2"},
    },
    "defaults": {
        "models": ["anthropic.claude-3-haiku-20240307-v1:0"],
        "log_retention_days": 30,
        "reserved_concurrency": 5,
    },
    "tenants": [
        {
            "id": "geo",
            "account_id": "222222222222",
            "region": "us-east-1",
            "external_id": "geo-0123456789abcdef",
            "models": [
                "anthropic.claude-3-haiku-20240307-v1:0",
                "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                "us.amazon.nova-lite-v1:0",
            ],
            "xray_tracing": True,
            "reserved_concurrency": 20,
            "application_inference_profiles": True,
            "cost_centre": "CC 42/geo",
            # Every call only with this guardrail, in one of these tiers.
            "guardrail": {"identifier": "abcdef123456", "version": "3"},
            "service_tiers": ["priority", "default", "flex"],
            "retry_mode": "standard",
            "max_tokens": 2048,
            # A role for the tenant's own workloads: a role of another account, a
            # user of its own, and both services.
            "workload_role": {
                "principals": [
                    "arn:aws:iam::444444444444:role/ml/notebook-runner",
                    "arn:aws:iam::222222222222:user/batch",
                ],
                "services": ["ecs-tasks", "sagemaker"],
            },
            # Its invoker role accepts short-term Bedrock API keys (OpenAI-style SDKs).
            "short_term_api_keys": True,
        },
        {
            "id": "worldwide",
            "account_id": "333333333333",
            "region": "eu-west-1",
            "external_id": "worldwide-fedcba9876543210",
            "models": ["global.anthropic.claude-sonnet-4-20250514-v1:0"],
            "log_content": "full",
            # A guardrail its operations stack creates (content filters and a word).
            "guardrail": {
                "create": {"content_filter_strength": "HIGH", "blocked_words": ["unobtainium"]}
            },
            # The alarm topic (own key, SSL-only policy, e-mail), an existing
            # topic too, and both budget alarms.
            "alarms": {
                "email": "ml-team@example.com",
                "sns_topic_arn": "arn:aws:sns:eu-west-1:333333333333:platform-oncall",
                "monthly_token_budget": 50000000,
                "monthly_cost_budget_usd": 500.0,
            },
        },
    ],
}


def wide_registry() -> TenantRegistry:
    """Every optional feature on, two tenants with geo and global profiles."""
    return parse_registry(WIDE_REGISTRY)
