"""A tenant's guardrail, service tiers and maxTokens cap, end to end on the embedded cloud.

The operations account has a guardrail (made over the embedded Bedrock's admin
endpoint, as an operator would make one in the console) that blocks a word. The
registry names it for tenant ``gt``, with tiers ``default`` and ``flex`` and a
``max_tokens`` cap of 300; ``tenantctl deploy --all`` deploys both stacks and
``tenantctl invoke`` calls the function:

- an answer is sent with the guardrail, the default tier and maxTokens 300 (the
  operations account's Bedrock call log says so);
- a prompt with the blocked word is answered by the guardrail, and the tenant's
  usage record says it intervened;
- an event asking for the priority tier is refused by the function, naming
  ``service_tier``;
- acting as the tenant's function by hand (its own role, its operations role),
  a call without the guardrail, or in the priority tier, is denied by IAM.

The operations account also has a floor (``operations.enforced_guardrail``, an
``EnforcedGuardrailConfiguration`` deployed with shard 0) that blocks another
word in every call of the account, whichever guardrail the call names.

Tenant ``gc`` declares its guardrail instead (``guardrail.create``): the deploy
creates it and a version in the operations account, its function reads which
from the operations account's SSM parameter, and a blocked word is answered by it.
"""

from __future__ import annotations

import json
import shlex
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ruamel.yaml import YAML
from typer.testing import CliRunner, Result

from contracts import naming
from contracts.usage_record import parse_record
from embedded_aws import process
from tenantctl.cli import app
from tests.support.cli_fixtures import eval_local_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-guardrail-tier"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
OPS = "111111111111"
TENANT_ACCOUNT = "444444444444"
CREATED_ACCOUNT = "555555555555"
REGION = "us-east-1"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
BLOCKED_WORD = "unobtainium"
BLOCKED_MESSAGE = "This request is outside the policy."
FLOOR_WORD = "contraband"
FLOOR_MESSAGE = "The operations account does not allow this."


def _admin_post(endpoint_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{endpoint_url}/_embedded/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def _admin_get(endpoint_url: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint_url}/_embedded/{path}", timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    root = tmp_path_factory.mktemp("guardrail-tier")
    registry = root / "tenants.yaml"
    base = {
        "version": 1,
        "operations": {"account_id": OPS, "region": REGION},
        "defaults": {"models": [HAIKU]},
        "tenants": [],
    }
    YAML().dump(base, registry)
    state_dir = root / "cloud"
    process.up(state_dir, registry=registry, accounts=[TENANT_ACCOUNT, CREATED_ACCOUNT])
    try:
        endpoint = process.RunningCloud.load(state_dir).endpoint_url
        guardrail = _admin_post(
            endpoint,
            "bedrock/guardrails",
            {
                "account_id": OPS,
                "region": REGION,
                "name": "gt-policy",
                "blocked_words": [BLOCKED_WORD],
                "content_filters": True,
                "blocked_input_messaging": BLOCKED_MESSAGE,
            },
        )
        floor = _admin_post(
            endpoint,
            "bedrock/guardrails",
            {
                "account_id": OPS,
                "region": REGION,
                "name": "account-floor",
                "blocked_words": [FLOOR_WORD],
                "blocked_input_messaging": FLOOR_MESSAGE,
            },
        )
        base["operations"] = {
            "account_id": OPS,
            "region": REGION,
            "enforced_guardrail": {"identifier": floor["guardrail_id"], "version": "1"},
        }
        tenant = {
            "id": "gt",
            "account_id": TENANT_ACCOUNT,
            "region": REGION,
            "external_id": "gt-external-id-0001",
            "guardrail": {"identifier": guardrail["guardrail_id"], "version": "1"},
            "service_tiers": ["default", "flex"],
            "max_tokens": 300,
        }
        created = {
            "id": "gc",
            "account_id": CREATED_ACCOUNT,
            "region": REGION,
            "external_id": "gc-external-id-0001",
            "guardrail": {"create": {"blocked_words": [BLOCKED_WORD]}},
        }
        YAML().dump({**base, "tenants": [tenant, created]}, registry)
        yield registry, state_dir, guardrail["arn"]
    finally:
        process.down(state_dir)


def _tenantctl(registry: Path, *args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--registry", str(registry), *args])


def _invoke(registry: Path, prompt: str, tenant: str = "gt") -> Result:
    return _tenantctl(
        registry, "invoke", "--tenant", tenant, "--prompt", prompt,
        "--user-id", "u1", "--application-id", "app", "--json",
    )  # fmt: skip


def _client(service: str, account: str) -> Any:
    session: Any = boto3.Session(profile_name=f"embedded-{account}", region_name=REGION)
    return session.client(service)


def _usage_records(account: str = TENANT_ACCOUNT) -> list[Any]:
    logs = _client("logs", account)
    events = logs.filter_log_events(logGroupName=naming.DEFAULT_USAGE_LOG_GROUP)["events"]
    return [r for e in events if (r := parse_record(e["message"])) is not None]


def _as_the_function(registry: Path) -> Any:
    """The tenant's function's own credentials, then its operations role: what code the
    tenant owns could do with them."""
    result = _tenantctl(registry, "local", "env", "--as-function", "gt")
    assert result.exit_code == 0, result.output
    env = dict(
        shlex.split(line)[1].split("=", 1)
        for line in result.stdout.splitlines()
        if line.startswith("export ")
    )
    own = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )
    assumed = own.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"]).assume_role(
        RoleArn=env["OPS_ROLE_ARN"], RoleSessionName="gt", ExternalId=env["OPS_EXTERNAL_ID"]
    )["Credentials"]
    ops = boto3.Session(
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
        region_name=REGION,
    )
    return ops.client("bedrock-runtime", endpoint_url=env["AWS_ENDPOINT_URL"])


