"""One pass of the enforcer: for each limited tenant, read, decide, apply and audit."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from contracts.limits import decide
from enforcement.audit import AuditLog
from enforcement.meter import CloudWatchMeter, MeterUnavailable
from enforcement.restrictions import OperationsAccount
from enforcement.settings import EnforcerSettings


class EnforcementFailed(Exception):
    """Some tenants could not be enforced; raised after every other tenant was, so the
    function's Errors metric (and its alarm) sees it."""


class LimitEnforcer:
    """Reads every limited tenant's meter and applies what ``contracts.limits.decide`` says."""

    def __init__(
        self,
        *,
        settings: EnforcerSettings,
        account: OperationsAccount,
        meter: CloudWatchMeter,
        audit: AuditLog,
        log: Callable[[str], None] = print,
    ) -> None:
        self._settings = settings
        self._account = account
        self._meter = meter
        self._audit = audit
        self._log = log

    def run(self, now: datetime) -> list[dict[str, Any]]:
        """One pass at ``now`` (the scheduled event's time); returns the audit records written."""
        plans, missing = self._account.plans(self._settings.tenant_ids)
        for tenant in missing:
            self._log(
                json.dumps(
                    {
                        "level": "WARNING",
                        "tenant": tenant,
                        "message": "no plan yet: its operations stack is not deployed",
                    }
                )
            )
        start = len(self._audit.records)
        failures: list[str] = []
        for plan in plans:
            try:
                try:
                    counts = self._meter.read(plan, now)
                except MeterUnavailable as exc:
                    self._log(
                        json.dumps(
                            {
                                "level": "ERROR",
                                "tenant": plan.tenant_id,
                                "message": f"meter unavailable: {exc}",
                            }
                        )
                    )
                    counts = None
                applied = self._account.applied(plan.tenant_id)
                actions = decide(
                    plan,
                    counts,
                    applied,
                    now,
                    fail_closed_on_meter_outage=self._settings.fail_closed_on_meter_outage,
                )
                for action in actions:
                    done = self._account.apply(action, plan, now)
                    self._audit.record(action, at=now, applied=done)
            except Exception as exc:  # one tenant's failure must not spare the others
                failures.append(plan.tenant_id)
                self._log(
                    json.dumps(
                        {
                            "level": "ERROR",
                            "tenant": plan.tenant_id,
                            "message": f"{type(exc).__name__}: {exc}",
                        }
                    )
                )
        if failures:
            raise EnforcementFailed(f"could not enforce the limits of: {', '.join(failures)}")
        return self._audit.records[start:]
