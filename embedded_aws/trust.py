"""Trust-policy enforcement for ``sts:AssumeRole`` in the embedded cloud.

moto hands out credentials for any role to anyone. This module decides an
AssumeRole call the way IAM does:

1. the target role must exist and its trust policy must allow the caller
   (principal match, conditions such as ``sts:ExternalId`` and
   ``aws:PrincipalArn``), with an explicit ``Deny`` winning;
2. the caller's own identity policies must allow ``sts:AssumeRole`` on the
   role ARN when the caller is in another account, or when the trust policy
   only names the caller's account (``:root``) rather than the caller itself;
   an explicit ``Deny`` in them always wins.

An AWS service caller (the Lambda runner acting as ``lambda.amazonaws.com``)
needs only the trust policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from embedded_aws.iam_policy import (
    Context,
    Decision,
    PolicyDocumentError,
    Principal,
    Request,
    evaluate,
)
from embedded_aws.identity import PARTITION, CallerIdentity, identity_policies

ASSUME_ROLE = "sts:AssumeRole"


class AssumeRoleDenied(Exception):
    """AssumeRole refused; ``str()`` is exactly the message AWS returns."""

    def __init__(self, caller_arn: str, role_arn: str, reason: str) -> None:
        self.caller_arn = caller_arn
        self.role_arn = role_arn
        self.reason = reason  # for logs and tests only; AWS never tells the caller
        super().__init__(
            f"User: {caller_arn} is not authorized to perform: {ASSUME_ROLE} on resource: "
            f"{role_arn}"
        )


@dataclass(frozen=True)
class AssumeRoleCall:
    """The parameters of an AssumeRole call that conditions can see."""

    role_arn: str
    role_session_name: str | None = None
    external_id: str | None = None
    source_identity: str | None = None


def _role_account(role_arn: str) -> str | None:
    parts = role_arn.split(":")
    return parts[4] if len(parts) >= 6 and parts[4].isdigit() else None


def _trust_policy(role_arn: str) -> str | None:
    account = _role_account(role_arn)
    if account is None or account not in iam_backends:
        return None
    try:
        role = iam_backends[account][PARTITION].get_role_by_arn(role_arn)
    except Exception:
        return None
    return str(role.assume_role_policy_document)


def _context(call: AssumeRoleCall, principal: Principal, principal_arn: str | None) -> Context:
    context: dict[str, str | None] = {
        "sts:ExternalId": call.external_id,
        "sts:RoleSessionName": call.role_session_name,
        "sts:SourceIdentity": call.source_identity,
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": principal.account_id,
    }
    if principal.service:
        context["aws:PrincipalServiceName"] = principal.service
    return {k: v for k, v in context.items() if v is not None}


def authorize_assume_role(caller: CallerIdentity, call: AssumeRoleCall) -> None:
    """Raise AssumeRoleDenied unless IAM would let ``caller`` assume ``call.role_arn``."""
    principal = caller.principal
    context = _context(call, principal, caller.principal_arn)
    document = _trust_policy(call.role_arn)
    if document is None:
        raise AssumeRoleDenied(caller.arn, call.role_arn, "role does not exist")
    try:
        trust = evaluate(
            [document],
            Request(ASSUME_ROLE, call.role_arn, principal, context),
            resource_policy=True,
        )
    except PolicyDocumentError as exc:
        raise AssumeRoleDenied(caller.arn, call.role_arn, f"bad trust policy: {exc}") from None
    if trust.decision is not Decision.ALLOW:
        raise AssumeRoleDenied(caller.arn, call.role_arn, f"trust policy: {trust.decision.value}")
    identity = evaluate(
        identity_policies(caller), Request(ASSUME_ROLE, call.role_arn, principal, context)
    )
    if identity.decision is Decision.EXPLICIT_DENY:
        raise AssumeRoleDenied(caller.arn, call.role_arn, "identity policy: explicit deny")
    cross_account = _role_account(call.role_arn) != caller.account_id
    if (cross_account or not trust.principal_named_exactly) and (
        identity.decision is not Decision.ALLOW
    ):
        raise AssumeRoleDenied(caller.arn, call.role_arn, "identity policy: no allow")


def authorize_service_assume_role(service: str, call: AssumeRoleCall) -> None:
    """Raise AssumeRoleDenied unless the role's trust policy names the AWS ``service``."""
    principal = Principal(service=service)
    document = _trust_policy(call.role_arn)
    if document is None:
        raise AssumeRoleDenied(service, call.role_arn, "role does not exist")
    try:
        trust = evaluate(
            [document],
            Request(ASSUME_ROLE, call.role_arn, principal, _context(call, principal, None)),
            resource_policy=True,
        )
    except PolicyDocumentError as exc:
        raise AssumeRoleDenied(service, call.role_arn, f"bad trust policy: {exc}") from None
    if trust.decision is not Decision.ALLOW:
        raise AssumeRoleDenied(service, call.role_arn, f"trust policy: {trust.decision.value}")


@dataclass(frozen=True)
class ServiceCredentials:
    """Temporary credentials an AWS service obtained for a role it runs as."""

    access_key_id: str
    secret_access_key: str
    session_token: str

    def env(self) -> dict[str, str]:
        """The SDK's credential variables."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


def assume_role_as_service(
    service: str, role_arn: str, *, session_name: str, region: str, duration_seconds: int = 3600
) -> ServiceCredentials:
    """Credentials for ``role_arn`` as ``service`` gets them: trust checked, then STS issues.

    The one way the embedded cloud hands a service (Lambda) a role's session;
    the role's trust policy must name the service. Raises AssumeRoleDenied.
    """
    call = AssumeRoleCall(role_arn=role_arn, role_session_name=session_name)
    authorize_service_assume_role(service, call)
    account = _role_account(role_arn)
    assert account is not None  # authorize_service_assume_role found the role
    session = sts_backends[account][PARTITION].assume_role(
        region_name=region,
        role_session_name=session_name,
        role_arn=role_arn,
        policy=None,  # type: ignore[arg-type]  # moto accepts None (no session policy)
        duration=duration_seconds,
        external_id=None,  # type: ignore[arg-type]  # moto accepts None
    )
    return ServiceCredentials(
        session.access_key_id, session.secret_access_key, session.session_token
    )
