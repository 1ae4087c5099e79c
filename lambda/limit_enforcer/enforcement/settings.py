"""The enforcer's environment, as ``stacks/operations/limit_enforcer.py`` sets it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

LIMITED_TENANTS = "LIMITED_TENANTS"
FAIL_CLOSED_ON_METER_OUTAGE = "FAIL_CLOSED_ON_METER_OUTAGE"
ALERT_TOPIC_ARN = "ALERT_TOPIC_ARN"


@dataclass(frozen=True)
class EnforcerSettings:
    """Which tenants have a limit, whether a meter outage blocks them, where warnings go."""

    tenant_ids: tuple[str, ...]
    fail_closed_on_meter_outage: bool
    alert_topic_arn: str | None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> EnforcerSettings:
        """Read and check the variables; a missing or malformed one is a ValueError."""
        env = os.environ if env is None else env
        tenants = tuple(t for t in env.get(LIMITED_TENANTS, "").split(",") if t)
        flag = env.get(FAIL_CLOSED_ON_METER_OUTAGE, "false").strip().lower()
        if flag not in {"true", "false"}:
            raise ValueError(f"{FAIL_CLOSED_ON_METER_OUTAGE}: expected true or false, got {flag!r}")
        return cls(tenants, flag == "true", env.get(ALERT_TOPIC_ARN) or None)
