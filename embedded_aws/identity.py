"""Who is calling: resolve a SigV4 access key through moto's IAM and STS backends.

moto keeps every access key it issued (IAM users' keys and the temporary keys
of AssumeRole sessions) in the IAM backend of the owning account. This module
turns a key back into a caller identity, with the secret and session token it
was issued with (``embedded_aws.authentication`` verifies the request's
signature with them), and lists the identity policies that apply to it, which
the trust and Bedrock checks then evaluate.

moto's GetSessionToken answers every caller with the same example keys, which
belong to no one; ``issue_session_token`` issues real ones, tied to the calling
user, and this module remembers their token and expiration.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from embedded_aws import clock
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
    def is_user_session(self) -> bool:
        """GetSessionToken's credentials: an IAM user's, for a limited time."""
        return self.kind == "user" and self.expiration is not None

    @property
    def unique_id(self) -> str:
        """GetCallerIdentity's UserId: the user's id, or the role's id and the session name."""
        iam = iam_backends[self.account_id][PARTITION]
        if self.user_name is not None:
            return str(iam.get_user(self.user_name).id)
        role_id = iam.get_role_by_arn(self.role_arn).id if self.role_arn else ""
        return f"{role_id}:{self.session_name}"

    @property
    def principal_arn(self) -> str:
        """``aws:PrincipalArn``: the role ARN for a session, the user ARN for a user."""
        return self.role_arn or self.arn

    def expired(self) -> bool:
        """True when temporary credentials have passed their expiration (by the cloud's clock)."""
        if self.expiration is None:
            return False
        exp = self.expiration
        if exp.tzinfo is None:
            exp = exp.replace(tzinfo=UTC)
        return clock.now() >= exp


@dataclass(frozen=True)
class IssuedCredential:
    """An access key as the cloud issued it: whose it is, its secret, its session token.

    ``session_token`` is None for an IAM user's long-term key; temporary keys
    (AssumeRole, GetSessionToken) are valid only with theirs.
    """

    identity: CallerIdentity
    secret_access_key: str
    session_token: str | None


@dataclass(frozen=True)
class _UserSession:
    session_token: str
    expiration: datetime


# GetSessionToken's keys, by access key id. moto's reset drops the keys
# themselves, so an entry that outlives them resolves to nothing.
_user_sessions: dict[str, _UserSession] = {}
_user_sessions_lock = threading.Lock()


def issued_credential(access_key_id: str) -> IssuedCredential | None:
    """The credential an access key belongs to, or None for a key never issued (or inactive)."""
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
            user_key = next(
                k for k in user.get_all_access_keys() if k.access_key_id == access_key_id
            )
            if user_key.status != "Active":
                return None
            return IssuedCredential(
                CallerIdentity(
                    account_id=account_id, arn=user.arn, kind="user", user_name=user.name
                ),
                user_key.secret_access_key,
                None,
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
            identity = CallerIdentity(
                account_id=account_id,
                arn=session.arn,
                kind="assumed-role",
                role_arn=key.role_arn,
                role_name=role_name,
                session_name=session.session_name,
                expiration=session.expiration,
            )
            return IssuedCredential(identity, session.secret_access_key, session.session_token)
        if key.user_name:
            user = iam.get_user(key.user_name)
            with _user_sessions_lock:
                user_session = _user_sessions.get(access_key_id)
            return IssuedCredential(
                CallerIdentity(
                    account_id=account_id,
                    arn=user.arn,
                    kind="user",
                    user_name=user.name,
                    expiration=user_session.expiration if user_session else None,
                ),
                key.secret_access_key,
                user_session.session_token if user_session else None,
            )
        return None  # a temporary key moto made for no role and no user
    return None


def resolve_access_key(access_key_id: str) -> CallerIdentity | None:
    """The identity an access key belongs to, or None for a key moto never issued."""
    credential = issued_credential(access_key_id)
    return credential.identity if credential is not None else None


@dataclass(frozen=True)
class SessionToken:
    """GetSessionToken's answer: temporary credentials of the calling user."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


def issue_session_token(caller: CallerIdentity, duration: timedelta) -> SessionToken:
    """Temporary credentials that act as ``caller`` (an IAM user) until ``duration`` passes."""
    if caller.user_name is None:
        raise ValueError("only an IAM user's long-term key gets a session token")
    key = iam_backends[caller.account_id][PARTITION].create_temp_access_key()
    # The key acts as its user; it is not in the user's own key list, as on AWS.
    key.user_name = caller.user_name
    issued = _UserSession(secrets.token_urlsafe(96), clock.now() + duration)
    with _user_sessions_lock:
        _user_sessions[key.access_key_id] = issued
    return SessionToken(
        key.access_key_id, key.secret_access_key, issued.session_token, issued.expiration
    )


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
