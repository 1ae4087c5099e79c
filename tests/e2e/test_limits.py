"""Per-tenant limits enforced from the operations account, on the embedded cloud.

Three tenants of one operations account, deployed with ``tenantctl deploy --all``
and called with ``tenantctl invoke`` through the profiles ``tenantctl local env``
writes: ``alpha`` has a small token limit with ``action: block``, ``bravo`` none, ``carol`` a
small one with ``action: downgrade`` to Claude 3 Haiku. The embedded Bedrock
publishes the AWS/Bedrock metrics Bedrock publishes; the schedule is emulated by
invoking the enforcer with a scheduled event whose ``time`` drives its clock.

The test prints a transcript of a block, a downgrade and an unblock (``-s``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from contracts import naming
from contracts.blocks import BLOCK_POLICY_NAME, DOWNGRADE_POLICY_NAME
from embedded_aws import process
from stacks.operations.limit_enforcer import ENFORCER_FUNCTION_NAME
from tenantctl.cli import app
from tests.support.cli_fixtures import eval_local_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-limits"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
OPS = "111111111111"
ACCOUNTS = {"alpha": "555555555551", "bravo": "555555555552", "carol": "555555555553"}
REGION = "us-east-1"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TOKEN_LIMIT = 60


def _tenant(tenant_id: str, **settings: Any) -> dict[str, Any]:
    return {
        "id": tenant_id,
        "account_id": ACCOUNTS[tenant_id],
        "region": REGION,
        "external_id": f"ext-{tenant_id}-0001",
        "application_inference_profiles": True,
        **settings,
    }


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("limits")
    registry = root / "tenants.yaml"
    YAML().dump(
        {
            "version": 1,
            "operations": {
                "account_id": OPS,
                "region": REGION,
                "enforcer": {"enabled": True},
            },
            "defaults": {"models": [HAIKU]},
            "tenants": [
                _tenant("alpha", limits={"period": "month", "tokens": TOKEN_LIMIT}),
                _tenant("bravo"),
                _tenant(
                    "carol",
                    models=[HAIKU, SONNET],
                    limits={
                        "period": "month",
                        "tokens": TOKEN_LIMIT,
                        "action": "downgrade",
                        "downgrade_models": [HAIKU],
                    },
                ),
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


def _tenantctl(registry: Path, *args: str) -> Any:
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--registry", str(registry), *args])


def _invoke(registry: Path, tenant: str, model: str = HAIKU) -> dict[str, Any]:
    result = _tenantctl(
        registry, "invoke", "--tenant", tenant, "--prompt", "Say hello in five words.",
        "--user-id", "u1", "--application-id", "limits", "--model", model, "--json",
    )  # fmt: skip
    return dict(json.loads(result.stdout)) if result.stdout.strip() else {"error": result.output}


def _answered(outcome: dict[str, Any]) -> bool:
    return "output" in outcome and "error" not in outcome


def _ops(service: str) -> Any:
    session: Any = boto3.Session(profile_name=f"embedded-{OPS}", region_name=REGION)
    return session.client(service)


def _enforce(at: datetime) -> list[dict[str, Any]]:
    """What EventBridge's schedule does every minute: invoke the enforcer with a scheduled event."""
    event = {
        "version": "0",
        "id": "limits-e2e",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": OPS,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {},
    }
    answer = _ops("lambda").invoke(
        FunctionName=ENFORCER_FUNCTION_NAME, Payload=json.dumps(event).encode()
    )
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    return list(payload["actions"])


def _policies(tenant: str) -> list[str]:
    iam = _ops("iam")
    return sorted(iam.list_role_policies(RoleName=naming.invoker_role_name(tenant))["PolicyNames"])


def _transcript(title: str, actions: list[dict[str, Any]]) -> None:
    print(f"\n--- {title}")
    for action in actions:
        print(json.dumps(action, sort_keys=True))


def test_limits_block_downgrade_and_lift_at_the_period_reset(
    deployed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry, state_dir = deployed
    eval_local_env(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)
    result = _tenantctl(registry, "deploy", "--all")
    assert result.exit_code == 0, result.output

    # Under the limit: nothing to do.
    assert _answered(_invoke(registry, "alpha")) and _answered(_invoke(registry, "carol", SONNET))
    # Drive alpha and carol over their small limits (each call is tens of tokens).
    for _ in range(3):
        _invoke(registry, "alpha")
        _invoke(registry, "carol", SONNET)
    now = datetime.now(UTC)
    actions = _enforce(now)
    _transcript(f"enforcer at {now:%Y-%m-%dT%H:%M:%SZ}", actions)
    by_tenant = {(a["tenant"], a["action"]) for a in actions}
    assert {("alpha", "block"), ("carol", "downgrade")} <= by_tenant
    assert all(a["tenant"] != "bravo" for a in actions)
    block = next(a for a in actions if a["action"] == "block")
    assert block["rule"] == "limits:block" and block["used"] >= TOKEN_LIMIT
    assert block["unit"] == "tokens" and block["limit"] == TOKEN_LIMIT
    # Counts and names only: no prompt or answer in the audit record.
    assert "hello" not in json.dumps(actions).lower()

    # Blocked by the enforcer: alpha is refused, bravo (same operations account) answers.
    assert BLOCK_POLICY_NAME in _policies("alpha")
    refused = _invoke(registry, "alpha")
    assert not _answered(refused), refused
    assert _answered(_invoke(registry, "bravo"))
    status = _tenantctl(registry, "status", "--tenant", "alpha")
    print(f"\n--- tenantctl status --tenant alpha\n{status.output}")
    assert "limits:block" in status.output

    # Downgraded: carol keeps its cheap model, not its expensive one.
    assert DOWNGRADE_POLICY_NAME in _policies("carol")
    assert _answered(_invoke(registry, "carol", HAIKU))
    assert not _answered(_invoke(registry, "carol", SONNET))

    # A second pass in the same period changes nothing.
    assert [a for a in _enforce(now + timedelta(minutes=1)) if a["action"] != "warn"] == []

    # An operator's block on bravo survives the period reset.
    manual = _tenantctl(registry, "block", "--tenant", "bravo", "--reason", "incident 42")
    assert manual.exit_code == 0, manual.output

    next_period = (now.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=1, second=0, microsecond=0
    )
    lifted = _enforce(next_period)
    _transcript(f"enforcer at {next_period:%Y-%m-%dT%H:%M:%SZ} (the next period)", lifted)
    assert {(a["tenant"], a["action"]) for a in lifted} == {
        ("alpha", "unblock"),
        ("carol", "lift-downgrade"),
    }
    assert _answered(_invoke(registry, "alpha"))
    assert _answered(_invoke(registry, "carol", SONNET))
    assert BLOCK_POLICY_NAME in _policies("bravo")
    assert not _answered(_invoke(registry, "bravo"))
    unblocked = _tenantctl(registry, "unblock", "--tenant", "bravo")
    assert unblocked.exit_code == 0, unblocked.output
    assert _answered(_invoke(registry, "bravo"))
