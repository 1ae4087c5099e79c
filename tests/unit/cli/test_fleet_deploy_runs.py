"""``tenantctl deploy`` end to end with the CDK CLI replaced by a fake (no cloud, no Node).

The fake plays the CLI's part as the fleet calls it: ``synth`` writes a cloud
assembly of the templates the test holds (only those the app's ``stacks``
filter selects, as the app does), ``destroy`` records its stack and context, ``bootstrap`` and ``deploy`` succeed
unless the test made them fail (with output lines the real CLI prints) or
raise KeyboardInterrupt, as Ctrl-C does in the process running them. What the
tests check is the fleet's own part: which stacks each run deploys, what it
remembers, what it prints and how it exits.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from tenantctl import fleet, synth
from tenantctl.cdk_runner import DeployError
from tenantctl.cli import app, deploy_commands

# The module, not the Typer app the package exports under the same name.
cli_app = importlib.import_module("tenantctl.cli.app")

OPS = "111111111111"
ALPHA = "222222222222"
BETA = "333333333333"
# Long tenant ids make long stack names: at 80 columns they are what gets cut first.
TENANT_A = "alpha-research-division"
TENANT_B = "beta-manufacturing-plant"
OPERATIONS = "BedrockOperations"
CUSTOMER_A = f"BedrockCustomer-{TENANT_A}"
CUSTOMER_B = f"BedrockCustomer-{TENANT_B}"

# What the CDK CLI prints when CloudFormation cannot create a customer stack's log
# group (someone created it by hand), captured from `cdk deploy --progress events`.
LOG_GROUP_EXISTS = [
    f"{CUSTOMER_B}: deploying... [1/1]",
    f"{CUSTOMER_B}: creating CloudFormation changeset...",
    f"{CUSTOMER_B} | 0/7 | 7:41:10 PM | REVIEW_IN_PROGRESS   | AWS::CloudFormation::Stack | "
    f"{CUSTOMER_B} User Initiated",
    f"{CUSTOMER_B} | 0/7 | 7:41:11 PM | CREATE_IN_PROGRESS   | AWS::Logs::LogGroup        | "
    "UsageLogGroup (UsageLogGroup1F2ACD3E)",
    f"{CUSTOMER_B} | 0/7 | 7:41:12 PM | CREATE_FAILED        | AWS::Logs::LogGroup        | "
    'UsageLogGroup (UsageLogGroup1F2ACD3E) Resource handler returned message: "Resource of '
    "type 'AWS::Logs::LogGroup' with identifier '/aws/bedrock/usage' already exists.\" "
    "(RequestToken: 5d1c2e0a-0b7e-4c0e-9d43-3b0f6f1c8a11, HandlerErrorCode: AlreadyExists)",
    f"{CUSTOMER_B} | 0/7 | 7:41:12 PM | CREATE_FAILED        | AWS::IAM::Role             | "
    "FunctionRole (FunctionRole111A2B3C) Resource creation cancelled",
    f"{CUSTOMER_B} | 0/7 | 7:41:13 PM | ROLLBACK_IN_PROGRESS | AWS::CloudFormation::Stack | "
    f"{CUSTOMER_B} The following resource(s) failed to create: [UsageLogGroup1F2ACD3E, "
    "FunctionRole111A2B3C]. Rollback requested by user.",
    "",
    f" ❌  {CUSTOMER_B} failed: _ToolkitError: Deserialization error: to see the raw response, "
    "inspect the hidden field {error}.$response",
    "Deserialization error: to see the raw response, inspect the hidden field {error}.$response",
]


class FakeCdk:
    """``run_cdk`` as the fleet calls it, recording the stacks it deployed."""

    def __init__(self, templates: dict[str, dict[str, Any]]) -> None:
        self.templates = templates
        self.deployed: list[str] = []
        self.failing: dict[str, list[str]] = {}  # stack -> the CLI's output when it fails
        self.unbootstrappable: set[str] = set()  # accounts whose bootstrap fails
        self.interrupt_at: str | None = None  # the stack during which Ctrl-C comes
        self.synthesized: list[list[str]] = []  # each synth's stacks
        self.destroyed: list[tuple[str, dict[str, str]]] = []  # stack, context
        self._lock = threading.Lock()

    def __call__(
        self, args: Sequence[str], *, env: Mapping[str, str], cwd: Path, **_: Any
    ) -> list[str]:
        command = ["npx", "--no-install", "cdk", *args]
        context = dict(args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "-c")
        if args[0] == "synth":
            self._synth(Path(args[args.index("--output") + 1]), context.get("stacks"))
        elif args[0] == "destroy":
            self.destroyed.append((args[1], context))
        elif args[0] == "bootstrap":
            account = args[1].removeprefix("aws://").split("/")[0]
            if account in self.unbootstrappable:
                raise DeployError(command, 1, [f"❌ Environment {args[1]} failed bootstrapping"])
        elif args[0] == "deploy":
            stack = args[1]
            if stack == self.interrupt_at:
                raise KeyboardInterrupt
            if stack in self.failing:
                raise DeployError(command, 1, self.failing[stack])
            with self._lock:
                self.deployed.append(stack)
        return []

    def _synth(self, out_dir: Path, stacks: str | None) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        selected = [name for name in self.templates if not stacks or name in stacks.split(",")]
        with self._lock:
            self.synthesized.append(selected)
        artifacts = {}
        for name in selected:
            template = self.templates[name]
            (out_dir / f"{name}.template.json").write_text(json.dumps(template))
            artifacts[name] = {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": f"{name}.template.json"},
            }
        (out_dir / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))


def _template(marker: str) -> dict[str, Any]:
    return {"Resources": {"R": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": marker}}}}


@pytest.fixture
def cdk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeCdk:
    fake = FakeCdk({name: _template("v1") for name in (OPERATIONS, CUSTOMER_A, CUSTOMER_B)})
    for module in (fleet, synth, deploy_commands):
        monkeypatch.setattr(module, "run_cdk", fake)
    monkeypatch.chdir(tmp_path)  # the retry memory lives in ./.tenantctl
    return fake


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": OPS, "region": "us-east-1"},
            "tenants": [
                {"id": TENANT_A, "account_id": ALPHA, "region": "us-east-1",
                 "external_id": f"{TENANT_A}-ext"},
                {"id": TENANT_B, "account_id": BETA, "region": "us-east-1",
                 "external_id": f"{TENANT_B}-ext"},
            ],
        },
        path,
    )  # fmt: skip
    return path


def _deploy(registry: Path, *args: str, columns: int = 200) -> Any:
    return CliRunner(env={"COLUMNS": str(columns)}).invoke(
        app, ["--registry", str(registry), "deploy", *args]
    )


def test_a_stack_changed_since_a_failed_run_is_deployed_with_the_failed_one(
    cdk: FakeCdk, registry: Path
) -> None:
    cdk.failing[CUSTOMER_B] = LOG_GROUP_EXISTS
    first = _deploy(registry, "--all")
    assert first.exit_code == 1, first.output
    assert sorted(cdk.deployed) == sorted([OPERATIONS, CUSTOMER_A])

    # `tenantctl update` changed what the operations stack holds; the cause is fixed.
    cdk.templates[OPERATIONS] = _template("v2")
    del cdk.failing[CUSTOMER_B]
    cdk.deployed.clear()
    second = _deploy(registry, "--all")

    assert second.exit_code == 0, second.output
    assert sorted(cdk.deployed) == sorted([OPERATIONS, CUSTOMER_B])
    assert (
        "retrying the 1 stack(s) that failed last time and 1 changed, new or not deployed "
        "since; 1 deployed last time and unchanged: skipped" in second.stdout
    )
    assert "2 deployed, 0 unchanged, 0 failed, 0 skipped" in second.stdout
    # Every stack is deployed from what was synthesized: a clean slate for the next run.
    assert not (Path(".tenantctl") / fleet.STATE_FILE).exists()
    cdk.deployed.clear()
    assert _deploy(registry, "--all").exit_code == 0
    assert sorted(cdk.deployed) == sorted([OPERATIONS, CUSTOMER_A, CUSTOMER_B])


def test_ctrl_c_prints_what_was_deployed_remembers_it_and_a_rerun_deploys_the_rest(
    cdk: FakeCdk, registry: Path
) -> None:
    cdk.interrupt_at = CUSTOMER_A
    interrupted = _deploy(registry, "--all", "--concurrency", "1")

    assert interrupted.exit_code == 130
    assert f"{OPERATIONS}  " in interrupted.stdout or f"│ {OPERATIONS} " in interrupted.stdout
    assert "1 deployed, 0 unchanged, 0 failed, 0 skipped, 2 interrupted" in interrupted.stdout
    assert interrupted.stderr.startswith(
        f"error: interrupted: 2 stack(s) not deployed ({CUSTOMER_A}, {CUSTOMER_B})"
    )
    assert "run the same command again to deploy the rest" in interrupted.stderr
    record = json.loads((Path(".tenantctl") / fleet.STATE_FILE).read_text())
    assert {name: r["status"] for name, r in record["stacks"].items()} == {OPERATIONS: "deployed"}

    cdk.interrupt_at = None
    cdk.deployed.clear()
    resumed = _deploy(registry, "--all", "--concurrency", "1")
    assert resumed.exit_code == 0, resumed.output
    assert sorted(cdk.deployed) == sorted([CUSTOMER_A, CUSTOMER_B])


def test_ctrl_c_while_synthesizing_says_nothing_was_deployed(
    cdk: FakeCdk, registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted_synth(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(fleet, "synthesize", interrupted_synth)
    result = _deploy(registry, "--all")
    assert result.exit_code == 130
    assert result.stderr.startswith("error: interrupted before any stack was deployed")
    assert cdk.deployed == []


def test_a_failed_stack_shows_the_resource_that_failed_not_the_sdk_error(
    cdk: FakeCdk, registry: Path
) -> None:
    cdk.failing[CUSTOMER_B] = LOG_GROUP_EXISTS
    result = _deploy(registry, "--all")

    assert result.exit_code == 1
    assert (
        f"error: not deployed: {CUSTOMER_B}: CREATE_FAILED | AWS::Logs::LogGroup | UsageLogGroup "
        '(UsageLogGroup1F2ACD3E) Resource handler returned message: "Resource of type '
        "'AWS::Logs::LogGroup' with identifier '/aws/bedrock/usage' already exists.\""
    ) in result.stderr
    assert "Deserialization error" not in result.output


def test_without_a_resource_failure_the_last_error_line_is_shown(
    cdk: FakeCdk, registry: Path
) -> None:
    cdk.failing[CUSTOMER_B] = [
        f"{CUSTOMER_B}: deploying... [1/1]",
        f" ❌  {CUSTOMER_B} failed: AccessDenied: User is not authorized to perform "
        "cloudformation:CreateChangeSet",
        "",
    ]
    result = _deploy(registry, "--all")
    assert (
        f"{CUSTOMER_B}: ❌  {CUSTOMER_B} failed: AccessDenied: User is not authorized"
        in result.stderr
    )


def test_a_stack_whose_account_failed_to_bootstrap_has_failed_and_its_customers_are_skipped(
    cdk: FakeCdk, registry: Path
) -> None:
    cdk.unbootstrappable.add(OPS)
    result = _deploy(registry, "--all")

    assert result.exit_code == 1
    assert "0 deployed, 0 unchanged, 1 failed, 2 skipped" in result.stdout
    assert f"{OPERATIONS}: bootstrap: ❌ Environment aws://{OPS}/us-east-1 failed" in (
        result.stderr
    )
    assert f"{CUSTOMER_A}: its operations stack {OPERATIONS} did not deploy" in result.stderr


def test_at_80_columns_stack_names_and_accounts_are_whole_and_errors_stay_short(
    cdk: FakeCdk, registry: Path
) -> None:
    cdk.failing[CUSTOMER_B] = LOG_GROUP_EXISTS
    result = _deploy(registry, "--all", columns=80)

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    for stack, account in ((OPERATIONS, OPS), (CUSTOMER_A, ALPHA), (CUSTOMER_B, BETA)):
        assert any(stack in line and account in line for line in lines), (stack, lines)
    failed = next(i for i, line in enumerate(lines) if line.startswith(CUSTOMER_B))
    error = lines[failed + 1 : next(i for i, x in enumerate(lines) if " deployed, " in x)]
    # The ~250-character error folds over a few indented lines, not one word per line.
    assert error[0].startswith("  error: CREATE_FAILED | AWS::Logs::LogGroup"), lines
    assert 1 < len(error) <= 5 and all(x.startswith("  ") for x in error), lines


def test_a_wide_terminal_gets_one_line_per_stack_with_its_error(
    cdk: FakeCdk, registry: Path
) -> None:
    cdk.failing[CUSTOMER_B] = LOG_GROUP_EXISTS
    result = _deploy(registry, "--all", columns=200)
    table = result.stdout.splitlines()
    assert any("error" in line and "stack" in line for line in table)
    assert any(CUSTOMER_B in line and BETA in line and "CREATE_FAILED" in line for line in table)


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    monkeypatch.setattr(sys, "argv", ["tenantctl", *args])
    with pytest.raises(SystemExit) as exited:
        cli_app.main()
    return exited.value.code, capsys.readouterr()


def test_the_console_script_says_a_command_was_interrupted(
    registry: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def ctrl_c(_: Path) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_app, "load_registry", ctrl_c)
    code, printed = _main(monkeypatch, capsys, "--registry", str(registry), "list")
    assert code == 130
    assert printed.err == cli_app.INTERRUPTED + "\n"


def test_the_console_script_leaves_an_interrupted_deploy_its_own_message(
    cdk: FakeCdk,
    registry: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cdk.interrupt_at = CUSTOMER_A
    code, printed = _main(monkeypatch, capsys, "--registry", str(registry), "deploy", "--all")
    assert code == 130
    assert printed.err.startswith("error: interrupted: 2 stack(s) not deployed")
    assert cli_app.INTERRUPTED not in printed.err


def test_deploying_one_tenant_synthesizes_only_its_stack_and_its_operations_shard(
    cdk: FakeCdk, registry: Path
) -> None:
    result = _deploy(registry, "--tenant", TENANT_B)

    assert result.exit_code == 0, result.output
    assert cdk.synthesized == [[OPERATIONS, CUSTOMER_B]]
    assert f"synthesizing 2 of 3 stacks: {OPERATIONS}, {CUSTOMER_B}" in result.stdout
    assert sorted(cdk.deployed) == sorted([OPERATIONS, CUSTOMER_B])
    cdk.synthesized.clear()
    assert _deploy(registry, "--all").exit_code == 0
    assert cdk.synthesized == [[OPERATIONS, CUSTOMER_A, CUSTOMER_B]]


def test_dry_run_prints_each_stack_and_why_and_deploys_and_remembers_nothing(
    cdk: FakeCdk, registry: Path
) -> None:
    cdk.failing[CUSTOMER_B] = LOG_GROUP_EXISTS
    assert _deploy(registry, "--all").exit_code == 1
    record = (Path(".tenantctl") / fleet.STATE_FILE).read_text()
    cdk.deployed.clear()

    result = _deploy(registry, "--all", "--dry-run")

    assert result.exit_code == 0, result.output
    assert cdk.deployed == []
    assert (Path(".tenantctl") / fleet.STATE_FILE).read_text() == record
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "operations shard 0 of account primary, holds the roles of" in rows[OPERATIONS]
    assert "unchanged since the last run: skipped" in rows[OPERATIONS]
    assert f"customer stack of tenant {TENANT_A}" in rows[CUSTOMER_A]
    assert "deploy (failed last run)" in rows[CUSTOMER_B]
    assert "dry run: 1 of 3 stack(s) would be deployed; nothing deployed" in result.stdout


def test_dry_run_with_changed_says_what_the_deployed_templates_showed(
    cdk: FakeCdk, registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed = {OPERATIONS: _template("v1"), CUSTOMER_A: _template("v0")}
    monkeypatch.setattr(
        deploy_commands,
        "template_reader",
        lambda _cloud: lambda target: deployed.get(target.stack_name),
    )
    result = _deploy(registry, "--tenant", TENANT_A, "--changed", "--dry-run")

    assert result.exit_code == 0, result.output
    assert cdk.deployed == []
    assert cdk.synthesized == [[OPERATIONS, CUSTOMER_A]]
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert f"holds {TENANT_A}'s role" in rows[OPERATIONS]
    assert "--changed: same template as deployed: skipped" in rows[OPERATIONS]
    assert "--changed: template differs from the deployed one" in rows[CUSTOMER_A]
    assert not (Path(".tenantctl") / fleet.STATE_FILE).exists()


def test_offboarding_destroys_the_customer_stack_with_only_that_stack_synthesized(
    cdk: FakeCdk, registry: Path
) -> None:
    """``offboard --deploy``'s ``cdk destroy`` runs the app for the tenant's stack alone."""
    st = cli_app.State(registry_path=registry)
    tenant = st.load_registry().tenant(TENANT_B)
    deploy_commands.destroy_customer_stack(st, tenant, ops_profile=None, tenant_profile=None)
    assert [(stack, context["stacks"]) for stack, context in cdk.destroyed] == [
        (CUSTOMER_B, CUSTOMER_B)
    ]
