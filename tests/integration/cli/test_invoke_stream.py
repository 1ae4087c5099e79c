"""`tenantctl invoke --stream` against the embedded cloud, reached through its AWS profiles.

The module's embedded cloud (``embedded``; the shell after ``eval "$(tenantctl
local env)"`` in ``cloud``) gets what the customer and operations stacks deploy
for a tenant with a ``workload_role`` from ``tests.support.client_world`` (no CDK
deploy; the deployed stacks are tested in ``tests/e2e/test_workload_role.py``),
and a registry written here whose tenants match it:

- ``acme`` (222222222222): its workload role admits the account's deployer, the
  principal behind the embedded tenant profile;
- ``globex`` (333333333333): its workload role admits only a ``notebook`` role,
  not the tenant profile's principal;
- ``initech``: no ``workload_role`` at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_tenant_client import TenantBedrock
from ruamel.yaml import YAML

from contracts import naming
from embedded_aws import process
from embedded_aws.aws_config import profile_name
from embedded_aws.cloud import AccountCredentials
from tests.support.cli_fixtures import Cli, Embedded
from tests.support.client_world import (
    MODEL,
    OPS,
    OTHER_MODEL,
    OTHER_TENANT,
    REGION,
    TENANT,
    provision_tenant,
    usage_records,
)

pytestmark = [
    pytest.mark.xdist_group("embedded-invoke-stream"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
NOTEBOOK = f"arn:aws:iam::{OTHER_TENANT}:role/notebook"
PROMPT = "Tell me a long story about tenants"


@dataclass(frozen=True)
class Deployers:
    """The running cloud as ``client_world`` provisions it: each account's deployer."""

    running: process.RunningCloud

    def credentials(self, account_id: str) -> AccountCredentials:
        return self.running.credentials(account_id)

    def client(self, service: str, account_id: str, **kwargs: Any) -> Any:
        credentials = self.credentials(account_id)
        session: Any = boto3.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            region_name=REGION,
        )
        return session.client(service, endpoint_url=self.running.endpoint_url, **kwargs)


@pytest.fixture(scope="module")
def registry(embedded: Embedded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tenants provisioned on the module's cloud, and the registry that describes them."""
    deployers = Deployers(embedded.cloud)
    acme = provision_tenant(deployers, "acme", TENANT)  # type: ignore[arg-type]
    globex = provision_tenant(deployers, "globex", OTHER_TENANT)  # type: ignore[arg-type]
    # globex's workload role, as its customer stack would deploy it for principals
    # [notebook]: the account's deployer is not one of them.
    deployers.client("iam", OTHER_TENANT).update_assume_role_policy(
        RoleName=naming.workload_role_name("globex"),
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
            f'{{"AWS": "arn:aws:iam::{OTHER_TENANT}:root"}}, "Action": "sts:AssumeRole", '
            f'"Condition": {{"ArnEquals": {{"aws:PrincipalArn": "{NOTEBOOK}"}}}}}}]}}'
        ),
    )

    def tenant(provisioned: Any, principal: str) -> dict[str, Any]:
        return {
            "id": provisioned.tenant_id,
            "account_id": provisioned.account,
            "region": REGION,
            "external_id": provisioned.external_id,
            "models": [MODEL, OTHER_MODEL],
            "workload_role": {"principals": [principal]},
        }

    path = tmp_path_factory.mktemp("invoke-stream") / "tenants.yaml"
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": OPS, "region": REGION},
            "defaults": {"models": [MODEL], "log_content": "metadata"},
            "tenants": [
                tenant(acme, f"arn:aws:iam::{TENANT}:root"),
                tenant(globex, NOTEBOOK),
                {
                    "id": "initech",
                    "account_id": "444444444444",
                    "region": REGION,
                    "external_id": "initech-external-id",
                },
            ],
        },
        path,
    )
    return path


