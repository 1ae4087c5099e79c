"""``TenantBedrock``: one tenant's Bedrock, for a workload's whole process.

Build it once per process. It holds what every call shares:

- the **workload's own credentials** (``session``: the default chain, a named
  profile, or the tenant's workload role assumed from them with
  ``workload_role_arn``). They write the usage records, into the tenant's own
  usage log group, and never reach Bedrock;
- the **operations-account credentials**: the tenant's invoker role, assumed from
  those with its ExternalId and the tenant id as session name, refreshed in place
  by botocore (``credentials.create_ops_session``, the function's own code);
- the **bedrock-runtime client** on them, the tenant's guardrail and inference
  profiles (``chat.BedrockChat.for_tenant``, as in the function);
- **one usage sink** for every call: a background thread and a spool file
  (``usage.delivery``).

``chat_model()`` gives a LangChain ``ChatBedrockConverse`` for one model and one
caller, whose callback writes one record per call, streamed or not, sync or async.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any, Self

import boto3
import botocore.session
from botocore.config import Config

from bedrock_tenant_client import settings as tenant_settings
from bedrock_tenant_client.api_keys import MAX_KEY_LIFETIME, ShortTermApiKey, short_term_api_key
from bedrock_tenant_client.call_rules import (
    CallRefused,
    resolve_application,
    resolve_max_tokens,
    resolve_model,
    resolve_service_tier,
)
from bedrock_tenant_client.chat import BedrockChat
from bedrock_tenant_client.chat_model import TenantChatModel
from bedrock_tenant_client.credentials import (
    OpsCredentials,
    assumed_role_session,
    create_ops_session,
)
from bedrock_tenant_client.usage.callback import RecordingContext, UsageRecordingCallback
from bedrock_tenant_client.usage.delivery import BackgroundDelivery
from bedrock_tenant_client.usage.record import CallIdentity
from bedrock_tenant_client.usage.spool import Spool
from bedrock_tenant_client.usage.writer import UsageLogWriter
from contracts.pricing import Pricing
from contracts.tenant_settings import ServiceTier
from contracts.usage_metrics import DimensionValues
from contracts.usage_record import DEFAULT_MAX_RECORD_BYTES

# Workload-side session name when the workload role is assumed: what the tenant's
# own CloudTrail shows for the library.
WORKLOAD_SESSION_NAME = "bedrock-tenant-client"
# The writes happen off the callers' path, on the delivery thread: a slow
# CloudWatch Logs is retried there, and what still fails is spooled.
_LOGS_CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3}
)


def default_spool_path(tenant_id: str) -> Path:
    """Where undelivered records wait unless told otherwise: the user's cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bedrock-tenant-client" / tenant_id / "usage-spool.jsonl"