def test_guardrail_tier_and_max_tokens_hold_from_deploy_to_invoke(
    deployed: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry, state_dir, guardrail_arn = deployed
    eval_local_env(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)  # tenantctl keeps the fleet's retry memory in ./.tenantctl
    endpoint = process.RunningCloud.load(state_dir).endpoint_url

    deploy = _tenantctl(registry, "deploy", "--all")
    assert deploy.exit_code == 0, deploy.output

    answered = _invoke(registry, "hello")
    assert answered.exit_code == 0, answered.output
    call = _admin_get(endpoint, "bedrock/calls")["calls"][-1]
    assert (call["outcome"], call["max_tokens"], call["service_tier"]) == (
        "success",
        300,
        "default",
    )
    assert call["guardrail"] == f"{guardrail_arn}:1"

    blocked = _invoke(registry, f"Where do I buy {BLOCKED_WORD}?")
    assert blocked.exit_code == 0, blocked.output
    assert json.loads(blocked.stdout)["output"] == BLOCKED_MESSAGE
    records = _usage_records()
    intervened = [r for r in records if r.stop_reason == "guardrail_intervened"]
    assert [r.guardrail_intervened for r in intervened] == [True]
    assert intervened[0].service_tier == "default" and intervened[0].guardrail_text_units > 0
    assert [r.guardrail_intervened for r in records if r.stop_reason != "guardrail_intervened"] == [
        False
    ]

    # The account's floor applies to gt's calls too, over its own guardrail.
    floored = _invoke(registry, f"Bring the {FLOOR_WORD}.")
    assert floored.exit_code == 0, floored.output
    assert json.loads(floored.stdout)["output"] == FLOOR_MESSAGE

    # An event may ask only for one of the tenant's tiers.
    function = _client("lambda", TENANT_ACCOUNT)
    refused = json.loads(
        function.invoke(
            FunctionName=f"{naming.function_name('gt')}:{naming.INVOKER_ALIAS}",
            Payload=json.dumps(
                {
                    "prompt": "hi",
                    "user_id": "u1",
                    "application_id": "app",
                    "service_tier": "priority",
                }
            ),
        )["Payload"].read()
    )
    assert refused["error"]["message"].startswith("service_tier: 'priority' is not allowed")

    # Code the tenant owns gets no further with the role itself.
    runtime = _as_the_function(registry)
    request = {
        "modelId": HAIKU,
        "messages": [{"role": "user", "content": [{"text": "hello"}]}],
        "inferenceConfig": {"maxTokens": 50},
    }
    guardrail = {"guardrailIdentifier": guardrail_arn, "guardrailVersion": "1"}
    for bypass in (
        {"serviceTier": {"type": "default"}},
        {"guardrailConfig": guardrail, "serviceTier": {"type": "priority"}},
    ):
        with pytest.raises(ClientError) as error:
            runtime.converse(**request, **bypass)
        assert error.value.response["Error"]["Code"] == "AccessDeniedException"
    allowed = runtime.converse(**request, guardrailConfig=guardrail, serviceTier={"type": "flex"})
    assert allowed["stopReason"] in {"end_turn", "max_tokens"}

    # gc's guardrail, created by its operations stack from the registry's definition.
    (made,) = [
        g
        for g in _admin_get(endpoint, "bedrock/guardrails")["guardrails"]
        if g["name"] == naming.guardrail_name("gc")
    ]
    assert made["version"] == "1" and made["blocked_words"] == [BLOCKED_WORD]
    answered = _invoke(registry, "hello", tenant="gc")
    assert answered.exit_code == 0, answered.output
    assert _admin_get(endpoint, "bedrock/calls")["calls"][-1]["guardrail"] == f"{made['arn']}:1"
    blocked = _invoke(registry, f"Any {BLOCKED_WORD} left?", tenant="gc")
    assert blocked.exit_code == 0, blocked.output
    assert json.loads(blocked.stdout)["output"] == "Sorry, this request is not allowed."
    assert [r.guardrail_intervened for r in _usage_records(CREATED_ACCOUNT)] == [False, True]
