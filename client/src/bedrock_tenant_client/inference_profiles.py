"""Where a tenant's application inference profiles are: read from its operations account.

Bedrock generates a profile's ARN when the operations stack creates it, so no
template of the tenant's own account can carry it. The operations stack writes
the ARNs (a JSON map model id -> ARN) to one SSM parameter per tenant
(``naming.inference_profiles_parameter_name``), which only that tenant's invoker
role may read. The function reads it with the credentials it already assumes,
on the first call that needs a profile, and keeps it for the container. A
model missing from what was read (added since) reads the parameter once more,
at most every ``REFRESH_AFTER_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bedrock_tenant_client.operations_parameter import NOT_FOUND, OperationsParameter
from contracts import naming
from contracts.model_access import APPLICATION_PROFILE_ARN_RE

REFRESH_AFTER_SECONDS = 30.0


class InferenceProfileDirectoryError(Exception):
    """The parameter exists but does not hold a map of model ids to profile ARNs."""


class InferenceProfileDirectory:
    """The tenant's profile ARNs by model id, read once and kept for the container.

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
            naming.inference_profiles_parameter_name(tenant_id), ssm_client
        )
        self.parameter_name = self._parameter.name
        self._clock = clock
        self._arns: dict[str, str] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def arn_for(self, model_id: str) -> str | None:
        """The profile ARN for ``model_id``, or None if the operations account has none."""
        with self._lock:
            stale = self._clock() - self._read_at >= REFRESH_AFTER_SECONDS
            if self._arns is None or (model_id not in self._arns and stale):
                self._arns = self._read()
                self._read_at = self._clock()
            return self._arns.get(model_id)

    def drop(self) -> None:
        """Forget what was read (a restored SnapStart snapshot reads it afresh)."""
        with self._lock:
            self._arns = None
            self._parameter.drop()

    def _read(self) -> dict[str, str]:
        arns = self._parameter.read(InferenceProfileDirectoryError)
        if arns is NOT_FOUND:
            return {}
        if not isinstance(arns, dict) or not all(
            isinstance(m, str) and isinstance(a, str) and APPLICATION_PROFILE_ARN_RE.fullmatch(a)
            for m, a in arns.items()
        ):
            raise InferenceProfileDirectoryError(
                f"{self.parameter_name}: not a map of model ids to application inference "
                "profile ARNs"
            )
        return arns
