"""Table-driven checks of the policy evaluator against IAM's documented evaluation logic.

Each case is one authorization question with the decision AWS gives. Where the
IAM documentation leaves the outcome open, the case expects the evaluator to
fail closed (deny) and says so in a comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from embedded_aws.iam_policy import Context, Decision, Principal, Request, evaluate

OPS = "111111111111"
ACME = "222222222222"
GLOBEX = "333333333333"
REGION = "us-east-1"

INVOKER_ROLE = f"arn:aws:iam::{OPS}:role/bedrock-invoker-acme"
ACME_ROLE = f"arn:aws:iam::{ACME}:role/bedrock-caller-acme"
ACME_SESSION_ARN = f"arn:aws:sts::{ACME}:assumed-role/bedrock-caller-acme/acme"
ACME_ROOT_ARN = f"arn:aws:iam::{ACME}:root"
BOB_ARN = f"arn:aws:iam::{ACME}:user/bob"
EXTERNAL_ID = "acme-5f0c2a9e8b7d4c1e"

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}"
GLOBAL_HAIKU_ARN = f"arn:aws:bedrock:::foundation-model/{HAIKU}"
PROFILE_ARN = f"arn:aws:bedrock:{REGION}:{OPS}:inference-profile/global.{HAIKU}"
TITAN_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-text-express-v1"
BUCKET = "arn:aws:s3:::tenant-data"


def session(role_arn: str, name: str = "acme") -> Principal:
    """An assumed-role session of ``role_arn``, as the embedded STS reports it."""
    partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
    role_name = role_arn.rsplit("/", 1)[-1]
    return Principal(
        account_id=account,
        arn=f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{name}",
        role_arn=role_arn,
    )


ACME_SESSION = session(ACME_ROLE)
ACME_OTHER_SESSION = session(ACME_ROLE, "other")
ACME_ADMIN_SESSION = session(f"arn:aws:iam::{ACME}:role/admin")
GLOBEX_SESSION = session(f"arn:aws:iam::{GLOBEX}:role/bedrock-caller-globex")
INVOKER_SESSION = session(INVOKER_ROLE)
CN_SESSION = session(f"arn:aws-cn:iam::{ACME}:role/bedrock-caller-acme")
BOB = Principal(account_id=ACME, arn=BOB_ARN)
ACME_ROOT = Principal(account_id=ACME, arn=ACME_ROOT_ARN)
LAMBDA = Principal(service="lambda.amazonaws.com")


@dataclass(frozen=True)
class Case:
    """Policies, one request, and the decision IAM reaches for it."""

    name: str
    policies: tuple[dict[str, Any], ...]
    request: Request
    expected: Decision
    resource_policy: bool = False


def document(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    doc: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        doc["Version"] = version
    return doc


def statement(effect: str, action: Any = "bedrock:InvokeModel", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, **extra}


def allow(action: Any = "bedrock:InvokeModel", **extra: Any) -> dict[str, Any]:
    return statement("Allow", action, **extra)


def deny(action: Any = "bedrock:InvokeModel", **extra: Any) -> dict[str, Any]:
    return statement("Deny", action, **extra)


def invoke(
    resource: str = HAIKU_ARN,
    context: Context | None = None,
    *,
    action: str = "bedrock:InvokeModel",
    principal: Principal = INVOKER_SESSION,
) -> Request:
    return Request(action, resource, principal, context or {})


def assume(principal: Principal = ACME_SESSION, context: Context | None = None) -> Request:
    return Request("sts:AssumeRole", INVOKER_ROLE, principal, context or {})


def identity(
    name: str, statements: list[dict[str, Any]], request: Request, expected: Decision
) -> Case:
    return Case(name, (document(*statements),), request, expected)


def trust(
    name: str, statements: list[dict[str, Any]], request: Request, expected: Decision
) -> Case:
    return Case(name, (document(*statements),), request, expected, resource_policy=True)


def condition(
    name: str,
    block: dict[str, Any],
    context: Context,
    expected: Decision,
    *,
    effect: str = "Allow",
) -> Case:
    """One condition block on an Allow, or on a Deny next to an unconditional Allow."""
    if effect == "Allow":
        statements = [allow(Resource="*", Condition=block)]
    else:
        statements = [allow(Resource="*"), deny(Resource="*", Condition=block)]
    return identity(name, statements, invoke(context=context), expected)


ALLOW = Decision.ALLOW
IMPLICIT = Decision.IMPLICIT_DENY
EXPLICIT = Decision.EXPLICIT_DENY

EVALUATION_CASES = [
    identity("matching-allow-allows", [allow(Resource=HAIKU_ARN)], invoke(), ALLOW),
    identity(
        "no-matching-statement-is-implicit-deny",
        [allow("bedrock:Converse", Resource=HAIKU_ARN)],
        invoke(),
        IMPLICIT,
    ),
    Case("no-policies-is-implicit-deny", (), invoke(), IMPLICIT),
    identity(
        "explicit-deny-beats-allow-in-the-same-policy",
        [allow(Resource="*"), deny(Resource=HAIKU_ARN)],
        invoke(),
        EXPLICIT,
    ),
    Case(
        "explicit-deny-in-another-policy-beats-allow",
        (document(allow(Resource="*")), document(deny(Resource="*"))),
        invoke(),
        EXPLICIT,
    ),
    identity(
        "deny-on-another-resource-leaves-the-allow",
        [allow(Resource="*"), deny(Resource=TITAN_ARN)],
        invoke(),
        ALLOW,
    ),
    identity(
        "unknown-effect-never-allows",
        [statement("allow", Resource="*")],
        invoke(),
        IMPLICIT,
    ),
]

ACTION_CASES = [
    identity(
        "action-matches-case-insensitively",
        [allow("BEDROCK:invokemodel", Resource="*")],
        invoke(),
        ALLOW,
    ),
    identity(
        "action-star-matches-a-suffix",
        [allow("bedrock:Invoke*", Resource="*")],
        invoke(action="bedrock:InvokeModelWithResponseStream"),
        ALLOW,
    ),
    identity(
        "action-question-mark-matches-exactly-one-character",
        [allow("bedrock:InvokeMode?", Resource="*")],
        invoke(),
        ALLOW,
    ),
    identity(
        "action-question-mark-needs-a-character",
        [allow("bedrock:InvokeModel?", Resource="*")],
        invoke(),
        IMPLICIT,
    ),
    identity(
        "exact-action-does-not-cover-a-longer-action",
        [allow("bedrock:InvokeModel", Resource="*")],
        invoke(action="bedrock:InvokeModelWithResponseStream"),
        IMPLICIT,
    ),
    identity("action-star-alone-matches-everything", [allow("*", Resource="*")], invoke(), ALLOW),
    identity(
        "allow-not-action-covers-other-actions",
        [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
        invoke(),
        ALLOW,
    ),
    identity(
        "allow-not-action-excludes-the-listed-action",
        [{"Effect": "Allow", "NotAction": "bedrock:Invoke*", "Resource": "*"}],
        invoke(),
        IMPLICIT,
    ),
    identity(
        "deny-not-action-spares-the-listed-action",
        [allow(Resource="*"), {"Effect": "Deny", "NotAction": "bedrock:*", "Resource": "*"}],
        invoke(),
        ALLOW,
    ),
    identity(
        "deny-not-action-hits-every-other-action",
        [allow("*", Resource="*"), {"Effect": "Deny", "NotAction": "sts:*", "Resource": "*"}],
        invoke(),
        EXPLICIT,
    ),
    # Fail closed: a statement with both Action and NotAction is rejected by IAM;
    # the documentation gives no evaluation for it, so it must never grant.
    identity(
        "action-and-not-action-together-never-allow",
        [{"Effect": "Allow", "Action": "*", "NotAction": "iam:*", "Resource": "*"}],
        invoke(),
        IMPLICIT,
    ),
]

RESOURCE_CASES = [
    identity(
        "resource-matches-exactly",
        [allow(Resource=[TITAN_ARN, HAIKU_ARN])],
        invoke(),
        ALLOW,
    ),
    identity(
        "resource-match-is-case-sensitive",
        [allow(Resource=HAIKU_ARN.upper())],
        invoke(),
        IMPLICIT,
    ),
    identity(
        "resource-star-matches-everything",
        [allow(Resource="*")],
        invoke(GLOBAL_HAIKU_ARN),
        ALLOW,
    ),
    identity(
        "resource-wildcard-spans-colons-inside-the-resource-part",
        [allow(Resource="arn:aws:bedrock:*::foundation-model/anthropic.*")],
        invoke(),
        ALLOW,
    ),
    identity(
        "region-wildcard-matches-an-empty-region",
        [allow(Resource="arn:aws:bedrock:*::foundation-model/*")],
        invoke(GLOBAL_HAIKU_ARN),
        ALLOW,
    ),
    identity(
        "region-prefix-wildcard-matches-its-regions",
        [allow(Resource="arn:aws:bedrock:us-*::foundation-model/*")],
        invoke(),
        ALLOW,
    ),
    identity(
        "region-prefix-wildcard-does-not-match-another-prefix",
        [allow(Resource="arn:aws:bedrock:eu-*::foundation-model/*")],
        invoke(),
        IMPLICIT,
    ),
    identity(
        "empty-account-segment-does-not-match-an-account",
        [allow(Resource=f"arn:aws:bedrock:{REGION}::inference-profile/*")],
        invoke(PROFILE_ARN),
        IMPLICIT,
    ),
    identity(
        "account-segment-does-not-match-an-empty-account",
        [allow(Resource=f"arn:aws:bedrock:*:{OPS}:foundation-model/*")],
        invoke(),
        IMPLICIT,
    ),
    identity(
        "account-wildcard-matches-any-account",
        [allow(Resource="arn:aws:bedrock:*:*:inference-profile/*")],
        invoke(PROFILE_ARN),
        ALLOW,
    ),
    identity(
        "question-mark-matches-one-character-of-a-segment",
        [allow(Resource="arn:aws:bedrock:us-east-?::foundation-model/*")],
        invoke(),
        ALLOW,
    ),
    # A pattern with fewer than six ARN segments would let '*' swallow the
    # colons of region and account; IAM rejects such resources, so fail closed.
    identity(
        "short-arn-pattern-wildcard-does-not-cross-segments",
        [allow("sts:AssumeRole", Resource="arn:aws:iam::*")],
        invoke(INVOKER_ROLE, action="sts:AssumeRole"),
        IMPLICIT,
    ),
    identity(
        "cross-partition-resource-does-not-match",
        [allow(Resource=HAIKU_ARN.replace("arn:aws:", "arn:aws-cn:"))],
        invoke(),
        IMPLICIT,
    ),
    identity(
        "allow-not-resource-covers-other-resources",
        [allow(NotResource=TITAN_ARN)],
        invoke(),
        ALLOW,
    ),
    identity(
        "allow-not-resource-excludes-the-listed-resource",
        [allow(NotResource="arn:aws:bedrock:*::foundation-model/anthropic.*")],
        invoke(),
        IMPLICIT,
    ),
    identity(
        "deny-not-resource-hits-other-resources",
        [allow(Resource="*"), deny(NotResource=TITAN_ARN)],
        invoke(),
        EXPLICIT,
    ),
    identity(
        "deny-not-resource-spares-the-listed-resource",
        [allow(Resource="*"), deny(NotResource=HAIKU_ARN)],
        invoke(),
        ALLOW,
    ),
    identity(
        "identity-allow-without-resource-never-allows",
        [allow()],
        invoke(),
        IMPLICIT,
    ),
    # Fail closed: IAM rejects an identity statement without Resource; a Deny
    # shaped like that must still deny rather than vanish.
    identity(
        "identity-deny-without-resource-still-denies",
        [allow(Resource="*"), deny()],
        invoke(),
        EXPLICIT,
    ),
]

PRINCIPAL_CASES = [
    trust(
        "account-id-principal-matches-a-session-in-the-account",
        [allow("sts:AssumeRole", Principal={"AWS": ACME})],
        assume(),
        ALLOW,
    ),
    trust(
        "account-id-principal-does-not-match-another-account",
        [allow("sts:AssumeRole", Principal={"AWS": ACME})],
        assume(GLOBEX_SESSION),
        IMPLICIT,
    ),
    trust(
        "root-arn-principal-matches-a-user-in-the-account",
        [allow("sts:AssumeRole", Principal={"AWS": ACME_ROOT_ARN})],
        assume(BOB),
        ALLOW,
    ),
    trust(
        "root-arn-principal-matches-the-root-user",
        [allow("sts:AssumeRole", Principal={"AWS": ACME_ROOT_ARN})],
        assume(ACME_ROOT),
        ALLOW,
    ),
    trust(
        "root-arn-principal-does-not-match-a-service",
        [allow("sts:AssumeRole", Principal={"AWS": ACME_ROOT_ARN})],
        assume(LAMBDA),
        IMPLICIT,
    ),
    trust(
        "role-arn-principal-matches-its-sessions",
        [allow("sts:AssumeRole", Principal={"AWS": ACME_ROLE})],
        assume(ACME_OTHER_SESSION),
        ALLOW,
    ),
    trust(
        "role-arn-principal-does-not-match-another-role-in-the-account",
        [allow("sts:AssumeRole", Principal={"AWS": ACME_ROLE})],
        assume(ACME_ADMIN_SESSION),
        IMPLICIT,
    ),
    trust(
        "session-arn-principal-matches-that-session",
        [allow("sts:AssumeRole", Principal={"AWS": [ACME_SESSION_ARN]})],
        assume(),
        ALLOW,
    ),
    trust(
        "session-arn-principal-does-not-match-another-session-of-the-role",
        [allow("sts:AssumeRole", Principal={"AWS": ACME_SESSION_ARN})],
        assume(ACME_OTHER_SESSION),
        IMPLICIT,
    ),
    trust(
        "user-arn-principal-matches-that-user",
        [allow("sts:AssumeRole", Principal={"AWS": BOB_ARN})],
        assume(BOB),
        ALLOW,
    ),
    trust(
        "user-arn-principal-does-not-match-a-role-session",
        [allow("sts:AssumeRole", Principal={"AWS": BOB_ARN})],
        assume(),
        IMPLICIT,
    ),
    trust(
        "service-principal-matches-that-service",
        [allow("sts:AssumeRole", Principal={"Service": ["lambda.amazonaws.com"]})],
        assume(LAMBDA),
        ALLOW,
    ),
    trust(
        "service-principal-does-not-match-another-service",
        [allow("sts:AssumeRole", Principal={"Service": "ec2.amazonaws.com"})],
        assume(LAMBDA),
        IMPLICIT,
    ),
    trust(
        "service-principal-does-not-match-a-role-session",
        [allow("sts:AssumeRole", Principal={"Service": "lambda.amazonaws.com"})],
        assume(),
        IMPLICIT,
    ),
    trust(
        "star-principal-matches-a-session",
        [allow("sts:AssumeRole", Principal="*")],
        assume(),
        ALLOW,
    ),
    trust(
        "star-principal-matches-a-service",
        [allow("sts:AssumeRole", Principal="*")],
        assume(LAMBDA),
        ALLOW,
    ),
    trust(
        "aws-star-principal-matches-a-session",
        [allow("sts:AssumeRole", Principal={"AWS": "*"})],
        assume(GLOBEX_SESSION),
        ALLOW,
    ),
    trust(
        "wildcard-inside-a-principal-arn-matches-nothing",
        [allow("sts:AssumeRole", Principal={"AWS": f"arn:aws:iam::{ACME}:role/*"})],
        assume(),
        IMPLICIT,
    ),
    # Fail closed: IAM only accepts '*' alone as a wildcard principal; a Deny
    # naming "role/*" is not documented to be ignored, so it denies.
    trust(
        "deny-with-a-wildcard-inside-a-principal-arn-still-denies",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", Principal={"AWS": f"arn:aws:iam::{ACME}:role/*"}),
        ],
        assume(),
        EXPLICIT,
    ),
    trust(
        "cross-partition-root-principal-does-not-match",
        [allow("sts:AssumeRole", Principal={"AWS": f"arn:aws-cn:iam::{ACME}:root"})],
        assume(),
        IMPLICIT,
    ),
    trust(
        "gov-cloud-root-principal-does-not-match-a-user",
        [allow("sts:AssumeRole", Principal={"AWS": f"arn:aws-us-gov:iam::{ACME}:root"})],
        assume(BOB),
        IMPLICIT,
    ),
    trust(
        "aws-root-principal-does-not-match-a-china-partition-caller",
        [allow("sts:AssumeRole", Principal={"AWS": ACME_ROOT_ARN})],
        assume(CN_SESSION),
        IMPLICIT,
    ),
    trust(
        "account-id-principal-stays-in-the-resource-partition",
        [allow("sts:AssumeRole", Principal={"AWS": ACME})],
        assume(CN_SESSION),
        IMPLICIT,
    ),
    trust(
        "cross-partition-role-principal-does-not-match",
        [allow("sts:AssumeRole", Principal={"AWS": CN_SESSION.role_arn})],
        assume(),
        IMPLICIT,
    ),
    trust(
        "federated-principal-does-not-match-a-role-session",
        [allow("sts:AssumeRole", Principal={"Federated": "cognito-identity.amazonaws.com"})],
        assume(),
        IMPLICIT,
    ),
    trust(
        "trust-statement-without-principal-never-allows",
        [allow("sts:AssumeRole")],
        assume(),
        IMPLICIT,
    ),
    # Fail closed: IAM rejects a Principal element in an identity policy, so
    # such a statement must not grant through the identity path.
    identity(
        "identity-statement-with-principal-never-allows",
        [allow(Resource="*", Principal={"AWS": OPS})],
        invoke(),
        IMPLICIT,
    ),
]

NOT_PRINCIPAL_CASES = [
    trust(
        "allow-not-principal-grants-everyone-else",
        [allow("sts:AssumeRole", NotPrincipal={"AWS": f"arn:aws:iam::{GLOBEX}:root"})],
        assume(),
        ALLOW,
    ),
    trust(
        "allow-not-principal-excludes-the-named-role",
        [allow("sts:AssumeRole", NotPrincipal={"AWS": ACME_ROLE})],
        assume(),
        IMPLICIT,
    ),
    trust(
        "allow-not-principal-excludes-the-named-account",
        [allow("sts:AssumeRole", NotPrincipal={"AWS": ACME})],
        assume(),
        IMPLICIT,
    ),
    trust(
        "deny-not-principal-with-role-and-account-exempts-the-session",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": [ACME_ROLE, ACME_ROOT_ARN]}),
        ],
        assume(),
        ALLOW,
    ),
    trust(
        "deny-not-principal-with-session-role-and-account-exempts-the-session",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny(
                "sts:AssumeRole",
                NotPrincipal={"AWS": [ACME_SESSION_ARN, ACME_ROLE, ACME_ROOT_ARN]},
            ),
        ],
        assume(),
        ALLOW,
    ),
    trust(
        "deny-not-principal-naming-only-the-role-does-not-exempt",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": ACME_ROLE}),
        ],
        assume(),
        EXPLICIT,
    ),
    trust(
        "deny-not-principal-naming-only-the-account-does-not-exempt-a-session",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": ACME_ROOT_ARN}),
        ],
        assume(),
        EXPLICIT,
    ),
    trust(
        "deny-not-principal-naming-only-the-account-id-does-not-exempt-a-session",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": ACME}),
        ],
        assume(),
        EXPLICIT,
    ),
    trust(
        "deny-not-principal-naming-only-the-session-does-not-exempt",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": ACME_SESSION_ARN}),
        ],
        assume(),
        EXPLICIT,
    ),
    # Fail closed: the docs say a NotPrincipal missing the role ARN "might"
    # deny the role and so its sessions; without the role it does not exempt.
    trust(
        "deny-not-principal-with-session-and-account-but-no-role-does-not-exempt",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": [ACME_SESSION_ARN, ACME_ROOT_ARN]}),
        ],
        assume(),
        EXPLICIT,
    ),
    trust(
        "deny-not-principal-with-user-and-account-exempts-the-user",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": [BOB_ARN, ACME_ROOT_ARN]}),
        ],
        assume(BOB),
        ALLOW,
    ),
    trust(
        "deny-not-principal-naming-only-the-user-does-not-exempt",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": BOB_ARN}),
        ],
        assume(BOB),
        EXPLICIT,
    ),
    trust(
        "deny-not-principal-naming-the-account-exempts-its-root-user",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": ACME_ROOT_ARN}),
        ],
        assume(ACME_ROOT),
        ALLOW,
    ),
    trust(
        "deny-not-principal-denies-an-unnamed-role-in-the-named-account",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": [ACME_ROLE, ACME_ROOT_ARN]}),
        ],
        assume(ACME_ADMIN_SESSION),
        EXPLICIT,
    ),
    trust(
        "deny-not-principal-from-another-partition-does-not-exempt",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny(
                "sts:AssumeRole",
                NotPrincipal={"AWS": [CN_SESSION.role_arn, f"arn:aws-cn:iam::{ACME}:root"]},
            ),
        ],
        assume(),
        EXPLICIT,
    ),
    trust(
        "deny-not-principal-exempts-the-named-service",
        [
            allow("sts:AssumeRole", Principal={"Service": "lambda.amazonaws.com"}),
            deny("sts:AssumeRole", NotPrincipal={"Service": "lambda.amazonaws.com"}),
        ],
        assume(LAMBDA),
        ALLOW,
    ),
    trust(
        "deny-not-principal-denies-a-service-it-does-not-name",
        [
            allow("sts:AssumeRole", Principal="*"),
            deny("sts:AssumeRole", NotPrincipal={"Service": "ec2.amazonaws.com"}),
        ],
        assume(LAMBDA),
        EXPLICIT,
    ),
    # Fail closed: the docs forbid wildcards for sessions in NotPrincipal and
    # give no meaning to a wildcard exemption, so it exempts nobody.
    trust(
        "deny-not-principal-wildcard-exempts-nobody",
        [
            allow("sts:AssumeRole", Principal={"AWS": ACME}),
            deny("sts:AssumeRole", NotPrincipal={"AWS": "*"}),
        ],
        assume(),
        EXPLICIT,
    ),
]

STRING_CASES = [
    condition("string-equals-match", {"StringEquals": {"k": "v"}}, {"k": "v"}, ALLOW),
    condition("string-equals-mismatch", {"StringEquals": {"k": "v"}}, {"k": "w"}, IMPLICIT),
    condition(
        "string-equals-is-case-sensitive", {"StringEquals": {"k": "v"}}, {"k": "V"}, IMPLICIT
    ),
    condition(
        "string-equals-ors-the-values-of-a-key",
        {"StringEquals": {"k": ["a", "b"]}},
        {"k": "b"},
        ALLOW,
    ),
    condition(
        "string-equals-treats-star-literally",
        {"StringEquals": {"k": "acme-*"}},
        {"k": "acme-1"},
        IMPLICIT,
    ),
    condition("string-equals-on-absent-key-is-false", {"StringEquals": {"k": "v"}}, {}, IMPLICIT),
    condition(
        "string-equals-if-exists-on-absent-key-is-true",
        {"StringEqualsIfExists": {"k": "v"}},
        {},
        ALLOW,
    ),
    condition(
        "string-equals-if-exists-on-present-key-still-compares",
        {"StringEqualsIfExists": {"k": "v"}},
        {"k": "w"},
        IMPLICIT,
    ),
    condition(
        "string-not-equals-different-value", {"StringNotEquals": {"k": "v"}}, {"k": "w"}, ALLOW
    ),
    condition(
        "string-not-equals-same-value", {"StringNotEquals": {"k": "v"}}, {"k": "v"}, IMPLICIT
    ),
    condition(
        "string-not-equals-must-differ-from-every-value",
        {"StringNotEquals": {"k": ["a", "b"]}},
        {"k": "b"},
        IMPLICIT,
    ),
    condition(
        "string-not-equals-on-absent-key-is-true", {"StringNotEquals": {"k": "v"}}, {}, ALLOW
    ),
    condition(
        "string-not-equals-if-exists-on-present-equal-key-is-false",
        {"StringNotEqualsIfExists": {"k": "v"}},
        {"k": "v"},
        IMPLICIT,
    ),
    condition(
        "string-equals-ignore-case-match",
        {"StringEqualsIgnoreCase": {"k": "Acme"}},
        {"k": "aCME"},
        ALLOW,
    ),
    condition(
        "string-not-equals-ignore-case-same-value-other-case",
        {"StringNotEqualsIgnoreCase": {"k": "Acme"}},
        {"k": "ACME"},
        IMPLICIT,
    ),
    condition(
        "string-not-equals-ignore-case-on-absent-key-is-true",
        {"StringNotEqualsIgnoreCase": {"k": "Acme"}},
        {},
        ALLOW,
    ),
    condition("string-like-star", {"StringLike": {"k": "acme-*"}}, {"k": "acme-123"}, ALLOW),
    condition(
        "string-like-question-mark-is-one-character",
        {"StringLike": {"k": "acme-??"}},
        {"k": "acme-123"},
        IMPLICIT,
    ),
    condition("string-like-on-absent-key-is-false", {"StringLike": {"k": "*"}}, {}, IMPLICIT),
    condition(
        "string-like-if-exists-on-absent-key-is-true", {"StringLikeIfExists": {"k": "x"}}, {}, ALLOW
    ),
    condition(
        "string-not-like-matching-value", {"StringNotLike": {"k": "a*"}}, {"k": "abc"}, IMPLICIT
    ),
    condition("string-not-like-on-absent-key-is-true", {"StringNotLike": {"k": "a*"}}, {}, ALLOW),
    condition(
        "condition-keys-are-case-insensitive",
        {"StringEquals": {"STS:EXTERNALID": EXTERNAL_ID}},
        {"sts:ExternalId": EXTERNAL_ID},
        ALLOW,
    ),
    condition(
        "operators-are-anded",
        {"StringEquals": {"a": "1"}, "StringLike": {"b": "x*"}},
        {"a": "1", "b": "y"},
        IMPLICIT,
    ),
    condition(
        "keys-of-one-operator-are-anded",
        {"StringEquals": {"a": "1", "b": "2"}},
        {"a": "1", "b": "3"},
        IMPLICIT,
    ),
    condition(
        "deny-string-not-equals-on-absent-key-denies",
        {"StringNotEquals": {"aws:PrincipalAccount": OPS}},
        {},
        EXPLICIT,
        effect="Deny",
    ),
    # Fail closed: a multivalued key under a single-valued operator has no
    # documented result, so the Allow does not apply.
    condition(
        "multivalued-key-with-single-valued-operator-never-allows",
        {"StringEquals": {"aws:TagKeys": "team"}},
        {"aws:TagKeys": ["team", "secret"]},
        IMPLICIT,
    ),
]

ARN_CASES = [
    condition(
        "arn-equals-match",
        {"ArnEquals": {"aws:PrincipalArn": ACME_ROLE}},
        {"aws:PrincipalArn": ACME_ROLE},
        ALLOW,
    ),
    condition(
        "arn-equals-accepts-wildcards-per-segment",
        {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/bedrock-caller-*"}},
        {"aws:PrincipalArn": ACME_ROLE},
        ALLOW,
    ),
    condition(
        "arn-like-account-wildcard-does-not-cross-into-the-resource",
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:bedrock-caller-acme"}},
        {"aws:PrincipalArn": ACME_ROLE},
        IMPLICIT,
    ),
    condition(
        "arn-like-short-pattern-does-not-cross-segments",
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:*"}},
        {"aws:PrincipalArn": ACME_ROLE},
        IMPLICIT,
    ),
    condition(
        "arn-like-partition-wildcard-matches",
        {"ArnLike": {"aws:PrincipalArn": f"arn:*:iam::{ACME}:role/bedrock-caller-acme"}},
        {"aws:PrincipalArn": ACME_ROLE},
        ALLOW,
    ),
    condition(
        "arn-equals-other-partition-does-not-match",
        {"ArnEquals": {"aws:PrincipalArn": CN_SESSION.role_arn}},
        {"aws:PrincipalArn": ACME_ROLE},
        IMPLICIT,
    ),
    condition(
        "arn-equals-is-case-sensitive",
        {"ArnEquals": {"aws:PrincipalArn": ACME_ROLE.upper()}},
        {"aws:PrincipalArn": ACME_ROLE},
        IMPLICIT,
    ),
    condition(
        "arn-equals-on-absent-key-is-false",
        {"ArnEquals": {"aws:PrincipalArn": ACME_ROLE}},
        {},
        IMPLICIT,
    ),
    condition(
        "arn-like-if-exists-on-absent-key-is-true",
        {"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:lambda:*:*:function:*"}},
        {},
        ALLOW,
    ),
    condition(
        "arn-not-equals-on-absent-key-is-true",
        {"ArnNotEquals": {"aws:SourceArn": ACME_ROLE}},
        {},
        ALLOW,
    ),
    condition(
        "arn-not-like-matching-value-is-false",
        {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACME}:role/*"}},
        {"aws:PrincipalArn": ACME_ROLE},
        IMPLICIT,
    ),
    # Fail closed: comparing an ARN pattern with a value that is no ARN is undocumented.
    condition(
        "arn-equals-with-a-non-arn-value-never-allows",
        {"ArnEquals": {"aws:PrincipalArn": ACME_ROLE}},
        {"aws:PrincipalArn": "bedrock-caller-acme"},
        IMPLICIT,
    ),
]

NUMERIC_CASES = [
    condition(
        "numeric-equals-compares-numbers", {"NumericEquals": {"n": "10"}}, {"n": "10.0"}, ALLOW
    ),
    condition("numeric-equals-mismatch", {"NumericEquals": {"n": 10}}, {"n": "11"}, IMPLICIT),
    condition("numeric-not-equals-differs", {"NumericNotEquals": {"n": "10"}}, {"n": "11"}, ALLOW),
    condition("numeric-not-equals-same", {"NumericNotEquals": {"n": "10"}}, {"n": "10"}, IMPLICIT),
    condition(
        "numeric-not-equals-on-absent-key-is-true", {"NumericNotEquals": {"n": "1"}}, {}, ALLOW
    ),
    condition("numeric-less-than", {"NumericLessThan": {"n": "300"}}, {"n": "299"}, ALLOW),
    condition(
        "numeric-less-than-boundary", {"NumericLessThan": {"n": "300"}}, {"n": "300"}, IMPLICIT
    ),
    condition(
        "numeric-less-than-equals-boundary",
        {"NumericLessThanEquals": {"n": "300"}},
        {"n": "300"},
        ALLOW,
    ),
    condition("numeric-greater-than", {"NumericGreaterThan": {"n": "5"}}, {"n": "4"}, IMPLICIT),
    condition(
        "numeric-greater-than-equals", {"NumericGreaterThanEquals": {"n": "5"}}, {"n": "5"}, ALLOW
    ),
    condition(
        "numeric-less-than-on-absent-key-is-false", {"NumericLessThan": {"n": "5"}}, {}, IMPLICIT
    ),
    condition(
        "numeric-less-than-if-exists-on-absent-key-is-true",
        {"NumericLessThanIfExists": {"n": "5"}},
        {},
        ALLOW,
    ),
    # Fail closed: a value that is not a number has no documented ordering.
    condition(
        "numeric-comparison-with-a-non-number-never-allows",
        {"NumericLessThan": {"n": "5"}},
        {"n": "five"},
        IMPLICIT,
    ),
    condition(
        "numeric-comparison-with-a-non-number-still-denies",
        {"NumericGreaterThan": {"n": "5"}},
        {"n": "five"},
        EXPLICIT,
        effect="Deny",
    ),
]

DATE_CASES = [
    condition(
        "date-less-than-iso",
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2029-12-31T23:59:59Z"},
        ALLOW,
    ),
    condition(
        "date-greater-than-compares-epoch-with-iso",
        {"DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "1704067201"},
        ALLOW,
    ),
    condition(
        "date-equals-same-instant-in-two-formats",
        {"DateEquals": {"aws:TokenIssueTime": "2024-01-01T01:00:00+01:00"}},
        {"aws:TokenIssueTime": "1704067200"},
        ALLOW,
    ),
    condition(
        "date-less-than-equals-boundary",
        {"DateLessThanEquals": {"aws:CurrentTime": "2024-01-01"}},
        {"aws:CurrentTime": "2024-01-01T00:00:00Z"},
        ALLOW,
    ),
    condition(
        "date-greater-than-equals-earlier-is-false",
        {"DateGreaterThanEquals": {"aws:CurrentTime": "2024-01-02T00:00:00Z"}},
        {"aws:CurrentTime": "2024-01-01T00:00:00Z"},
        IMPLICIT,
    ),
    condition(
        "date-not-equals-on-absent-key-is-true",
        {"DateNotEquals": {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}},
        {},
        ALLOW,
    ),
    condition(
        "date-not-equals-same-instant-is-false",
        {"DateNotEquals": {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}},
        {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"},
        IMPLICIT,
    ),
    condition(
        "date-less-than-on-absent-key-is-false",
        {"DateLessThan": {"aws:TokenIssueTime": "2030-01-01T00:00:00Z"}},
        {},
        IMPLICIT,
    ),
    condition(
        "date-greater-than-if-exists-on-absent-key-is-true",
        {"DateGreaterThanIfExists": {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}},
        {},
        ALLOW,
    ),
    # Fail closed: an unparsable date has no documented ordering.
    condition(
        "date-comparison-with-an-invalid-date-never-allows",
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "yesterday"},
        IMPLICIT,
    ),
]

BOOL_IP_NULL_CASES = [
    condition(
        "bool-true-matches",
        {"Bool": {"aws:SecureTransport": "true"}},
        {"aws:SecureTransport": "true"},
        ALLOW,
    ),
    condition(
        "bool-accepts-a-json-boolean",
        {"Bool": {"aws:SecureTransport": True}},
        {"aws:SecureTransport": "true"},
        ALLOW,
    ),
    condition(
        "bool-mismatch",
        {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        {"aws:MultiFactorAuthPresent": "false"},
        IMPLICIT,
    ),
    condition(
        "bool-on-absent-key-is-false",
        {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        {},
        IMPLICIT,
    ),
    condition(
        "bool-if-exists-on-absent-key-is-true",
        {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}},
        {},
        ALLOW,
    ),
    condition(
        "deny-insecure-transport",
        {"Bool": {"aws:SecureTransport": "false"}},
        {"aws:SecureTransport": "false"},
        EXPLICIT,
        effect="Deny",
    ),
    condition(
        "ip-address-inside-cidr",
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "203.0.113.7"},
        ALLOW,
    ),
    condition(
        "ip-address-outside-cidr",
        {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.1"]}},
        {"aws:SourceIp": "198.51.100.2"},
        IMPLICIT,
    ),
    condition(
        "ip-address-single-address",
        {"IpAddress": {"aws:SourceIp": "198.51.100.1"}},
        {"aws:SourceIp": "198.51.100.1"},
        ALLOW,
    ),
    condition(
        "ip-address-ipv6-cidr",
        {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}},
        {"aws:SourceIp": "2001:db8::1"},
        ALLOW,
    ),
    condition(
        "ip-address-on-absent-key-is-false",
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
        {},
        IMPLICIT,
    ),
    condition(
        "not-ip-address-inside-cidr-is-false",
        {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "203.0.113.7"},
        IMPLICIT,
    ),
    condition(
        "not-ip-address-on-absent-key-is-true",
        {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {},
        ALLOW,
    ),
    condition("null-true-on-absent-key", {"Null": {"sts:ExternalId": "true"}}, {}, ALLOW),
    condition(
        "null-true-on-present-key",
        {"Null": {"sts:ExternalId": "true"}},
        {"sts:ExternalId": EXTERNAL_ID},
        IMPLICIT,
    ),
    condition(
        "null-false-on-present-key",
        {"Null": {"sts:ExternalId": False}},
        {"sts:ExternalId": EXTERNAL_ID},
        ALLOW,
    ),
    condition("null-false-on-absent-key", {"Null": {"sts:ExternalId": "false"}}, {}, IMPLICIT),
    condition(
        "deny-when-external-id-is-missing",
        {"Null": {"sts:ExternalId": "true"}},
        {},
        EXPLICIT,
        effect="Deny",
    ),
    # Fail closed: IAM has no NullIfExists operator.
    condition("null-if-exists-is-not-an-operator", {"NullIfExists": {"k": "true"}}, {}, IMPLICIT),
    condition(
        "unsupported-operator-never-allows",
        {"BinaryEquals": {"k": "QmluYXJ5"}},
        {"k": "QmluYXJ5"},
        IMPLICIT,
    ),
    condition(
        "unsupported-operator-always-denies",
        {"BinaryEquals": {"k": "QmluYXJ5"}},
        {"k": "other"},
        EXPLICIT,
        effect="Deny",
    ),
]

SET_CASES = [
    condition(
        "for-all-values-on-absent-key-is-true",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}},
        {},
        ALLOW,
    ),
    condition(
        "for-any-value-on-absent-key-is-false",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}},
        {},
        IMPLICIT,
    ),
    condition(
        "for-all-values-on-empty-set-is-true",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}},
        {"aws:TagKeys": []},
        ALLOW,
    ),
    condition(
        "for-any-value-on-empty-set-is-false",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}},
        {"aws:TagKeys": []},
        IMPLICIT,
    ),
    condition(
        "for-all-values-every-value-listed",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost"]}},
        {"aws:TagKeys": ["cost", "team"]},
        ALLOW,
    ),
    condition(
        "for-all-values-one-value-unlisted",
        {"ForAllValues:StringLike": {"aws:TagKeys": ["team*"]}},
        {"aws:TagKeys": ["team-a", "secret"]},
        IMPLICIT,
    ),
    condition(
        "for-any-value-one-value-listed",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}},
        {"aws:TagKeys": ["secret", "team"]},
        ALLOW,
    ),
    condition(
        "for-any-value-no-value-listed",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}},
        {"aws:TagKeys": ["secret", "cost"]},
        IMPLICIT,
    ),
    condition(
        "for-any-value-on-a-single-valued-key",
        {"ForAnyValue:StringEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}},
        {"aws:RequestedRegion": "us-west-2"},
        ALLOW,
    ),
    condition(
        "for-all-values-string-not-equals-on-absent-key-is-true",
        {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}},
        {},
        ALLOW,
    ),
    condition(
        "for-any-value-string-not-equals-on-absent-key-is-false",
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret"]}},
        {},
        IMPLICIT,
    ),
    condition(
        "for-all-values-string-not-equals-with-a-forbidden-value",
        {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}},
        {"aws:TagKeys": ["team", "secret"]},
        IMPLICIT,
    ),
    condition(
        "for-any-value-string-not-equals-with-one-other-value",
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret"]}},
        {"aws:TagKeys": ["team", "secret"]},
        ALLOW,
    ),
    condition(
        "deny-for-any-value-string-like-hits",
        {"ForAnyValue:StringLike": {"dynamodb:Attributes": ["ID", "Post*"]}},
        {"dynamodb:Attributes": ["UserName", "PostDateTime"]},
        EXPLICIT,
        effect="Deny",
    ),
    condition(
        "deny-for-any-value-on-absent-key-does-not-deny",
        {"ForAnyValue:StringLike": {"dynamodb:Attributes": ["ID"]}},
        {},
        ALLOW,
        effect="Deny",
    ),
    # Fail closed: IAM does not combine set operators with Null.
    condition(
        "set-operator-with-null-is-not-an-operator",
        {"ForAllValues:Null": {"aws:TagKeys": "true"}},
        {},
        IMPLICIT,
    ),
]

VARIABLE_CASES = [
    identity(
        "resource-variable-resolves-from-the-context",
        [allow("s3:GetObject", Resource=f"{BUCKET}/${{aws:username}}/*")],
        invoke(f"{BUCKET}/bob/notes.txt", {"aws:username": "bob"}, action="s3:GetObject"),
        ALLOW,
    ),
    identity(
        "resource-variable-does-not-match-another-users-path",
        [allow("s3:GetObject", Resource=f"{BUCKET}/${{aws:username}}/*")],
        invoke(f"{BUCKET}/alice/notes.txt", {"aws:username": "bob"}, action="s3:GetObject"),
        IMPLICIT,
    ),
    identity(
        "unknown-variable-in-resource-never-matches",
        [allow("s3:GetObject", Resource=f"{BUCKET}/${{aws:username}}/*")],
        invoke(f"{BUCKET}/bob/notes.txt", action="s3:GetObject"),
        IMPLICIT,
    ),
    identity(
        "unknown-variable-in-not-resource-never-allows",
        [allow("s3:GetObject", NotResource=f"{BUCKET}/${{aws:username}}/*")],
        invoke(f"{BUCKET}/bob/notes.txt", action="s3:GetObject"),
        IMPLICIT,
    ),
    condition(
        "unknown-variable-makes-string-not-equals-false",
        {"StringNotEquals": {"sts:ExternalId": "${aws:PrincipalTag/external-id}"}},
        {"sts:ExternalId": EXTERNAL_ID},
        IMPLICIT,
    ),
    condition(
        "unknown-variable-makes-string-not-like-false",
        {"StringNotLike": {"s3:prefix": "${aws:username}/*"}},
        {"s3:prefix": "alice/x"},
        IMPLICIT,
    ),
    # Fail closed: the docs say an unresolvable variable makes the statement
    # "invalid" without saying what an invalid Deny does; it still denies.
    condition(
        "unknown-variable-in-a-deny-still-denies",
        {"StringNotEquals": {"s3:prefix": "${aws:username}"}},
        {"s3:prefix": "alice"},
        EXPLICIT,
        effect="Deny",
    ),
    condition(
        "multivalued-key-as-variable-never-matches",
        {"StringEquals": {"k": "${aws:TagKeys}"}},
        {"k": "team", "aws:TagKeys": ["team"]},
        IMPLICIT,
    ),
    identity(
        "variable-default-applies-when-the-key-is-absent",
        [allow("s3:GetObject", Resource=f"{BUCKET}/${{aws:userid, 'anonymous'}}/*")],
        invoke(f"{BUCKET}/anonymous/readme", action="s3:GetObject"),
        ALLOW,
    ),
    identity(
        "variable-default-is-ignored-when-the-key-is-present",
        [allow("s3:GetObject", Resource=f"{BUCKET}/${{aws:userid, 'anonymous'}}/*")],
        invoke(f"{BUCKET}/anonymous/readme", {"aws:userid": "AIDAEXAMPLE"}, action="s3:GetObject"),
        IMPLICIT,
    ),
    condition(
        "variable-default-in-a-condition",
        {"StringEquals": {"s3:prefix": "${aws:username, 'guest'}"}},
        {"s3:prefix": "guest"},
        ALLOW,
    ),
    condition(
        "escaped-star-is-a-literal-star-not-a-wildcard",
        {"StringLike": {"s3:prefix": "home/${*}"}},
        {"s3:prefix": "home/anything"},
        IMPLICIT,
    ),
    condition(
        "escaped-star-matches-a-literal-star",
        {"StringLike": {"s3:prefix": "home/${*}"}},
        {"s3:prefix": "home/*"},
        ALLOW,
    ),
    condition(
        "escaped-question-mark-is-not-a-wildcard",
        {"StringLike": {"s3:prefix": "file${?}"}},
        {"s3:prefix": "fileX"},
        IMPLICIT,
    ),
    condition(
        "escaped-question-mark-matches-a-literal-question-mark",
        {"StringLike": {"s3:prefix": "file${?}"}},
        {"s3:prefix": "file?"},
        ALLOW,
    ),
    condition(
        "escaped-dollar-is-a-literal-dollar",
        {"StringEquals": {"s3:prefix": "cost${$}"}},
        {"s3:prefix": "cost$"},
        ALLOW,
    ),
    identity(
        "escaped-star-in-a-resource-is-literal",
        [allow("s3:GetObject", Resource=f"{BUCKET}/${{*}}")],
        invoke(f"{BUCKET}/anything", action="s3:GetObject"),
        IMPLICIT,
    ),
    # Fail closed: the docs do not say whether wildcard characters inside a
    # substituted value act as wildcards; treating them as literal never widens an Allow.
    identity(
        "wildcards-inside-a-variable-value-are-literal",
        [allow("s3:GetObject", Resource=f"{BUCKET}/${{aws:username}}/*")],
        invoke(f"{BUCKET}/alice/notes.txt", {"aws:username": "*"}, action="s3:GetObject"),
        IMPLICIT,
    ),
    # Documented: variables may only replace the resource part, after the fifth colon.
    identity(
        "variable-before-the-resource-part-never-matches",
        [allow("sts:AssumeRole", Resource="arn:aws:iam::${aws:PrincipalAccount}:role/*")],
        invoke(INVOKER_ROLE, {"aws:PrincipalAccount": OPS}, action="sts:AssumeRole"),
        IMPLICIT,
    ),
    Case(
        "without-version-2012-10-17-variables-are-literal-text",
        (document(allow("s3:GetObject", Resource=f"{BUCKET}/${{aws:username}}/*"), version=None),),
        invoke(f"{BUCKET}/bob/notes.txt", {"aws:username": "bob"}, action="s3:GetObject"),
        IMPLICIT,
    ),
    Case(
        "without-version-2012-10-17-the-literal-text-matches",
        (
            document(
                allow("s3:GetObject", Resource=f"{BUCKET}/${{aws:username}}/*"),
                version="2008-10-17",
            ),
        ),
        invoke(f"{BUCKET}/${{aws:username}}/x", {"aws:username": "bob"}, action="s3:GetObject"),
        ALLOW,
    ),
    condition(
        "variables-are-not-substituted-in-numeric-conditions",
        {"NumericLessThan": {"n": "${aws:limit}"}},
        {"n": "1", "aws:limit": "5"},
        IMPLICIT,
    ),
]

# The shapes the product deploys: these must keep allowing what AWS allows.
PRODUCT_TRUST = allow(
    "sts:AssumeRole",
    Principal={"AWS": ACME_ROOT_ARN},
    Condition={
        "StringEquals": {"sts:ExternalId": EXTERNAL_ID, "sts:RoleSessionName": "acme"},
        "ArnEquals": {"aws:PrincipalArn": ACME_ROLE},
    },
)
PRODUCT_TRUST_CONTEXT = {
    "sts:ExternalId": EXTERNAL_ID,
    "sts:RoleSessionName": "acme",
    "aws:PrincipalArn": ACME_ROLE,
    "aws:PrincipalAccount": ACME,
}
PRODUCT_MODEL_ACCESS = [
    allow(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], Resource=PROFILE_ARN),
    allow(
        ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
        Resource=HAIKU_ARN,
        Condition={"StringEquals": {"bedrock:InferenceProfileArn": [PROFILE_ARN]}},
    ),
    allow(
        ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
        Resource=GLOBAL_HAIKU_ARN,
        Condition={
            "StringEquals": {
                "aws:RequestedRegion": "unspecified",
                "bedrock:InferenceProfileArn": [PROFILE_ARN],
            }
        },
    ),
]
PRODUCT_CASES = [
    trust(
        "product-trust-admits-the-tenant-caller",
        [PRODUCT_TRUST],
        assume(context=PRODUCT_TRUST_CONTEXT),
        ALLOW,
    ),
    trust(
        "product-trust-rejects-another-session-name",
        [PRODUCT_TRUST],
        assume(context={**PRODUCT_TRUST_CONTEXT, "sts:RoleSessionName": "admin"}),
        IMPLICIT,
    ),
    trust(
        "product-trust-rejects-another-role-in-the-tenant-account",
        [PRODUCT_TRUST],
        assume(
            ACME_ADMIN_SESSION,
            {**PRODUCT_TRUST_CONTEXT, "aws:PrincipalArn": ACME_ADMIN_SESSION.role_arn},
        ),
        IMPLICIT,
    ),
    trust(
        "product-trust-rejects-another-tenant",
        [PRODUCT_TRUST],
        assume(
            GLOBEX_SESSION,
            {
                **PRODUCT_TRUST_CONTEXT,
                "aws:PrincipalArn": GLOBEX_SESSION.role_arn,
                "aws:PrincipalAccount": GLOBEX,
            },
        ),
        IMPLICIT,
    ),
    identity(
        "product-policy-allows-its-inference-profile",
        PRODUCT_MODEL_ACCESS,
        invoke(PROFILE_ARN, {"aws:RequestedRegion": REGION}),
        ALLOW,
    ),
    identity(
        "product-policy-allows-the-model-through-its-profile",
        PRODUCT_MODEL_ACCESS,
        invoke(
            HAIKU_ARN, {"aws:RequestedRegion": REGION, "bedrock:InferenceProfileArn": PROFILE_ARN}
        ),
        ALLOW,
    ),
    identity(
        "product-policy-allows-the-global-model-through-its-profile",
        PRODUCT_MODEL_ACCESS,
        invoke(
            GLOBAL_HAIKU_ARN,
            {"aws:RequestedRegion": "unspecified", "bedrock:InferenceProfileArn": PROFILE_ARN},
            action="bedrock:InvokeModelWithResponseStream",
        ),
        ALLOW,
    ),
    identity(
        "product-policy-rejects-the-model-called-directly",
        PRODUCT_MODEL_ACCESS,
        invoke(HAIKU_ARN, {"aws:RequestedRegion": REGION}),
        IMPLICIT,
    ),
    identity(
        "product-policy-rejects-the-global-model-in-a-named-region",
        PRODUCT_MODEL_ACCESS,
        invoke(
            GLOBAL_HAIKU_ARN,
            {"aws:RequestedRegion": REGION, "bedrock:InferenceProfileArn": PROFILE_ARN},
        ),
        IMPLICIT,
    ),
]

CASES = [
    *EVALUATION_CASES,
    *ACTION_CASES,
    *RESOURCE_CASES,
    *PRINCIPAL_CASES,
    *NOT_PRINCIPAL_CASES,
    *STRING_CASES,
    *ARN_CASES,
    *NUMERIC_CASES,
    *DATE_CASES,
    *BOOL_IP_NULL_CASES,
    *SET_CASES,
    *VARIABLE_CASES,
    *PRODUCT_CASES,
]


def test_case_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_evaluator_decides_like_iam(case: Case) -> None:
    verdict = evaluate(case.policies, case.request, resource_policy=case.resource_policy)
    assert verdict.decision is case.expected
