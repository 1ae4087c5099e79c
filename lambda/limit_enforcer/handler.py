"""The limit enforcer (operations account), run every minute by an EventBridge schedule.

Thin: the scheduled event's ``time`` is "now" (so a test, or an operator
re-running a missed minute, drives the clock), then one pass of
``enforcement.run.LimitEnforcer``. Built once per container.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from enforcement.audit import AuditLog
from enforcement.meter import CloudWatchMeter
from enforcement.restrictions import OperationsAccount
from enforcement.run import LimitEnforcer
from enforcement.settings import EnforcerSettings

# Bounded, so a pass always ends well inside the function's timeout.
CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
)


def scheduled_time(event: Mapping[str, Any]) -> datetime:
    """The time of the scheduled event (EventBridge's ``time``, ISO 8601 UTC)."""
    value = event.get("time")
    if not isinstance(value, str):
        raise ValueError("the event has no 'time': invoke with a scheduled event")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@lru_cache(maxsize=1)
def enforcer() -> LimitEnforcer:
    """The enforcer of this container, with its role's clients."""
    settings = EnforcerSettings.from_environment()
    author = str(boto3.client("sts", config=CLIENT_CONFIG).get_caller_identity()["Arn"])
    account = OperationsAccount(
        iam=boto3.client("iam", config=CLIENT_CONFIG),
        ssm=boto3.client("ssm", config=CLIENT_CONFIG),
        sns=boto3.client("sns", config=CLIENT_CONFIG),
        author=author,
        topic_arn=settings.alert_topic_arn,
    )
    return LimitEnforcer(
        settings=settings,
        account=account,
        meter=CloudWatchMeter(boto3.client("cloudwatch", config=CLIENT_CONFIG)),
        audit=AuditLog(),
    )


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Enforce every limited tenant at the event's time; returns the audit records written."""
    now = scheduled_time(event)
    records = enforcer().run(now)
    return {
        "time": now.isoformat(),
        "actions": [{k: v for k, v in r.items() if k != "_aws"} for r in records],
    }
