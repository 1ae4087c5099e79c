"""The background-process mode: up, status, env, down — with real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from embedded_aws import process
from tests.integration.embedded.conftest import ACME, OPS

pytestmark = pytest.mark.xdist_group("embedded-process")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("local-cloud")
    process.up(directory, accounts=[OPS, ACME])
    yield directory
    process.down(directory)


def test_up_writes_a_private_state_file_and_status_reports_it(state_dir: Path) -> None:
    state = process.status(state_dir)
    assert state is not None and sorted(state["accounts"]) == [OPS, ACME]
    assert (state_dir / process.STATE_FILE).stat().st_mode & 0o077 == 0
    assert process.up(state_dir)["pid"] == state["pid"]  # already running: same process


def test_account_credentials_from_the_state_file_act_in_that_account(state_dir: Path) -> None:
    cloud = process.RunningCloud.load(state_dir)
    env = cloud.env(ACME)
    sts = boto3.client(
        "sts",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    assert sts.get_caller_identity()["Account"] == ACME
    assert cloud.bedrock_calls() == []
    assert cloud.inject_bedrock_faults({"throttle": 2})["faults"][0]["remaining"] == 2
    cloud.clear_bedrock_faults()


def test_tenantctl_local_env_prints_the_accounts_exports(state_dir: Path) -> None:
    def env(account: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tenantctl", "local", "env", account],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "TENANTCTL_LOCAL_STATE_DIR": str(state_dir),
            },
        )

    known = env(OPS)
    assert known.returncode == 0, known.stderr
    assert "export AWS_ENDPOINT_URL=http://localhost:" in known.stdout
    unknown = env("999999999999")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: ACCOUNT_ID: no embedded account 999999999999")


def test_down_stops_the_process(tmp_path: Path) -> None:
    state = process.up(tmp_path, accounts=[OPS])
    assert process.down(tmp_path) is True
    assert process.status(tmp_path) is None
    assert not process._pid_alive(state["pid"])
    assert process.down(tmp_path) is False
