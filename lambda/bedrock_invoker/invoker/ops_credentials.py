"""Credentials for the operations account, assumed once per container and refreshed in place.

The Lambda's own (tenant) credentials are the source; the role lives in the
operations account. botocore's refreshable credentials call AssumeRole on first
use and again only inside the refresh window before expiry (15 minutes advisory,
10 minutes mandatory), so warm invocations never pay for STS.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

# Lambda role -> ops role is role chaining: AWS caps the session at one hour.
MAX_CHAINED_SESSION_SECONDS = 3600

Clock = Callable[[], datetime.datetime]


def utc_now() -> datetime.datetime:
    """The current time, timezone-aware, as botocore's refresh logic expects."""
    return datetime.datetime.now(datetime.UTC)


def create_ops_session(
    *,
    role_arn: str,
    external_id: str,
    tenant_id: str,
    source_session: botocore.session.Session | None = None,
    clock: Clock = utc_now,
    duration_seconds: int = MAX_CHAINED_SESSION_SECONDS,
    credential_cache: dict[str, Any] | None = None,
) -> botocore.session.Session:
    """Build a botocore session acting as ``role_arn`` in the operations account.

    ``source_session`` supplies the credentials that call AssumeRole (default: the
    Lambda's own, from the environment). The session name is the tenant id because
    the operations account's CloudTrail shows it; a user id must never appear there.
    ``credential_cache`` is the fetcher's own cache (botocore's in-memory default);
    a caller driving ``clock`` passes one that never hits, as the fetcher checks
    its entries against the wall clock.
    """
    source = source_session or botocore.session.get_session()
    source_credentials = source.get_credentials()
    if source_credentials is None:
        raise RuntimeError("no source credentials to assume the operations role with")

    def create_sts_client(service_name: str, **kwargs: Any) -> Any:
        # A bounded STS call: a stuck AssumeRole must not hold the invocation for long.
        return source.create_client(
            service_name,
            config=Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"}),
            **kwargs,
        )

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=create_sts_client,
        source_credentials=source_credentials,
        role_arn=role_arn,
        extra_args={
            "RoleSessionName": tenant_id,
            "ExternalId": external_id,
            "DurationSeconds": min(duration_seconds, MAX_CHAINED_SESSION_SECONDS),
        },
        cache=credential_cache,
    )
    credentials = DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials,
        method="assume-role",
        time_fetcher=clock,
    )
    session = botocore.session.Session()
    # botocore has no public setter for refreshable credentials on a session;
    # this is the documented-by-usage way to install them.
    session._credentials = credentials  # type: ignore[attr-defined]
    return session
