"""A tenant's workload role, end to end on the embedded cloud.

Tenant ``wa`` lists one role of its account (``notebook``) as the principal of
its workload role; tenant ``wb`` is another tenant. ``tenantctl deploy --all``
deploys both, then, acting as the workloads would with boto3 alone:

- ``notebook`` assumes ``bedrock-workload-wa``, reads its client settings (the
  function's environment contract) and, with them, assumes wa's invoker role
  with the ExternalId and the tenant id as session name, calls Bedrock and writes
  a usage line into wa's usage log group with the workload role's own credentials;
- a role of the same account that is not listed (its own policy allowing the
  call all the same), and the account's administrator, are refused the workload role;
- the workload role is refused wb's invoker role, even with wb's ExternalId and
  session name, and its own invoker role under another session name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ruamel.yaml import YAML
from typer.testing import CliRunner

from contracts import naming
from contracts.function_environment import FunctionEnvironment
from embedded_aws import process
from tenantctl.cli import app
from tests.support.cli_fixtures import eval_local_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-workload-role"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
OPS = "111111111111"
WA_ACCOUNT = "444444444444"
WB_ACCOUNT = "555555555555"
REGION = "us-east-1"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
NOTEBOOK = f"arn:aws:iam::{WA_ACCOUNT}:role/notebook"
WORKLOAD_ROLE = naming.workload_role_arn(WA_ACCOUNT, "wa", region=REGION)
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException"}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("workload-role")
    registry = root / "tenants.yaml"
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": OPS, "region": REGION},
            "defaults": {"models": [HAIKU]},
            "tenants": [
                {
                    "id": "wa",
                    "account_id": WA_ACCOUNT,
                    "region": REGION,
                    "external_id": "wa-external-id-0001",
                    "workload_role": {"principals": [NOTEBOOK], "services": ["ecs-tasks"]},
                },
                {
                    "id": "wb",
                    "account_id": WB_ACCOUNT,
                    "region": REGION,
                    "external_id": "wb-external-id-0001",
                },
            ],
        },
        registry,
    )
    state_dir = root / "cloud"
    process.up(state_dir, registry=registry)
    try:
        yield registry, state_dir
    finally:
        process.down(state_dir)


def _session(credentials: dict[str, Any]) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def _assume(session: boto3.Session, role_arn: str, session_name: str, **extra: str) -> Any:
    credentials = session.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName=session_name, **extra
    )["Credentials"]
    return _session(credentials)


def _denied(session: boto3.Session, role_arn: str, session_name: str, **extra: str) -> bool:
    try:
        _assume(session, role_arn, session_name, **extra)
    except ClientError as error:
        return error.response["Error"]["Code"] in ACCESS_DENIED
    return False


def _role_allowed_to_assume_the_workload_role(iam: Any, name: str) -> str:
    """A role of wa's account whose own policy allows assuming the workload role."""
    arn: str = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{WA_ACCOUNT}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="use-bedrock-workload-role",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": WORKLOAD_ROLE}
                ],
            }
        ),
    )
    return arn


def test_a_listed_principal_reaches_bedrock_and_nobody_else_gets_the_role(
    deployed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry, state_dir = deployed
    eval_local_env(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)  # tenantctl keeps the fleet's retry memory in ./.tenantctl
    deploy = CliRunner().invoke(app, ["--registry", str(registry), "deploy", "--all"])
    assert deploy.exit_code == 0, deploy.output

    admin = boto3.Session(profile_name=f"embedded-{WA_ACCOUNT}", region_name=REGION)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in admin.client("cloudformation").describe_stacks(
            StackName=naming.customer_stack_name("wa")
        )["Stacks"][0]["Outputs"]
    }
    assert outputs["WorkloadRoleArn"] == WORKLOAD_ROLE
    assert outputs["ClientSettingsParameterName"] == naming.client_settings_parameter_name("wa")
    iam = admin.client("iam")
    assert _role_allowed_to_assume_the_workload_role(iam, "notebook") == NOTEBOOK
    intruder = _role_allowed_to_assume_the_workload_role(iam, "intruder")

    # The listed principal: its settings, its invoker role, Bedrock, its usage log group.
    notebook = _assume(admin, NOTEBOOK, "nb")
    workload = _assume(notebook, WORKLOAD_ROLE, "nb")
    value = workload.client("ssm").get_parameter(Name=outputs["ClientSettingsParameterName"])[
        "Parameter"
    ]["Value"]
    settings = FunctionEnvironment.from_env(json.loads(value))
    assert (settings.tenant_id, settings.ops_role_arn) == (
        "wa",
        naming.invoker_role_arn(OPS, "wa", region=REGION),
    )
    invoker = _assume(
        workload,
        settings.ops_role_arn,
        settings.tenant_id,
        ExternalId=settings.ops_external_id,
    )
    answer = invoker.client("bedrock-runtime", region_name=settings.bedrock_region).converse(
        modelId=settings.default_model_id,
        messages=[{"role": "user", "content": [{"text": "hello"}]}],
        inferenceConfig={"maxTokens": 50},
        # The role allows each call only in one of the tenant's tiers, as the function sends.
        serviceTier={"type": settings.service_tiers[0].value},
    )
    assert answer["usage"]["outputTokens"] > 0
    logs = workload.client("logs")
    logs.create_log_stream(logGroupName=settings.usage_log_group, logStreamName="workload-test")
    logs.put_log_events(
        logGroupName=settings.usage_log_group,
        logStreamName="workload-test",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": '{"probe": true}'}],
    )
    # Not listed: a role allowed by its own policy, and the account's administrator.
    assert _denied(_assume(admin, intruder, "in"), WORKLOAD_ROLE, "in")
    assert _denied(admin, WORKLOAD_ROLE, "admin")

    # The workload role reaches its own invoker role only, and only as the tenant.
    assert _denied(
        workload,
        naming.invoker_role_arn(OPS, "wb", region=REGION),
        "wb",
        ExternalId="wb-external-id-0001",
    )
    assert _denied(
        workload, settings.ops_role_arn, "someone-else", ExternalId=settings.ops_external_id
    )
    assert _denied(workload, settings.ops_role_arn, "wa", ExternalId="wrong-external-id")
