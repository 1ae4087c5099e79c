"""The guardrail every call carries: fixed by the registry, or read from the operations account.

An existing guardrail (``guardrail.identifier`` and ``version``) is a fixed
``GuardrailConfig``. One the operations stack created is a ``GuardrailDirectory``.

Bedrock generates a guardrail's id and numbers its versions when the operations
stack creates them (``guardrail.create`` in the registry), so no template of the
tenant's own account can carry them. The operations stack writes both (JSON
``{"arn", "version"}``) to one SSM parameter per tenant
(``naming.guardrail_parameter_name``), which only that tenant's invoker role may
read. The function reads it with the credentials it already assumes, on the
first call, and again at most every ``REFRESH_AFTER_SECONDS``: a changed
definition publishes a new version, and the role then allows only that one.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bedrock_tenant_client.errors import ExplainedError
from bedrock_tenant_client.operations_parameter import NOT_FOUND, OperationsParameter
from contracts import naming
from contracts.function_environment import FunctionEnvironment
from contracts.model_access import guardrail_arn
from contracts.tenant_settings import GUARDRAIL_VERSION_PATTERN

REFRESH_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class GuardrailConfig:
    """The guardrail every call carries: its ARN and numeric version.

    The trace is asked for ("enabled"): the usage record reads from it whether
    the guardrail intervened and how many text units it assessed (billed).
    """

    arn: str
    version: str

    def current(self) -> GuardrailConfig:
        """The guardrail to send: always this one (an existing guardrail, from the registry)."""
        return self

    @classmethod
    def of_tenant(cls, settings: FunctionEnvironment) -> GuardrailConfig | None:
        """The tenant's existing guardrail as every call names it: its full ARN (an id
        is in the operations account, the invoker role's, and Bedrock's region) and
        version; None without one, or for the one the operations stack created
        (read from there: ``GuardrailDirectory``)."""
        if settings.guardrail is None or settings.guardrail.identifier is None:
            return None
        assert settings.guardrail.version is not None  # the contract requires both
        ops_account = settings.ops_role_arn.split(":")[4]
        arn = guardrail_arn(
            naming.partition_for_region(settings.bedrock_region),
            settings.bedrock_region,
            ops_account,
            settings.guardrail.identifier,
        )
        return cls(arn=arn, version=settings.guardrail.version)

    def request_field(self) -> dict[str, str]:
        """Converse's ``guardrailConfig``."""
        return {
            "guardrailIdentifier": self.arn,
            "guardrailVersion": self.version,
            "trace": "enabled",
        }


class GuardrailUnavailable(ExplainedError):
    """The guardrail the operations stack created for the tenant cannot be read.

    Calling without it would only be refused by the tenant's role; this says what
    to fix instead.
    """


class GuardrailSource(Protocol):
    """Where the guardrail to send comes from: fixed, or read from the operations account."""

    def current(self) -> GuardrailConfig: ...


class GuardrailDirectory:
    """The guardrail the tenant's calls carry, read from its operations account.

    ``ssm_client`` builds the operations-account SSM client when first needed
    (no client, and no call, during init or a SnapStart snapshot).
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        ssm_client: Callable[[], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._parameter = OperationsParameter(
            naming.guardrail_parameter_name(tenant_id), ssm_client
        )
        self.parameter_name = self._parameter.name
        self._clock = clock
        self._config: GuardrailConfig | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> GuardrailConfig:
        """The guardrail to send; GuardrailUnavailable if the parameter says none."""
        with self._lock:
            if self._config is None or self._clock() - self._read_at >= REFRESH_AFTER_SECONDS:
                self._config = self._read()
                self._read_at = self._clock()
            return self._config

    def drop(self) -> None:
        """Forget what was read (a restored SnapStart snapshot reads it afresh)."""
        with self._lock:
            self._config = None
            self._parameter.drop()

    def _read(self) -> GuardrailConfig:
        data = self._parameter.read(GuardrailUnavailable)
        if data is NOT_FOUND:
            raise GuardrailUnavailable(
                f"no guardrail in {self.parameter_name} of the operations account; deploy "
                "the tenant's operations stack (tenantctl deploy --tenant <id>)"
            )
        arn = data.get("arn") if isinstance(data, dict) else None
        version = data.get("version") if isinstance(data, dict) else None
        if not (
            isinstance(arn, str)
            and ":guardrail/" in arn
            and isinstance(version, str)
            and re.fullmatch(GUARDRAIL_VERSION_PATTERN, version)
        ):
            raise GuardrailUnavailable(
                f"{self.parameter_name}: not a guardrail's ARN and numeric version"
            )
        return GuardrailConfig(arn=arn, version=version)
