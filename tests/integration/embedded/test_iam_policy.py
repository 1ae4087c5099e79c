"""The policy evaluator against IAM's documented semantics, including must-deny cases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from embedded_aws.iam_policy import (
    Decision,
    Principal,
    Request,
    arn_match,
    evaluate,
    glob_match,
)

OPS_ROLE = "arn:aws:iam::111111111111:role/bedrock-invoker-acme"
ACME_CALLER = "arn:aws:iam::222222222222:role/bedrock-caller-acme"
GLOBEX_CALLER = "arn:aws:iam::333333333333:role/bedrock-caller-globex"
EXTERNAL_ID = "acme-5f0c2a9e8b7d4c1e"


def session_of(role_arn: str, session: str = "acme") -> Principal:
    account = role_arn.split(":")[4]
    name = role_arn.rsplit("/", 1)[-1]
    return Principal(
        account_id=account,
        arn=f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        role_arn=role_arn,
    )


def trust_policy(**condition: dict[str, Any]) -> str:
    """The product's trust shape: tenant account principal + PrincipalArn + ExternalId."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": condition
                    or {
                        "StringEquals": {"sts:ExternalId": EXTERNAL_ID},
                        "ArnEquals": {"aws:PrincipalArn": ACME_CALLER},
                    },
                }
            ],
        }
    )


def assume(principal: Principal, external_id: str | None, document: str | None = None) -> Decision:
    context = {
        "aws:PrincipalArn": principal.role_arn or principal.arn,
        "aws:PrincipalAccount": principal.account_id,
    }
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    request = Request("sts:AssumeRole", OPS_ROLE, principal, context)
    return evaluate([document or trust_policy()], request, resource_policy=True).decision


def test_tenant_role_with_right_external_id_may_assume_its_invoker_role() -> None:
    assert assume(session_of(ACME_CALLER), EXTERNAL_ID) is Decision.ALLOW


@pytest.mark.parametrize(
    ("principal", "external_id"),
    [
        pytest.param(session_of(ACME_CALLER), "acme-wrong", id="wrong-external-id"),
        pytest.param(session_of(ACME_CALLER), None, id="missing-external-id"),
        pytest.param(
            session_of(ACME_CALLER), EXTERNAL_ID.upper(), id="external-id-is-case-sensitive"
        ),
        pytest.param(session_of(GLOBEX_CALLER), EXTERNAL_ID, id="other-tenants-role"),
        pytest.param(
            session_of("arn:aws:iam::222222222222:role/some-other-role"),
            EXTERNAL_ID,
            id="unrelated-role-in-tenant-account",
        ),
        pytest.param(
            Principal(account_id="222222222222", arn="arn:aws:iam::222222222222:user/bob"),
            EXTERNAL_ID,
            id="user-in-tenant-account",
        ),
        pytest.param(Principal(service="lambda.amazonaws.com"), EXTERNAL_ID, id="aws-service"),
    ],
)
def test_trust_policy_denies(principal: Principal, external_id: str | None) -> None:
    assert assume(principal, external_id) is Decision.IMPLICIT_DENY


def test_explicit_deny_wins_over_allow() -> None:
    document = json.loads(trust_policy())
    document["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sts:*",
            "Condition": {"StringLike": {"aws:PrincipalArn": "*caller-acme"}},
        }
    )
    assert assume(session_of(ACME_CALLER), EXTERNAL_ID, json.dumps(document)) is (
        Decision.EXPLICIT_DENY
    )


def test_string_like_wildcards_match_only_their_pattern() -> None:
    document = trust_policy(
        StringLike={"aws:PrincipalArn": "arn:aws:iam::222222222222:role/bedrock-caller-*"}
    )
    assert assume(session_of(ACME_CALLER), None, document) is Decision.ALLOW
    outsider = session_of("arn:aws:iam::222222222222:role/admin")
    assert assume(outsider, None, document) is Decision.IMPLICIT_DENY
    single = trust_policy(StringLike={"sts:ExternalId": "acme-????"})
    assert assume(session_of(ACME_CALLER), "acme-1234", single) is Decision.ALLOW
    assert assume(session_of(ACME_CALLER), "acme-12345", single) is Decision.IMPLICIT_DENY


