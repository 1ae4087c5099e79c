"""The client library end to end on the embedded cloud: real langchain-aws, real botocore,
the Converse emulator streaming over HTTP, records read back from the tenant's group.

Every test checks the issue's rule: exactly one record per model call, in the
tenant's own account, none in the operations account.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_tenant_client import CallRefused, SettingsError, TenantBedrock
from bedrock_tenant_client.settings import from_environment
from botocore.exceptions import ClientError, EventStreamError

from embedded_aws import EmbeddedCloud
from tests.support.client_world import (
    LOG_GROUP,
    MODEL,
    OPS,
    OTHER_TENANT,
    TENANT,
    ClientTenant,
    LogsOutage,
    deployer_session,
    usage_records,
)

PROMPT = "Summarise the benefits of account-level isolation in two sentences."


def _start_acme(
    cloud: EmbeddedCloud, acme: ClientTenant, spool_path: Path, **options: Any
) -> TenantBedrock:
    """acme's client library as its workload starts it: its deployer assumes the workload role."""
    return TenantBedrock.from_parameter(
        "acme",
        session=deployer_session(cloud, TENANT),
        workload_role_arn=acme.workload_role_arn,
        spool_path=spool_path,
        **options,
    )


@pytest.fixture
def bedrock(cloud: EmbeddedCloud, acme: ClientTenant, spool_path: Path) -> Iterator[TenantBedrock]:
    cloud.bedrock.clear_faults()
    client = _start_acme(cloud, acme, spool_path, application_id="tests")
    yield client
    client.close()
    cloud.bedrock.clear_faults()