@pytest.fixture
def shell(
    cloud: process.RunningCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> process.RunningCloud:
    """The operator's shell after `tenantctl local env`, with its own cache directory (where
    the library keeps its spool file)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return cloud


@pytest.fixture
def stream_cli(registry: Path) -> Cli:
    return Cli(registry)


def stream_args(tenant: str, user: str, *extra: str) -> list[str]:
    return ["invoke", "--tenant", tenant, "--prompt", PROMPT, "--user-id", user,
            "--application-id", "cli-check", "--stream", *extra]  # fmt: skip


def invoke_stream(cli: Cli, tenant: str, user: str, *extra: str) -> Any:
    return cli(*stream_args(tenant, user, *extra))


def records_of(running: process.RunningCloud, account: str, user: str) -> list[dict[str, Any]]:
    every = usage_records(Deployers(running), account)  # type: ignore[arg-type]
    return [record for record in every if record["user_id"] == user]


def non_streamed_answer(registry: Path, tmp_path: Path) -> str:
    """The same prompt's answer from the library's invoke, as a workload would get it."""
    with TenantBedrock.from_registry(
        registry,
        "acme",
        session=boto3.Session(profile_name=profile_name(TENANT), region_name=REGION),
        workload_role_arn=naming.workload_role_arn(TENANT, "acme", region=REGION),
        spool_path=tmp_path / "twin-spool.jsonl",
    ) as bedrock:
        answer = bedrock.chat_model(application_id="twin", user_id="twin").invoke(PROMPT).text
        bedrock.flush()
    return answer


def test_stream_prints_the_answer_then_its_usage_records_figures(
    shell: process.RunningCloud, stream_cli: Cli, registry: Path, tmp_path: Path
) -> None:
    result = invoke_stream(stream_cli, "acme", "stream-alice")

    assert result.exit_code == 0, result.output
    answer, figures = result.stdout.rsplit("\n", 2)[:2]
    assert answer == non_streamed_answer(registry, tmp_path)
    [record] = records_of(shell, TENANT, "stream-alice")
    assert record["source"] == "library"
    assert record["status"] == "success"
    assert record["application_id"] == "cli-check"
    assert record["output_tokens"] > 0 and record["time_to_first_token_ms"] is not None
    assert figures == (
        f"{MODEL} · {record['input_tokens']} in / {record['output_tokens']} out / "
        f"{record['total_tokens']} total tokens · {record['latency_ms']:.0f} ms · first token "
        f"{record['time_to_first_token_ms']:.0f} ms · success · record {record['invocation_id']}"
    )
    assert result.stderr == ""


def test_stream_uses_the_model_asked_for(shell: process.RunningCloud, stream_cli: Cli) -> None:
    result = invoke_stream(stream_cli, "acme", "stream-bob", "--model", OTHER_MODEL)

    assert result.exit_code == 0, result.output
    [record] = records_of(shell, TENANT, "stream-bob")
    assert record["model_id"] == OTHER_MODEL
    assert result.stdout.splitlines()[-1].startswith(f"{OTHER_MODEL} · ")


def test_stream_for_a_tenant_without_a_workload_role_names_the_registry_field(
    shell: process.RunningCloud, stream_cli: Cli
) -> None:
    result = invoke_stream(stream_cli, "initech", "stream-carol")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: tenants[2].workload_role: tenant initech has none, and --stream calls Bedrock "
        "as the tenant's workload role; add one whose principals include the tenant profile's "
        '(e.g. workload_role: {principals: ["arn:aws:iam::444444444444:root"]}) and run '
        "tenantctl deploy --tenant initech\n"
    )


def test_stream_by_a_principal_the_workload_role_does_not_admit_is_refused(
    shell: process.RunningCloud, stream_cli: Cli
) -> None:
    result = invoke_stream(stream_cli, "globex", "stream-dave")

    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    workload_role = naming.workload_role_arn(OTHER_TENANT, "globex", region=REGION)
    assert line.startswith(
        f"error: the tenant profile's principal may not assume {workload_role} ("
    )
    assert line.endswith(
        "add it to tenants[1].workload_role.principals and run tenantctl deploy --tenant globex"
    )
    assert records_of(shell, OTHER_TENANT, "stream-dave") == []


def test_stream_with_json_is_refused(shell: process.RunningCloud, stream_cli: Cli) -> None:
    result = invoke_stream(stream_cli, "acme", "stream-erin", "--json")

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --json: prints the function's result, which --stream does not call\n"
    )


def test_a_stream_that_fails_midway_exits_1_and_leaves_an_error_record(
    shell: process.RunningCloud, stream_cli: Cli
) -> None:
    shell.inject_bedrock_faults(
        {"stream_error": {"exception": "modelStreamErrorException", "after_events": 3}}
    )
    try:
        result = invoke_stream(stream_cli, "acme", "stream-frank")
    finally:
        shell.clear_bedrock_faults()

    assert result.exit_code == 1
    assert result.stderr.startswith("error: the stream failed midway (modelStreamErrorException: ")
    [record] = records_of(shell, TENANT, "stream-frank")
    assert record["status"] == "error"


@pytest.fixture
def slow_stream(shell: process.RunningCloud) -> Iterator[None]:
    # Spread over the answer's deltas: the first arrives at once, the rest take seconds.
    shell.inject_bedrock_faults({"latency_ms": 6000})
    yield
    shell.clear_bedrock_faults()


def test_ctrl_c_stops_the_stream_exits_130_and_leaves_a_cancelled_record(
    shell: process.RunningCloud, slow_stream: None, registry: Path
) -> None:
    tenantctl = Path(sys.executable).parent / "tenantctl"
    command = subprocess.Popen(
        [str(tenantctl), "--registry", str(registry), *stream_args("acme", "stream-grace")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        assert command.stdout is not None
        first = os.read(command.stdout.fileno(), 64)  # printed as it arrived, mid-stream
        assert first and command.poll() is None
        command.send_signal(signal.SIGINT)
        stdout, stderr = command.communicate(timeout=30)
    finally:
        if command.poll() is None:
            command.kill()

    assert command.returncode == 130, stderr
    assert stderr.decode().splitlines()[-1] == (
        "error: stopped by Ctrl-C; the call's usage record says cancelled"
    )
    # Delivered before the command exited: closing the library flushes its queue.
    [record] = records_of(shell, TENANT, "stream-grace")
    assert record["status"] == "cancelled" and record["source"] == "library"
    assert (first + stdout).decode().strip()  # the tokens before Ctrl-C stay printed
