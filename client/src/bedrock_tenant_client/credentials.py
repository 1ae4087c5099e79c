"""Credentials for the operations account, assumed once per container and refreshed in place.

The Lambda's own (tenant) credentials are the source; the role lives in the
operations account. botocore's refreshable credentials call AssumeRole on first
use and again only inside the refresh window before expiry (15 minutes advisory,
10 minutes mandatory), so warm invocations never pay for STS.

Building the session makes no call: the first AssumeRole happens on the first
use, in an invocation. So a SnapStart snapshot, taken after init, holds no
operations-account credentials; ``OpsCredentials.drop`` returns them to that
state (the after-restore hook calls it, in case anything used them before).
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


class OpsCredentials(DeferredRefreshableCredentials):
    """The operations-account credentials: fetched on first use, refreshed in place.

    Every client built on the session shares this one object, so dropping it
    here reaches all of them.
    """

    def __init__(
        self, *, fetcher: AssumeRoleCredentialFetcher, cache: dict[str, Any], clock: Clock
    ) -> None:
        super().__init__(
            refresh_using=fetcher.fetch_credentials, method="assume-role", time_fetcher=clock
        )
        self._cache = cache

    def drop(self) -> None:
        """Forget the current set and the fetcher's cached response.

        The next signed request calls AssumeRole again. For an execution
        environment restored from a snapshot: whatever it held belongs to the
        environment the snapshot was taken in.
        """
        # The lock botocore's refresh holds: a refresh in flight finishes first.
        with self._refresh_lock:  # type: ignore[attr-defined]
            self._cache.clear()
            # The state DeferredRefreshableCredentials starts in: "never fetched".
            self._access_key = self._secret_key = self._token = None
            self._account_id = None
            self._expiry_time = None
            self._frozen_credentials = None


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
    ``credential_cache`` is the fetcher's own cache (default: a new in-memory
    dict); a caller driving ``clock`` passes one that never hits, as the fetcher
    checks its entries against the wall clock. The session's credentials are an
    ``OpsCredentials`` (``session.get_credentials()``), which nothing fetches yet.
    """
    return assumed_role_session(
        role_arn=role_arn,
        session_name=tenant_id,
        external_id=external_id,
        source_session=source_session,
        clock=clock,
        duration_seconds=duration_seconds,
        credential_cache=credential_cache,
    )


def assumed_role_session(
    *,
    role_arn: str,
    session_name: str,
    external_id: str | None = None,
    source_session: botocore.session.Session | None = None,
    clock: Clock = utc_now,
    duration_seconds: int = MAX_CHAINED_SESSION_SECONDS,
    credential_cache: dict[str, Any] | None = None,
) -> botocore.session.Session:
    """A botocore session acting as ``role_arn``, assumed from ``source_session`` on
    first use and refreshed in place (see ``create_ops_session``)."""
    source = source_session or botocore.session.get_session()
    source_credentials = source.get_credentials()
    if source_credentials is None:
        raise RuntimeError(f"no source credentials to assume {role_arn} with")

    cache: dict[str, Any] = {} if credential_cache is None else credential_cache

    def create_sts_client(service_name: str, **kwargs: Any) -> Any:
        # A bounded STS call: a stuck AssumeRole must not hold the invocation for long.
        return source.create_client(
            service_name,
            config=Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"}),
            **kwargs,
        )

    extra_args: dict[str, Any] = {
        "RoleSessionName": session_name,
        "DurationSeconds": min(duration_seconds, MAX_CHAINED_SESSION_SECONDS),
    }
    if external_id is not None:
        extra_args["ExternalId"] = external_id
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=create_sts_client,
        source_credentials=source_credentials,
        role_arn=role_arn,
        extra_args=extra_args,
        cache=cache,
    )
    credentials = OpsCredentials(fetcher=fetcher, cache=cache, clock=clock)
    session = botocore.session.Session()
    # One loader for both sessions: endpoints.json and the other data files are
    # parsed once per container, not once per session (a cold start's time).
    session.register_component("data_loader", source.get_component("data_loader"))
    # A named profile's settings (region, endpoint URL, retries) carry over; its
    # credentials do not: the assumed ones are installed below.
    profile = source.get_config_variable("profile")
    if profile:
        session.set_config_variable("profile", profile)
    for setting in ("region", "endpoint_url"):
        value = source.get_config_variable(setting)
        if value:
            session.set_config_variable(setting, value)
    # botocore has no public setter for refreshable credentials on a session;
    # this is the documented-by-usage way to install them.
    session._credentials = credentials  # type: ignore[attr-defined]
    return session
