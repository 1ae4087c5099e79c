"""Who is calling: resolve a SigV4 access key through moto's IAM and STS backends.

moto keeps every access key it issued (IAM users' keys and the temporary keys
of AssumeRole sessions) in the IAM backend of the owning account. This module
turns a key back into a caller identity and lists the identity policies that
apply to it, which the trust and Bedrock checks then evaluate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from embedded_aws.iam_policy import Principal

PARTITION = "aws"
_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class SigV4Scope:
    """The credential scope of a SigV4 ``Authorization`` header."""

    access_key_id: str
    date: str
    region: str
    service: str


def parse_authorization(header: str | None) -> SigV4Scope | None:
    """Parse ``AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...``."""
    if not header:
        return None
    match = _CREDENTIAL_RE.search(header)
    if match is None:
        return None
    return SigV4Scope(*match.groups())


@dataclass(frozen=True)
class CallerIdentity:
    """The identity behind an access key, as GetCallerIdentity would report it."""

    account_id: str
    arn: str
    kind: str  # "user" or "assumed-role"
    user_name: str | None = None
    role_arn: str | None = None
    role_name: str | None = None
    session_name: str | None = None
    expiration: datetime | None = None

    @property
    def principal(self) -> Principal:
        """The caller as the policy evaluator's ``Principal``."""
        return Principal(account_id=self.account_id, arn=self.arn, role_arn=self.role_arn)

    @property
    def principal_arn(self) -> str:
        """``aws:PrincipalArn``: the role ARN for a session, the user ARN for a user."""
        return self.role_arn or self.arn

    def expired(self) -> bool:
        """True when temporary credentials have passed their expiration."""
        if self.expiration is None:
            return False
        exp = self.expiration
        if exp.tzinfo is None:
            exp = exp.replace(tzinfo=UTC)
        return datetime.now(UTC) >= exp


def resolve_access_key(access_key_id: str) -> CallerIdentity | None:
    """The identity an access key belongs to, or None for a key moto never issued."""
    # list(): moto's backend dicts may grow on another thread while we iterate.
    for account_id, account in list(iam_backends.items()):
        if PARTITION not in account:
            continue
        iam = account[PARTITION]
        key = iam.access_keys.get(access_key_id)
        if key is None:
            user = iam.get_user_from_access_key_id(access_key_id)
            if user is None:
                continue
            return CallerIdentity(
                account_id=account_id, arn=user.arn, kind="user", user_name=user.name
            )
        if key.status != "Active":
            return None
        if key.role_arn:
            session = sts_backends[account_id][PARTITION].get_assumed_role_from_access_key(
                access_key_id
            )
            if session is None:
                return None
            role_name = key.role_arn.rsplit("/", 1)[-1]
            return CallerIdentity(
                account_id=account_id,
                arn=session.arn,
                kind="assumed-role",
                role_arn=key.role_arn,
                role_name=role_name,
                session_name=session.session_name,
                expiration=session.expiration,
            )
        if key.user_name:
            user = iam.get_user(key.user_name)
            return CallerIdentity(
                account_id=account_id, arn=user.arn, kind="user", user_name=user.name
            )
    return None


def _managed_documents(policies: dict[str, object]) -> Iterator[str]:
    for policy in policies.values():
        default = getattr(policy, "default_version_id", None)
        for version in getattr(policy, "versions", []):
            if version.version_id == default and version.document:
                yield version.document


def identity_policies(identity: CallerIdentity) -> list[str]:
    """Inline and attached managed policies of the caller's user (with groups) or role."""
    iam = iam_backends[identity.account_id][PARTITION]
    documents: list[str] = []
    if identity.kind == "assumed-role" and identity.role_arn:
        try:
            role = iam.get_role_by_arn(identity.role_arn)
        except Exception:
            return []
        documents.extend(role.policies.values())
        documents.extend(_managed_documents(dict(role.managed_policies)))
    elif identity.user_name:
        user = iam.get_user(identity.user_name)
        documents.extend(user.policies.values())
        documents.extend(_managed_documents(dict(user.managed_policies)))
        for group in iam.get_groups_for_user(identity.user_name):
            documents.extend(group.policies.values())
            documents.extend(_managed_documents(dict(group.managed_policies)))
    return documents
