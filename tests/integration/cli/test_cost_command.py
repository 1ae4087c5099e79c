"""``tenantctl cost`` against the embedded cloud's moto server (Cost Explorer GetCostAndUsage).

moto tracks no spend; its API queues the results GetCostAndUsage returns
(``/moto-api/static/ce/cost-and-usage-results``): each new request body takes
the next queued result, and a repeated body gets the same one again.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from contracts.naming import COST_CENTRE_TAG_KEY, TENANT_TAG_KEY
from embedded_aws import process
from tenantctl.cost import (
    TagSource,
    cost_and_usage_request,
    cost_tag_key,
    month_window,
    reconcile,
    summarize_results,
    tag_value,
)
from tests.support.cli_fixtures import USAGE_LOG_GROUP, Cli
from tests.support.usage_samples import record

OPS = "111111111111"
ACME = "222222222222"
NOVEMBER = ("--from", "2026-11-01", "--to", "2026-12-01")


def _group(
    value: str, service: str, amount: str, key: str = f"iamPrincipal/{TENANT_TAG_KEY}"
) -> dict[str, Any]:
    return {
        "Keys": [f"{key}${value}", service],
        "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
    }


def seed_cost_results(cloud: process.RunningCloud, *results: dict[str, Any]) -> None:
    """Queue GetCostAndUsage answers for the operations account."""
    body = json.dumps({"account_id": OPS, "results": list(results)}).encode()
    request = urllib.request.Request(
        f"{cloud.endpoint_url}/moto-api/static/ce/cost-and-usage-results",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


NOVEMBER_RESULT = {
    "ResultsByTime": [
        {
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
            "Total": {},
            "Estimated": True,
            "Groups": [
                _group("acme", "Claude 3 Haiku (Amazon Bedrock Edition)", "1.2345"),
                _group("acme", "Amazon Bedrock", "0.10"),
                _group("", "Amazon Bedrock", "0.05"),
                # Not Bedrock: the invoker roles do nothing else, but other
                # principals' spend comes back grouped under "no tag".
                _group("", "AWS Lambda", "3.00"),
                _group("initech", "Amazon Bedrock", "0.20"),
            ],
        }
    ]
}


def _period(start: str, end: str, *groups: dict[str, Any], **extra: Any) -> dict[str, Any]:
    period = {"TimePeriod": {"Start": start, "End": end}, "Total": {}, "Groups": list(groups),
              "Estimated": False}  # fmt: skip
    return {"ResultsByTime": [period], **extra}


def _cost_json(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("cost", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# Each test asks for its own period: moto answers a request body it has seen
# before with the result it gave then, and the server lives for the module.


def test_cost_explorer_request_groups_by_the_tenant_tag_and_service() -> None:
    request = cost_and_usage_request(
        start=date(2026, 11, 1), end=date(2026, 12, 1), tag_key="iamPrincipal/tenant-id"
    )
    assert request == {
        "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [
            {"Type": "TAG", "Key": "iamPrincipal/tenant-id"},
            {"Type": "DIMENSION", "Key": "SERVICE"},
        ],
    }
    assert cost_tag_key(TENANT_TAG_KEY, TagSource.PRINCIPAL) == "iamPrincipal/tenant-id"
    assert cost_tag_key(COST_CENTRE_TAG_KEY, TagSource.RESOURCE) == "cost-centre"
    assert (tag_value("iamPrincipal/tenant-id$acme"), tag_value("tenant-id$")) == ("acme", "")


def test_cost_splits_the_operations_accounts_bedrock_spend_per_tenant(
    cloud: process.RunningCloud, cli: Cli
) -> None:
    seed_cost_results(cloud, NOVEMBER_RESULT)

    data = _cost_json(cli, *NOVEMBER)

    assert (data["operations_account"], data["tag_key"]) == (OPS, "iamPrincipal/tenant-id")
    # Dollars to the cent, as the table shows them ($1.33).
    assert data["groups"] == [
        {"tenant": "acme", "cost": 1.33, "by_service": {
            "Claude 3 Haiku (Amazon Bedrock Edition)": 1.23, "Amazon Bedrock": 0.1}},
        {"tenant": "globex", "cost": 0.0, "by_service": {}},
        {"tenant": "initech", "cost": 0.2, "by_service": {"Amazon Bedrock": 0.2}},
    ]  # fmt: skip
    # Lambda's $3.00 is not Bedrock spend.
    assert (data["untagged"], data["total"]) == (0.05, 1.58)
    assert data["estimated"] is True

    table = cli("cost", *NOVEMBER)  # the same request: moto repeats its answer
    assert table.exit_code == 0, table.output
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines()
            if line.startswith("│")}  # fmt: skip
    assert "$1.33" in rows["acme"] and "account 222222222222" in rows["acme"]
    assert "$0" in rows["globex"]
    assert "(not in the registry)" in rows["initech"]
    assert "$0.05" in rows["(untagged)"]
    assert "$1.58" in rows["TOTAL"]
    assert "not final yet" in table.stdout


def test_cost_json_carries_no_float_noise(cloud: process.RunningCloud, cli: Cli) -> None:
    seed_cost_results(
        cloud,
        _period("2026-05-01", "2026-06-01",
                _group("acme", "Amazon Bedrock", "0.1"),
                _group("acme", "Claude 3 Haiku (Amazon Bedrock Edition)", "0.2"),
                _group("initech", "Amazon Bedrock", "14.2"),
                _group("initech", "Claude 3 Haiku (Amazon Bedrock Edition)", "0.3")),
    )  # fmt: skip

    result = cli("cost", "--format", "json", "--from", "2026-05-01", "--to", "2026-06-01")

    assert result.exit_code == 0, result.output
    # Summed as floats these are 0.30000000000000004, 14.5 and 14.800000000000002.
    assert '"cost": 0.3,' in result.stdout
    assert '"cost": 14.5,' in result.stdout
    assert '"total": 14.8' in result.stdout
    assert "0000000" not in result.stdout


def test_cost_follows_cost_explorers_next_page_token(cloud: process.RunningCloud, cli: Cli) -> None:
    first = _period("2026-09-01", "2026-10-01", _group("acme", "Amazon Bedrock", "1.00"),
                    NextPageToken="page-2")  # fmt: skip
    second = _period("2026-09-01", "2026-10-01", _group("acme", "Amazon Bedrock", "0.50"),
                     _group("globex", "Amazon Bedrock", "2.00"))  # fmt: skip
    seed_cost_results(cloud, first, second)

    data = _cost_json(cli, "--from", "2026-09-01", "--to", "2026-10-01")

    assert [(g["tenant"], g["cost"]) for g in data["groups"]] == [("acme", 1.5), ("globex", 2.0)]


def test_cost_by_the_application_inference_profiles_resource_tag(
    cloud: process.RunningCloud, cli: Cli
) -> None:
    seed_cost_results(
        cloud,
        _period("2026-08-01", "2026-09-01",
                _group("acme", "Claude 3 Haiku (Amazon Bedrock Edition)", "0.75", key="tenant-id")),
    )  # fmt: skip

    data = _cost_json(cli, "--from", "2026-08-01", "--to", "2026-09-01", "--tag-source", "resource")

    assert data["tag_key"] == "tenant-id"
    assert data["groups"][0] == {"tenant": "acme", "cost": 0.75, "by_service": {
        "Claude 3 Haiku (Amazon Bedrock Edition)": 0.75}}  # fmt: skip


def test_cost_says_to_activate_the_tag_when_no_spend_carries_it(
    cloud: process.RunningCloud, cli: Cli
) -> None:
    seed_cost_results(
        cloud, _period("2026-07-01", "2026-08-01", _group("", "Amazon Bedrock", "4.00"))
    )

    result = cli("cost", "--from", "2026-07-01", "--to", "2026-08-01")

    assert result.exit_code == 0, result.output
    assert "no Bedrock spend carries the tag iamPrincipal/tenant-id: activate tenant-id" in (
        " ".join(result.stdout.split())
    )


def test_cost_estimate_adds_up_the_tenants_own_usage_records(
    cloud: process.RunningCloud, cli: Cli
) -> None:
    # Yesterday to tomorrow (UTC): the records were written a minute ago.
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=1), today + timedelta(days=1)
    seed_cost_results(
        cloud,
        _period(start.isoformat(), end.isoformat(), _group("acme", "Amazon Bedrock", "0.01")),
    )
    creds = cloud.credentials(ACME)
    logs = boto3.client("logs", endpoint_url=cloud.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=creds.access_key_id,
                        aws_secret_access_key=creds.secret_access_key)  # fmt: skip
    logs.create_log_group(logGroupName=USAGE_LOG_GROUP)
    logs.create_log_stream(logGroupName=USAGE_LOG_GROUP, logStreamName="alice")
    records = [record(user="alice", request_id="c1", invocation_id="i1", minutes_ago=1,
                      cost_usd=0.004, price_table_version="2026-11-15", price_source="table"),
               record(user="alice", request_id="c2", invocation_id="i2", minutes_ago=1,
                      cost_usd=0.002, price_table_version="2026-12-04",
                      price_source="list:us-east-1")]  # fmt: skip
    # c1 is stored twice (the stdout sink delivers at least once): it counts once.
    logs.put_log_events(
        logGroupName=USAGE_LOG_GROUP,
        logStreamName="alice",
        logEvents=[{"timestamp": _ms(r["timestamp"]), "message": json.dumps(r)}
                   for r in [records[0], *records]],
    )  # fmt: skip

    data = _cost_json(cli, "--from", start.isoformat(), "--to", end.isoformat(), "--estimate",
                      "--tenant", "acme")  # fmt: skip

    assert data["groups"] == [{"tenant": "acme", "cost": 0.01,
                               "by_service": {"Amazon Bedrock": 0.01},
                               "records_cost_usd": 0.006,
                               # what each record says of its price, old records' words too
                               "records_price_sources": ["list:us-east-1", "table"]}]  # fmt: skip


GLOBEX = "333333333333"


def test_reconciliation_flags_a_drift_beyond_the_threshold_and_spend_without_a_bill() -> None:
    report = summarize_results(
        [_period("2026-11-01", "2026-12-01", _group("acme", "Amazon Bedrock", "1.00"),
                 _group("globex", "Amazon Bedrock", "2.00"))],
        start=date(2026, 11, 1), end=date(2026, 12, 1), tag_key="iamPrincipal/tenant-id",
        metric="UnblendedCost",
    )  # fmt: skip

    rows = reconcile(report, {"acme": 1.05, "globex": 1.5, "initech": 0.2, "hooli": 0.0},
                     threshold_percent=10)  # fmt: skip

    assert [(r.tenant_id, r.billed_usd, r.metered_usd) for r in rows] == [
        ("acme", 1.0, 1.05), ("globex", 2.0, 1.5), ("initech", 0.0, 0.2), ("hooli", 0.0, 0.0)
    ]  # fmt: skip
    assert [r.drift_percent for r in rows] == [pytest.approx(5.0), -25.0, None, 0.0]
    assert [r.drifts for r in rows] == [False, True, True, False]
    assert month_window("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))


def _put_globex_records(cloud: process.RunningCloud, *records: dict[str, Any]) -> None:
    creds = cloud.credentials(GLOBEX)
    logs = boto3.client("logs", endpoint_url=cloud.endpoint_url, region_name="us-west-2",
                        aws_access_key_id=creds.access_key_id,
                        aws_secret_access_key=creds.secret_access_key)  # fmt: skip
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=USAGE_LOG_GROUP)
    logs.create_log_stream(logGroupName=USAGE_LOG_GROUP, logStreamName="reconcile")
    logs.put_log_events(
        logGroupName=USAGE_LOG_GROUP,
        logStreamName="reconcile",
        logEvents=[{"timestamp": _ms(r["timestamp"]), "message": json.dumps(r)} for r in records],
    )


def test_cost_reconcile_sets_the_bill_beside_the_tenants_records_and_exits_1_on_drift(
    cloud: process.RunningCloud, cli: Cli
) -> None:
    records = [record(user="bob", request_id=f"g{i}", invocation_id=f"gi{i}", minutes_ago=1,
                      tenant_id="globex", cost_usd=0.003, price_source="table")
               for i in range(2)]  # fmt: skip
    # This month, as the records have it (Logs keeps no event older than 14 days).
    month = records[0]["timestamp"][:7]
    start, end = month_window(month)
    seed_cost_results(
        cloud,
        _period(start.isoformat(), end.isoformat(), _group("globex", "Amazon Bedrock", "0.0075"),
                _group("initech", "Amazon Bedrock", "9.00")),
    )  # fmt: skip
    _put_globex_records(cloud, *records)

    result = cli("cost", "--reconcile", "--month", month, "--tenant", "globex", "--format", "json")

    assert result.exit_code == 1, result.output  # 0.006 metered is 20% under 0.0075 billed
    data = json.loads(result.stdout)
    assert (data["month"], data["from"], data["to"]) == (month, start.isoformat(), end.isoformat())
    assert (data["operations_account"], data["drift_percent"]) == (OPS, 10.0)
    assert data["tenants"] == [
        {"tenant": "globex", "billed": 0.0075, "metered": 0.006, "difference": -0.0015,
         "drift_percent": -20.0, "drifts": True, "records_priced_now": 0, "records_unpriced": 0,
         "records_price_sources": ["table"]}
    ]  # fmt: skip
    assert data["drifting"] == ["globex"]
    # Only aggregates: nothing of a record, nor another account's tenants, is in the answer.
    assert "bob" not in result.stdout and "initech" not in result.stdout

    # The same month read again (Cost Explorer repeats its answer) with a wider threshold.
    table = cli("cost", "--reconcile", "--month", month, "--tenant", "globex",
                "--drift-percent", "25")  # fmt: skip
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if line.startswith("│ globex"))
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        "globex", "$0.00750", "$0.00600", "-$0.00150", "-20%", "ok"
    ]  # fmt: skip
    assert "0 of 1 tenant(s) drift more than 25%" in table.stdout


def test_cost_takes_the_old_operations_and_profile_spellings_with_a_warning(
    aws_env: None, cli: Cli
) -> None:
    result = cli("cost", "--operations", "nope", "--profile", "acme")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "warning: --operations is deprecated; use --operations-account",
        "warning: --profile is deprecated; use --tenant-profile",
        "error: --operations-account: unknown operations account 'nope' (known: primary)",
    ]


def _ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-13-01"), "error: --from: '2026-13-01' is not a date; use YYYY-MM-DD"),
        ((*NOVEMBER[:2], "--to", "2026-11-01"),
         "error: --to: 2026-11-01 must be after --from 2026-11-01 (--to is exclusive)"),
        (("--by", "team"), "error: --by: 'team' is not one of 'tenant', 'cost-centre'\n"),
        (("--tag-source", "role"),
         "error: --tag-source: 'role' is not one of 'principal', 'resource'\n"),
        (("--metric", "BlendedCost"), "error: --metric: 'BlendedCost' is not one of"),
        (("--format", "csv"), "error: --format: 'csv' is not one of 'table', 'json'\n"),
        (("--estimate", "--by", "cost-centre"),
         "error: --estimate: only with --by tenant (records carry no cost centre)"),
        (("--reconcile", "--month", "2026-11", "--by", "cost-centre"),
         "error: --reconcile: only with --by tenant (records carry no cost centre)"),
        (("--reconcile",),
         "error: --month: missing; --reconcile compares one calendar month (YYYY-MM)"),
        (("--month", "2026-13"), "error: --month: '2026-13' is not a month; use YYYY-MM"),
        (("--month", "2026-11", "--from", "2026-11-01"),
         "error: --month: give it or --from/--to, not both"),
        (("--drift-percent", "5"), "error: --drift-percent: only with --reconcile"),
        (("--reconcile", "--month", "2026-11", "--drift-percent", "-1"),
         "error: --drift-percent: input should be greater than or equal to 0"),
        (("--operations-account", "nope"),
         "error: --operations-account: unknown operations account 'nope' (known: primary)"),
        (("--local",), "error: --local: removed; the embedded cloud is reached through AWS"),
        (("--ops-profile", "ops-{shard}"),
         "error: --ops-profile: 'ops-{shard}' may name only {account_id}, {name}, {tenant}"),
    ],
)  # fmt: skip
def test_cost_bad_arguments(aws_env: None, cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli("cost", *args)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