class TenantBedrock:
    """One tenant's Bedrock for this process: credentials, models, the usage sink."""

    def __init__(
        self,
        settings: tenant_settings.TenantSettings,
        *,
        session: boto3.Session | botocore.session.Session | None = None,
        workload_role_arn: str | None = None,
        spool_path: str | Path | None = None,
        application_id: str = "default",
        user_id: str = "unknown",
        region: str | None = None,
    ) -> None:
        """``session``: the workload's own credentials (default: botocore's chain).
        ``workload_role_arn``: assume the tenant's workload role from them first.
        ``application_id`` and ``user_id``: the records' defaults, which
        ``chat_model`` and each call's ``metadata`` override. ``region``: the
        tenant's own region, where its usage log group is (default: the session's,
        else Bedrock's)."""
        self.settings = settings
        own = _botocore_session(session)
        if workload_role_arn is not None:
            own = assumed_role_session(
                role_arn=workload_role_arn,
                session_name=WORKLOAD_SESSION_NAME,
                source_session=own,
            )
        ops_session = create_ops_session(
            role_arn=settings.ops_role_arn,
            external_id=settings.ops_external_id,
            tenant_id=settings.tenant_id,
            source_session=own,
        )
        credentials = ops_session.get_credentials()
        assert isinstance(credentials, OpsCredentials)
        self.credentials: OpsCredentials = credentials
        self._chat = BedrockChat.for_tenant(settings, ops_session)
        self._defaults = (application_id, user_id)
        # The records go with the workload's own credentials, never the assumed ones:
        # a logs client on those would write into the operations account.
        logs = boto3.Session(botocore_session=own).client(
            "logs",
            region_name=region or _tenant_region(own, settings),
            config=_LOGS_CLIENT_CONFIG,
        )
        spool = Spool(
            Path(spool_path) if spool_path is not None else default_spool_path(settings.tenant_id)
        )
        writer = UsageLogWriter(
            logs_client=logs,
            log_group=settings.usage_log_group,
            max_record_bytes=DEFAULT_MAX_RECORD_BYTES,
            undelivered=spool.append,
        )
        self.delivery = BackgroundDelivery(writer, spool)
        self._pricing = Pricing(region=settings.bedrock_region, overrides=settings.price_overrides)
        self._dimensions = DimensionValues(
            models=settings.models, applications=settings.applications
        )

    # Building -----------------------------------------------------------------------------

    @classmethod
    def from_parameter(
        cls,
        tenant_id: str,
        *,
        session: boto3.Session | botocore.session.Session | None = None,
        workload_role_arn: str | None = None,
        region: str | None = None,
        **kwargs: Any,
    ) -> Self:
        """The tenant's settings from the parameter its customer stack wrote, read with
        the workload's own credentials (the workload role's, if given)."""
        own = _botocore_session(session)
        region = region or own.get_config_variable("region")
        if workload_role_arn is not None:
            # Assumed once: the same session reads the settings and serves the calls.
            own = assumed_role_session(
                role_arn=workload_role_arn, session_name=WORKLOAD_SESSION_NAME, source_session=own
            )
        ssm = own.create_client("ssm", region_name=region)
        settings = tenant_settings.from_parameter(tenant_id, ssm_client=ssm)
        return cls(settings, session=own, region=region, **kwargs)

    @classmethod
    def from_registry(cls, path: str | Path, tenant_id: str, **kwargs: Any) -> Self:
        """The tenant's settings from the operators' registry file."""
        return cls(tenant_settings.from_registry(path, tenant_id), **kwargs)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None, **kwargs: Any) -> Self:
        """The tenant's settings as the function's environment variables."""
        return cls(tenant_settings.from_environment(environ), **kwargs)

    # Using --------------------------------------------------------------------------------

    def chat_model(
        self,
        model_id: str | None = None,
        *,
        application_id: str | None = None,
        user_id: str | None = None,
        max_tokens: int | None = None,
        service_tier: str | None = None,
        temperature: float | None = None,
        **model_fields: Any,
    ) -> TenantChatModel:
        """A chat model for ``model_id`` (default: the tenant's default model) whose calls
        each leave one usage record; ``application_id`` and ``user_id`` name the caller
        (a call's ``config={"metadata": {"user_id": ...}}`` overrides them).

        The tenant's rules apply as in the function (``call_rules``): the model
        must be on its allowlist, the application one it lists (if it lists any),
        ``max_tokens`` at most its cap (default: the cap, lowered to the model's own
        limit), ``service_tier`` one of its tiers (default: its first).
        ``CallRefused`` names the argument that breaks one.
        """
        settings = self.settings
        model_id = resolve_model(
            model_id or settings.default_model_id, allowed_models=settings.models
        )
        resolve_application(application_id or self._defaults[0], applications=settings.applications)
        max_tokens = resolve_max_tokens(max_tokens, model_id=model_id, cap=settings.max_tokens)
        try:
            requested_tier = ServiceTier(service_tier) if service_tier is not None else None
        except ValueError:
            raise CallRefused("service_tier", f"'{service_tier}' is not a service tier") from None
        tier = resolve_service_tier(requested_tier, allowed_tiers=settings.service_tiers).value
        callback = UsageRecordingCallback(
            self.recording_context(
                model_id, application_id=application_id, user_id=user_id, service_tier=tier
            )
        )
        fields: dict[str, Any] = {"max_tokens": max_tokens, "service_tier": tier}
        if temperature is not None:
            fields["temperature"] = temperature
        model = self._chat.new_model(
            model_id, model_class=TenantChatModel, callbacks=[callback], **fields, **model_fields
        )
        return model.with_tenant_guardrail(self._chat.guardrail)

    def recording_context(
        self,
        model_id: str | None = None,
        *,
        application_id: str | None = None,
        user_id: str | None = None,
        service_tier: str | None = None,
    ) -> RecordingContext:
        """What a record of this tenant's needs besides the call itself: the sink, who
        called which model (this client's defaults where not given), prices, metric
        dimensions and the content mode. The chat models' callbacks and
        ``api_keys.record_chat_completion`` both record through it."""
        settings = self.settings
        default_application, default_user = self._defaults
        return RecordingContext(
            sink=self.delivery,
            identity=CallIdentity(
                tenant_id=settings.tenant_id,
                application_id=application_id or default_application,
                user_id=user_id or default_user,
                model_id=model_id or settings.default_model_id,
                service_tier=service_tier or settings.service_tiers[0].value,
                guarded=settings.guardrail is not None,
            ),
            dimensions=self._dimensions,
            pricing=self._pricing,
            log_content=settings.log_content,
        )

    def api_key(self, expires_in: datetime.timedelta = MAX_KEY_LIFETIME) -> ShortTermApiKey:
        """A short-term Amazon Bedrock API key acting as the tenant's invoker role, for
        OpenAI-style SDKs (``api_keys``): at most 12 hours, and never past the role's
        session (one hour at most)."""
        return short_term_api_key(
            self.credentials, self.settings.bedrock_region, expires_in=expires_in
        )

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record so far is in the usage log group or the spool."""
        return self.delivery.flush(timeout)

    def close(self) -> None:
        """Deliver or spool what is queued; later records go to the spool directly."""
        self.delivery.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _botocore_session(session: boto3.Session | botocore.session.Session | None) -> Any:
    if session is None:
        return botocore.session.get_session()
    if isinstance(session, boto3.Session):
        return session._session  # boto3 keeps its botocore session here; no public getter
    return session


def _tenant_region(session: botocore.session.Session, settings: Any) -> str:
    # The usage log group is in the tenant's own region: the workload's, where set.
    region = session.get_config_variable("region")
    return str(region or settings.bedrock_region)
