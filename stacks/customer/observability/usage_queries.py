"""Saved Logs Insights queries over the tenant's usage log group.

They read the records' plain fields (``contracts.usage_record``), not the
metrics. Counting follows the record's own rules: the timeout watchdog's
provisional record (``"provisional": true``) is left out of usage sums and
counts, because the call's real record, when there is one, carries the usage;
the errors query keeps it, since an invocation Lambda killed at its timeout has
no other record. No query selects ``prompt`` or ``response``.

The queries do not depend on the tenant, so each ``QueryString`` is made once
per process (``cache``) and shared by every tenant's stack: each is an object in
the jsii kernel, and a fleet synth would otherwise make five per tenant.
"""

from __future__ import annotations

from functools import cache

from aws_cdk import aws_logs as logs
from constructs import Construct

from contracts import naming
from contracts.usage_record import USAGE_EVENT

USAGE_RECORDS = f'event = "{USAGE_EVENT}"'
# Only provisional records carry the key, so its absence marks every other record.
NOT_PROVISIONAL = "not ispresent(provisional)"

_USAGE_SUMS = (
    "count(*) as calls, sum(input_tokens) as tokens_in, sum(output_tokens) as tokens_out, "
    "sum(cache_read_input_tokens) as cache_read, sum(cache_write_input_tokens) as cache_write, "
    "sum(total_tokens) as tokens, sum(cost_usd) as usd"
)


@cache
def usage_by(field: str, *, limit: int) -> logs.QueryString:
    """Calls, tokens (in, out, cache, total) and cost per ``field``, most tokens first."""
    return logs.QueryString(
        filter_statements=[USAGE_RECORDS, NOT_PROVISIONAL],
        stats_statements=[f"{_USAGE_SUMS} by {field}"],
        sort="tokens desc",
        limit=limit,
    )


@cache
def top_users_by_tokens(limit: int = 10) -> logs.QueryString:
    """The users with the most tokens in the time range (the dashboard's table)."""
    return usage_by("user_id", limit=limit)


@cache
def errors(limit: int = 100) -> logs.QueryString:
    """The latest failed calls, provisional (timeout) records included and marked."""
    return logs.QueryString(
        fields=[
            "@timestamp",
            "application_id",
            "user_id",
            "model_id",
            "error_type",
            "error_message",
            "provisional",
            "invocation_id",
        ],
        filter_statements=[USAGE_RECORDS, 'status = "error"'],
        sort="@timestamp desc",
        limit=limit,
    )


@cache
def slowest_calls(limit: int = 50) -> logs.QueryString:
    """The slowest calls: total and Bedrock latency, who made them and their size."""
    return logs.QueryString(
        fields=[
            "@timestamp",
            "latency_ms",
            "bedrock_latency_ms",
            "application_id",
            "user_id",
            "model_id",
            "status",
            "input_tokens",
            "output_tokens",
            "invocation_id",
        ],
        filter_statements=[USAGE_RECORDS, NOT_PROVISIONAL, "ispresent(latency_ms)"],
        sort="latency_ms desc",
        limit=limit,
    )


def saved_queries() -> dict[str, logs.QueryString]:
    """Every saved query by its short name (the last part of its console path)."""
    return {
        "by-application": usage_by("application_id", limit=100),
        "by-user": usage_by("user_id", limit=100),
        "errors": errors(),
        "slowest-calls": slowest_calls(),
    }


class UsageQueries(Construct):
    """The saved queries, under ``bedrock-usage/<tenant>/`` in the Logs Insights console."""

    def __init__(
        self, scope: Construct, id: str, *, tenant_id: str, log_group: logs.ILogGroup
    ) -> None:
        super().__init__(scope, id)
        self.definitions = {
            name: logs.QueryDefinition(
                self,
                # Stable logical ids: from the query's name, never its position.
                name.title().replace("-", ""),
                query_definition_name=naming.saved_query_name(tenant_id, name),
                query_string=query,
                log_groups=[log_group],
            )
            for name, query in saved_queries().items()
        }
