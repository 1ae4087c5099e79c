"""The enforcer's audit trail: one JSON line per action in its own log group, never content.

Each line is also an EMF record, so CloudWatch counts the actions and the meter
outages (``ENFORCER_METRICS_NAMESPACE``) without a PutMetricData permission; the
construct alarms on ``MeterUnavailable``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from contracts.limits import (
    ENFORCER_ACTIONS_METRIC,
    ENFORCER_METRICS_NAMESPACE,
    METER_UNAVAILABLE_METRIC,
    Action,
    ActionKind,
)

AUDIT_SOURCE = "bedrock-limit-enforcer"


def audit_record(action: Action, *, at: datetime, applied: bool) -> dict[str, Any]:
    """The audit record of one action: tenant, rule, figures, what was done; no content."""
    metric = (
        METER_UNAVAILABLE_METRIC
        if action.kind is ActionKind.METER_UNAVAILABLE
        else ENFORCER_ACTIONS_METRIC
    )
    return {
        "audit": AUDIT_SOURCE,
        "at": at.isoformat(),
        "tenant": action.tenant_id,
        "action": action.kind.value,
        "applied": applied,
        "rule": action.rule,
        "period": action.period,
        "reason": action.reason,
        **{k: v for k, v in action.figures.items() if k not in {"audit", "tenant", "action"}},
        "_aws": {
            "Timestamp": int(at.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": ENFORCER_METRICS_NAMESPACE,
                    "Dimensions": [[]],
                    "Metrics": [{"Name": metric, "Unit": "Count"}],
                }
            ],
        },
        metric: 1,
    }


class AuditLog:
    """Prints each record as one JSON line: Lambda delivers it to the enforcer's log group."""

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self._write = write
        self.records: list[dict[str, Any]] = []

    def record(self, action: Action, *, at: datetime, applied: bool) -> dict[str, Any]:
        """Write one action's record; returns it."""
        record = audit_record(action, at=at, applied=applied)
        self._write(json.dumps(record, ensure_ascii=False))
        self.records.append(record)
        return record