def _new_records(
    cloud: EmbeddedCloud, account: str, before: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    seen = {json.dumps(r, sort_keys=True) for r in before}
    return [r for r in usage_records(cloud, account) if json.dumps(r, sort_keys=True) not in seen]


def _no_usage_in_operations(cloud: EmbeddedCloud) -> None:
    groups = cloud.client("logs", OPS).describe_log_groups()["logGroups"]
    assert all(group["logGroupName"] != LOG_GROUP for group in groups)


def test_a_streamed_call_records_the_tokens_and_cost_of_its_non_streamed_twin(
    cloud: EmbeddedCloud, bedrock: TenantBedrock
) -> None:
    before = usage_records(cloud, TENANT)
    model = bedrock.chat_model(user_id="alice")

    answer = model.invoke(PROMPT)
    chunks = list(model.stream(PROMPT))
    assert bedrock.flush(10)

    assert "".join(chunk.text for chunk in chunks) == answer.text
    plain, streamed = _new_records(cloud, TENANT, before)
    for field in ("input_tokens", "output_tokens", "total_tokens", "cost_usd", "status"):
        assert streamed[field] == plain[field], field
    assert plain["status"] == "success" and plain["output_tokens"] > 0
    assert streamed["source"] == plain["source"] == "library"
    assert streamed["time_to_first_token_ms"] is not None
    assert "time_to_first_token_ms" not in plain
    assert streamed["invocation_id"] != plain["invocation_id"]
    assert streamed["user_id"] == "alice" and streamed["tenant_id"] == "acme"
    _no_usage_in_operations(cloud)


def test_an_abandoned_stream_leaves_exactly_one_cancelled_record(
    cloud: EmbeddedCloud, bedrock: TenantBedrock
) -> None:
    before = usage_records(cloud, TENANT)
    cloud.bedrock.set_latency(400)  # spread over the deltas: the stream is still running
    model = bedrock.chat_model(user_id="bob")

    for chunk in model.stream(PROMPT):
        if chunk.text:
            break
    assert bedrock.flush(10)

    [record] = _new_records(cloud, TENANT, before)
    assert record["status"] == "cancelled"
    assert record["user_id"] == "bob"
    assert record["time_to_first_token_ms"] is not None


def test_a_cancelled_async_task_leaves_exactly_one_cancelled_record(
    cloud: EmbeddedCloud, bedrock: TenantBedrock
) -> None:
    before = usage_records(cloud, TENANT)
    cloud.bedrock.set_latency(2000)
    model = bedrock.chat_model(user_id="carol")

    async def consume() -> None:
        async for _ in model.astream(PROMPT):
            pass

    async def cancel_midway() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert bedrock.flush(10)

    [record] = _new_records(cloud, TENANT, before)
    assert record["status"] == "cancelled"
    assert record["user_id"] == "carol"


def test_a_stream_that_fails_midway_leaves_exactly_one_error_record(
    cloud: EmbeddedCloud, bedrock: TenantBedrock
) -> None:
    before = usage_records(cloud, TENANT)
    cloud.bedrock.fail_stream("modelStreamErrorException", after_events=3)
    model = bedrock.chat_model(user_id="dave")

    received: list[str] = []
    with pytest.raises(EventStreamError):
        for chunk in model.stream(PROMPT):
            received.append(chunk.text)
    assert bedrock.flush(10)

    assert "".join(received)  # some text came before the failure
    [record] = _new_records(cloud, TENANT, before)
    assert record["status"] == "error"
    assert record["error_type"] == "modelStreamErrorException"
    assert record["time_to_first_token_ms"] is not None


def test_concurrent_async_calls_share_one_credentials_object_and_one_writer(
    cloud: EmbeddedCloud, bedrock: TenantBedrock
) -> None:
    before = usage_records(cloud, TENANT)
    model = bedrock.chat_model(user_id="erin")

    async def fan_out() -> list[Any]:
        return await asyncio.gather(*(model.ainvoke(f"{PROMPT} ({i})") for i in range(20)))

    answers = asyncio.run(fan_out())
    assert bedrock.flush(10)

    records = _new_records(cloud, TENANT, before)
    assert len(answers) == len(records) == 20
    assert len({r["invocation_id"] for r in records}) == 20
    assert sum(r["output_tokens"] for r in records) == sum(
        a.usage_metadata["output_tokens"] for a in answers
    )
    # One assumed-role credentials object for every call, refreshed in place.
    assert bedrock.credentials.get_frozen_credentials().access_key.startswith("ASIA")


def test_a_record_written_while_logs_is_unreachable_arrives_once_after_it_returns(
    cloud: EmbeddedCloud, acme: ClientTenant, spool_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage = LogsOutage(cloud.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", outage.endpoint_url)
    before = usage_records(cloud, TENANT)
    bedrock = _start_acme(cloud, acme, spool_path)
    try:
        model = bedrock.chat_model(user_id="frank")
        outage.down = True
        first = model.invoke(PROMPT)  # the answer is returned whatever happens to its record
        assert first.text
        assert bedrock.flush(60)
        assert _new_records(cloud, TENANT, before) == []
        [spooled] = bedrock.delivery.spool.pending()
        assert spooled["user_id"] == "frank"

        outage.down = False
        model.invoke(PROMPT)  # the next successful write brings the spooled one back
        assert bedrock.flush(30)
    finally:
        bedrock.close()
        outage.close()

    records = _new_records(cloud, TENANT, before)
    assert len(records) == 2
    assert [r["invocation_id"] for r in records].count(spooled["invocation_id"]) == 1
    assert not spool_path.exists()


def test_a_spooled_record_is_replayed_once_at_the_next_start(
    cloud: EmbeddedCloud, acme: ClientTenant, spool_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage = LogsOutage(cloud.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", outage.endpoint_url)
    before = usage_records(cloud, TENANT)

    try:
        outage.down = True
        first_run = _start_acme(cloud, acme, spool_path)
        first_run.chat_model(user_id="grace").invoke(PROMPT)
        first_run.close()  # the process ends with its record spooled
        assert len(first_run.delivery.spool.pending()) == 1

        outage.down = False
        for _ in range(2):  # two later starts: the record is replayed by the first only
            later = _start_acme(cloud, acme, spool_path)
            assert later.flush(30)
            later.close()
    finally:
        outage.close()

    [record] = _new_records(cloud, TENANT, before)
    assert record["user_id"] == "grace"


def test_another_tenants_invoker_role_is_denied_and_leaves_nothing_in_its_account(
    cloud: EmbeddedCloud, acme: ClientTenant, globex: ClientTenant, spool_path: Path
) -> None:
    before = usage_records(cloud, OTHER_TENANT)
    # acme's workload, told globex's settings: the invoker role admits globex's role only.
    bedrock = TenantBedrock(
        from_environment(globex.settings_variables()),
        session=deployer_session(cloud, TENANT),
        workload_role_arn=acme.workload_role_arn,
        spool_path=spool_path,
    )
    try:
        with pytest.raises(ClientError) as denied:
            bedrock.chat_model(user_id="mallory").invoke(PROMPT)
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        bedrock.flush(10)
    finally:
        bedrock.close()
    assert usage_records(cloud, OTHER_TENANT) == before


def test_a_principal_the_workload_role_does_not_list_cannot_assume_it(
    cloud: EmbeddedCloud, acme: ClientTenant
) -> None:
    iam = cloud.client("iam", TENANT)
    iam.create_role(
        RoleName="not-listed",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{TENANT}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    iam.put_role_policy(
        RoleName="not-listed",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            }
        ),
    )
    creds = cloud.client("sts", TENANT).assume_role(
        RoleArn=f"arn:aws:iam::{TENANT}:role/not-listed", RoleSessionName="outsider"
    )["Credentials"]
    outsider = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    # Refused at its first AWS call, the read of its settings, naming the role.
    with pytest.raises(SettingsError, match=r"AccessDenied.*bedrock-workload-acme"):
        TenantBedrock.from_parameter(
            "acme", session=outsider, workload_role_arn=acme.workload_role_arn
        )


def test_the_tenants_rules_refuse_a_call_naming_the_argument(bedrock: TenantBedrock) -> None:
    with pytest.raises(CallRefused, match=r"model_id: 'amazon\.titan-text-express-v1'"):
        bedrock.chat_model("amazon.titan-text-express-v1")
    with pytest.raises(CallRefused, match="max_tokens: 999999"):
        bedrock.chat_model(max_tokens=999_999)
    with pytest.raises(CallRefused, match="service_tier: 'flex'"):
        bedrock.chat_model(service_tier="flex")
    assert bedrock.chat_model(MODEL).max_tokens is not None


def test_missing_settings_say_which_parameter(cloud: EmbeddedCloud) -> None:
    with pytest.raises(SettingsError, match="/bedrock-invoker/nobody/client-settings"):
        TenantBedrock.from_parameter("nobody", session=deployer_session(cloud, TENANT))
    with pytest.raises(SettingsError, match="tenant_id"):
        TenantBedrock.from_parameter("Not A Tenant", session=deployer_session(cloud, TENANT))
    with pytest.raises(SettingsError, match="OPS_ROLE_ARN"):
        from_environment({"TENANT_ID": "acme"})


def test_closing_right_after_calls_delivers_their_records_instead_of_spooling_them(
    cloud: EmbeddedCloud, acme: ClientTenant, spool_path: Path
) -> None:
    before = usage_records(cloud, TENANT)
    bedrock = _start_acme(cloud, acme, spool_path)
    model = bedrock.chat_model(user_id="henry")
    for _ in range(5):
        model.invoke(PROMPT)
    bedrock.close()  # no flush: closing must deliver what the calls left queued

    assert not spool_path.exists()
    records = _new_records(cloud, TENANT, before)
    assert [r["user_id"] for r in records] == ["henry"] * 5