def test_principal_named_by_role_arn_matches_its_sessions_only() -> None:
    document = json.dumps(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ACME_CALLER}, "Action": "sts:AssumeRole"}
            ]
        }
    )
    request = Request("sts:AssumeRole", OPS_ROLE, session_of(ACME_CALLER))
    verdict = evaluate([document], request, resource_policy=True)
    assert verdict.decision is Decision.ALLOW and verdict.principal_named_exactly
    other = Request("sts:AssumeRole", OPS_ROLE, session_of(GLOBEX_CALLER))
    assert evaluate([document], other, resource_policy=True).decision is Decision.IMPLICIT_DENY


def test_account_id_principal_matches_every_identity_in_that_account_only() -> None:
    document = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "222222222222"},
                    "Action": "sts:AssumeRole",
                }
            ]
        }
    )
    ok = evaluate(
        [document],
        Request("sts:AssumeRole", OPS_ROLE, session_of(ACME_CALLER)),
        resource_policy=True,
    )
    assert ok.decision is Decision.ALLOW and not ok.principal_named_exactly
    no = evaluate(
        [document],
        Request("sts:AssumeRole", OPS_ROLE, session_of(GLOBEX_CALLER)),
        resource_policy=True,
    )
    assert no.decision is Decision.IMPLICIT_DENY


def test_service_principal_must_be_named() -> None:
    document = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ]
        }
    )
    lam = Request("sts:AssumeRole", OPS_ROLE, Principal(service="lambda.amazonaws.com"))
    ec2 = Request("sts:AssumeRole", OPS_ROLE, Principal(service="ec2.amazonaws.com"))
    assert evaluate([document], lam, resource_policy=True).decision is Decision.ALLOW
    assert evaluate([document], ec2, resource_policy=True).decision is Decision.IMPLICIT_DENY


def test_identity_policy_scopes_action_and_resource() -> None:
    policy = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["bedrock:InvokeModel"],
                    "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.*",
                }
            ]
        }
    )
    me = session_of(OPS_ROLE)
    haiku = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    titan = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"
    assert evaluate([policy], Request("bedrock:InvokeModel", haiku, me)).decision is Decision.ALLOW
    # Actions match case-insensitively, as IAM documents.
    assert evaluate([policy], Request("Bedrock:invokemodel", haiku, me)).decision is Decision.ALLOW
    assert evaluate([policy], Request("bedrock:InvokeModel", titan, me)).decision is (
        Decision.IMPLICIT_DENY
    )
    stream = Request("bedrock:InvokeModelWithResponseStream", haiku, me)
    assert evaluate([policy], stream).decision is Decision.IMPLICIT_DENY


def test_missing_key_fails_positive_operators_and_passes_negated_and_if_exists() -> None:
    me = session_of(ACME_CALLER)
    for operator, expected in (
        ("StringEquals", Decision.IMPLICIT_DENY),
        ("StringNotEquals", Decision.ALLOW),
        ("StringEqualsIfExists", Decision.ALLOW),
    ):
        document = json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "sts:AssumeRole",
                        "Condition": {operator: {"sts:SourceIdentity": "x"}},
                    }
                ]
            }
        )
        request = Request("sts:AssumeRole", OPS_ROLE, me, {})
        assert evaluate([document], request, resource_policy=True).decision is expected, operator


def test_condition_keys_are_case_insensitive_but_values_are_not() -> None:
    document = trust_policy(StringEquals={"STS:EXTERNALID": EXTERNAL_ID})
    assert assume(session_of(ACME_CALLER), EXTERNAL_ID, document) is Decision.ALLOW
    ignore_case = trust_policy(StringEqualsIgnoreCase={"sts:ExternalId": EXTERNAL_ID})
    assert assume(session_of(ACME_CALLER), EXTERNAL_ID.upper(), ignore_case) is Decision.ALLOW


def test_unsupported_operator_never_allows() -> None:
    document = trust_policy(NumericLessThan={"aws:MultiFactorAuthAge": "300"})
    assert assume(session_of(ACME_CALLER), EXTERNAL_ID, document) is Decision.IMPLICIT_DENY


def test_wildcards() -> None:
    assert glob_match("a*c", "abbbc") and glob_match("a?c", "abc") and not glob_match("a?c", "ac")
    assert arn_match(
        "arn:aws:bedrock:*::foundation-model/*", "arn:aws:bedrock:::foundation-model/x"
    )
    # A wildcard stays inside its ARN segment.
    assert not arn_match("arn:aws:iam::*", "arn:aws:iam:us-east-1:123456789012:role/x")
