"""Every example under ``examples/`` runs as user code against one embedded cloud.

Each runs in its own process with the project's Python and nothing but what a
workload has: the tenant's id and workload role in ``TENANT_ID`` and
``WORKLOAD_ROLE_ARN``, and the account deployer's keys, region and endpoint in
the usual AWS variables (no AWS config files, so nothing of this machine's leaks
in). Each must exit 0, print exactly its golden output
(``examples/<name>.expected.txt``), and leave exactly one usage record per model
call in the tenant's usage log group and none in the operations account.

``EXAMPLES_WRITE_GOLDEN=1`` writes the golden files from this run instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts.usage_record import UsageRecord, parse_record
from embedded_aws import EmbeddedCloud
from tests.conftest import ROOT
from tests.docs.doc_references import check_text
from tests.support.client_world import (
    LOG_GROUP,
    OPS,
    TENANT,
    ClientTenant,
    provision_tenant,
    usage_records,
)

pytestmark = pytest.mark.xdist_group("examples")

EXAMPLES = ROOT / "examples"
WRITE_GOLDEN = os.environ.get("EXAMPLES_WRITE_GOLDEN") == "1"
EXAMPLE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Example:
    """One example file and the usage records its run must leave."""

    name: str
    application_id: str
    model_calls: int
    status: str = "success"
    streamed: bool = False
    user_ids: frozenset[str] = frozenset({"alice"})

    @property
    def path(self) -> Path:
        return EXAMPLES / f"{self.name}.py"

    @property
    def golden(self) -> Path:
        return EXAMPLES / f"{self.name}.expected.txt"


EXAMPLE_LIST = [
    Example("one_call", "one-call", model_calls=1),
    Example("streaming_chat", "chat-loop", model_calls=3, streamed=True),
    Example("langchain_chain", "chain", model_calls=1),
    Example(
        "async_fan_out",
        "fan-out",
        model_calls=20,
        user_ids=frozenset(f"user-{number:02d}" for number in range(1, 21)),
    ),
    # It read the first words before it left: their time is known.
    Example(
        "abandoned_stream", "abandoned-stream", model_calls=1, status="cancelled", streamed=True
    ),
]


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, TENANT]) as running:
        yield running


@pytest.fixture(scope="module")
def acme(cloud: EmbeddedCloud) -> ClientTenant:
    return provision_tenant(cloud, "acme", TENANT)


@pytest.fixture(scope="module")
def workload_environment(
    cloud: EmbeddedCloud, acme: ClientTenant, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A workload's environment: its tenant, its role, its own AWS credentials; no more."""
    home = tmp_path_factory.mktemp("workload-home")
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        # The library's default spool file is under the user's cache directory.
        "XDG_CACHE_HOME": str(home / "cache"),
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **cloud.env(acme.account),
        "TENANT_ID": acme.tenant_id,
        "WORKLOAD_ROLE_ARN": acme.workload_role_arn,
    }


def run_example(example: Example, environment: dict[str, str], cwd: Path) -> str:
    """The example's stdout; it must exit 0."""
    finished = subprocess.run(
        [sys.executable, str(example.path)],
        env=environment,
        cwd=cwd,  # not the repository: the example imports only the installed library
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT_S,
        check=False,
    )
    assert finished.returncode == 0, (
        f"{example.name} exited {finished.returncode}:\n{finished.stderr}"
    )
    return finished.stdout


def operations_usage_records(cloud: EmbeddedCloud) -> list[UsageRecord]:
    """Every usage record in any log group of the operations account."""
    logs = cloud.client("logs", OPS)
    found: list[UsageRecord | None] = []
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            events = logs.get_paginator("filter_log_events").paginate(
                logGroupName=group["logGroupName"]
            )
            for events_page in events:
                found += [parse_record(event["message"]) for event in events_page["events"]]
    return [record for record in found if record is not None]


@pytest.mark.parametrize("example", EXAMPLE_LIST, ids=[e.name for e in EXAMPLE_LIST])
def test_example_prints_its_golden_output_and_leaves_one_record_per_call_in_the_tenant_account(
    example: Example,
    cloud: EmbeddedCloud,
    acme: ClientTenant,
    workload_environment: dict[str, str],
    tmp_path: Path,
) -> None:
    before = {record["invocation_id"] for record in usage_records(cloud, acme.account)}

    printed = run_example(example, workload_environment, tmp_path)

    if WRITE_GOLDEN:
        example.golden.write_text(printed)
    assert printed == example.golden.read_text()
    # The example flushed before it exited: its records are in the group now.
    records = [
        record
        for record in usage_records(cloud, acme.account)
        if record["invocation_id"] not in before
    ]
    assert len(records) == example.model_calls, records
    assert len({record["invocation_id"] for record in records}) == example.model_calls
    assert {record["source"] for record in records} == {"library"}
    assert {record["status"] for record in records} == {example.status}
    assert {record["tenant_id"] for record in records} == {acme.tenant_id}
    assert {record["application_id"] for record in records} == {example.application_id}
    assert {record["user_id"] for record in records} == example.user_ids
    if example.streamed:
        assert all(record["time_to_first_token_ms"] is not None for record in records), records
    # The records went with the workload's own credentials, never the operations account's.
    assert operations_usage_records(cloud) == []
    assert not cloud.client("logs", OPS).describe_log_groups(logGroupNamePrefix=LOG_GROUP)[
        "logGroups"
    ]


def test_every_example_is_run_here_and_listed_in_the_examples_readme() -> None:
    on_disk = {path.stem for path in EXAMPLES.glob("*.py")}
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert on_disk == {example.name for example in EXAMPLE_LIST}
    assert {name for name in on_disk if f"`examples/{name}.py`" in readme} == on_disk
    assert {path.stem.removesuffix(".expected") for path in EXAMPLES.glob("*.expected.txt")} == (
        on_disk
    )


def test_examples_readme_names_only_commands_and_code_that_exist() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert check_text("examples/README.md", readme) == []
