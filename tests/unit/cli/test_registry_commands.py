"""onboard, offboard, list and validate against a private copy of the registry."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from contracts.registry import RegistryIssue, load_registry
from tenantctl.cli.registry_commands import _onboard_issue
from tests.conftest import EXAMPLE_REGISTRY
from tests.support.cli_fixtures import Cli

INITECH = ("onboard", "--tenant", "initech", "--account", "444444444444", "--region", "eu-west-1")


def _tmp_files(directory: Path) -> list[str]:
    # The lock file stays (removing a flock file races with its next holder); git
    # ignores it. Anything else would be a half-written or leftover copy.
    kept = {"tenants.yaml", ".tenants.yaml.lock"}
    return sorted(p.name for p in directory.iterdir() if p.name not in kept)


# --- onboard -------------------------------------------------------------------------------


def test_onboard_appends_the_tenant_and_keeps_every_comment_and_key_order(
    cli: Cli, registry_path: Path
) -> None:
    before = registry_path.read_text()

    result = cli(*INITECH, "--models", "anthropic.claude-3-haiku-20240307-v1:0",
                 "--log-content", "full", "--retention-days", "30")  # fmt: skip

    assert result.exit_code == 0, result.output
    after = registry_path.read_text()
    # The old file is an untouched prefix: comments, quoting and order survive.
    assert after.startswith(before)
    added = after[len(before) :]
    assert re.fullmatch(
        r'  - id: initech\n    account_id: "444444444444"\n    region: eu-west-1\n'
        r"    external_id: initech-[0-9a-f]{16}\n    shard: 0\n"
        r"    models:\n      - anthropic\.claude-3-haiku-20240307-v1:0\n"
        r"    log_content: full\n    log_retention_days: 30\n",
        added,
    ), added
    tenant = load_registry(registry_path).tenant("initech")
    assert tenant.log_retention_days == 30
    assert tenant.external_id in result.stdout
    # One deploy path: the fleet deploy, never a raw `npx cdk` of its own.
    assert f"tenantctl --registry {cli.registry} deploy --tenant initech" in result.stdout
    assert "npx cdk" not in result.stdout


def test_onboard_prints_the_deploy_command_with_the_given_profiles(cli: Cli) -> None:
    result = cli(*INITECH, "--ops-profile", "ops-admin", "--tenant-profile", "initech-admin")

    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert (
        f"tenantctl --registry {cli.registry} deploy --tenant initech --ops-profile ops-admin "
        "--tenant-profile initech-admin"
    ) in lines


def test_the_tenant_as_an_argument_still_works_with_a_deprecation_line(
    cli: Cli, registry_path: Path
) -> None:
    result = cli("onboard", "initech", "--account", "444444444444", "--region", "eu-west-1",
                 "--profile", "initech-admin")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: the tenant id as an argument is deprecated; use --tenant",
        "warning: --profile is deprecated; use --tenant-profile",
    ]
    assert "--tenant-profile initech-admin" in result.stdout
    assert load_registry(registry_path).tenant("initech").region == "eu-west-1"


def test_onboard_gives_each_tenant_a_fresh_external_id(cli: Cli, registry_path: Path) -> None:
    assert cli(*INITECH).exit_code == 0
    assert (
        cli(
            "onboard", "--tenant", "hooli", "--account", "555555555555", "--region", "us-east-1"
        ).exit_code
        == 0
    )

    ids = [t.external_id for t in load_registry(registry_path).resolved_tenants()]
    assert len(set(ids)) == len(ids)
    assert re.fullmatch(r"hooli-[0-9a-f]{16}", ids[-1])


def test_onboard_rerun_with_same_arguments_changes_nothing_and_says_so(
    cli: Cli, registry_path: Path
) -> None:
    assert cli(*INITECH, "--retention-days", "30").exit_code == 0
    after_first = registry_path.read_bytes()
    external_id = load_registry(registry_path).tenant("initech").external_id

    result = cli(*INITECH, "--retention-days", "30")

    assert result.exit_code == 0, result.output
    assert "already onboarded with these settings: nothing changed" in result.stdout
    assert external_id in result.stdout
    assert registry_path.read_bytes() == after_first


def test_onboard_rerun_for_an_existing_tenant_with_its_effective_settings_is_a_no_op(
    cli: Cli, registry_path: Path
) -> None:
    before = registry_path.read_bytes()

    result = cli("onboard", "--tenant", "globex", "--account", "333333333333", "--region", "us-west-2",
                 "--log-content", "redacted", "--retention-days", "365")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "nothing changed (ExternalId globex-9a1b3c5d7e2f4a6b kept)" in result.stdout
    assert registry_path.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--account", "999999999999", "--region", "us-west-2"),
         "error: tenants[1].account_id: tenant 'globex' is already onboarded with account_id "
         "333333333333 (asked for 999999999999)"),
        (("--account", "333333333333", "--region", "eu-west-1"),
         "error: tenants[1].region: tenant 'globex' is already onboarded with region us-west-2 "
         "(asked for eu-west-1)"),
        (("--account", "333333333333", "--region", "us-west-2", "--log-content", "full"),
         "error: tenants[1].log_content: tenant 'globex' is already onboarded with log_content "
         "redacted (asked for full)"),
    ],
)  # fmt: skip
def test_onboard_conflicting_rerun_is_refused_naming_the_field(
    cli: Cli, registry_path: Path, args: tuple[str, ...], message: str
) -> None:
    before = registry_path.read_bytes()

    result = cli("onboard", "--tenant", "globex", *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert registry_path.read_bytes() == before


OK = ("--account", "444444444444", "--region", "eu-west-1")


@pytest.mark.parametrize(
    ("args", "errors"),
    [
        (("initech", "--account", "12345", "--region", "eu-west-1"),
         ["--account: must be 12 digits"]),
        (("initech", "--account", "444444444444", "--region", "Europe"),
         ["--region: 'Europe' is not an AWS region name (like us-east-1)"]),
        # The ExternalId generated from a bad id is bad too; only the id is reported.
        (("Initech!", *OK),
         ["--tenant: must be lowercase letters, digits and hyphens, starting and ending with "
          "a letter or digit"]),
        (("initech", *OK, "--models", "gpt-4"),
         ["--models: 'gpt-4' is not a Bedrock model id ("]),
        # One of several models, and a message that does not quote it: the option names it.
        (("initech", *OK, "--models", "anthropic.claude-3-haiku-20240307-v1:0",
          "--models", "eu.anthropic.claude-3-haiku-20240307-v1:0"),
         ["--models eu.anthropic.claude-3-haiku-20240307-v1:0: inference profile 'eu.' is not "
          "offered in the operations region us-east-1 (its regions: "]),
        (("initech", *OK, "--log-content", "everything"),
         ["--log-content: 'everything' is not one of 'metadata', 'redacted', 'full'"]),
        (("initech", *OK, "--retention-days", "42"),
         ["--retention-days: 42 is not accepted by CloudWatch Logs; use one of 1, 3, "]),
        (("initech", "--account", "222222222222", "--region", "eu-west-1"),
         ["--account: account 222222222222 is already used by tenant 'acme' (tenants[0])"]),
        (("initech", "--account", "111111111111", "--region", "eu-west-1"),
         ["--account: is an operations account; a tenant needs its own account"]),
        (("initech", "--account", "12", "--region", "Europe", "--retention-days", "42"),
         ["--account: must be 12 digits",
          "--region: 'Europe' is not an AWS region name (like us-east-1)",
          "--retention-days: 42 is not accepted by CloudWatch Logs; "]),
    ],
)  # fmt: skip
def test_onboard_invalid_input_names_the_option_and_leaves_the_file_untouched(
    cli: Cli, registry_path: Path, args: tuple[str, ...], errors: list[str]
) -> None:
    """Each error line starts with ``error: `` and the expected text, in order.

    Expected texts that end before the message does stop where the rest is the
    registry's own knowledge (model id examples, accepted retention values).
    """
    before = registry_path.read_bytes()

    result = cli("onboard", "--tenant", *args)

    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == len(errors), lines
    for line, expected in zip(lines, errors, strict=True):
        assert line.startswith(f"error: {expected}"), line
    assert result.stdout == ""
    assert registry_path.read_bytes() == before
    assert _tmp_files(registry_path.parent) == []


def test_onboard_issue_outside_the_new_entry_keeps_its_registry_path(
    cli: Cli, registry_path: Path
) -> None:
    # A registry at the account's role quota is valid; one more tenant is an issue
    # of the list as a whole, not of anything the user typed.
    text = registry_path.read_text().replace(
        "  region: us-east-1            # Bedrock is called here\n",
        "  region: us-east-1            # Bedrock is called here\n  iam_role_quota: 3\n",
    )
    registry_path.write_text(text)
    assert len(load_registry(registry_path).tenants) == 2  # + one guard role = 3
    before = registry_path.read_bytes()

    result = cli(*INITECH)

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "error: tenants: 4 IAM roles (3 invoker roles and 1 guard roles) exceed "
        "operations.iam_role_quota 3 of account 111111111111; raise the quota (up to 5,000) "
        "or move tenants to another operations account"
    ]
    assert registry_path.read_bytes() == before


def test_onboard_records_the_first_shard_with_room_and_never_moves_a_tenant(
    cli: Cli, registry_path: Path
) -> None:
    text = registry_path.read_text().replace(
        "  region: us-east-1            # Bedrock is called here\n",
        "  region: us-east-1            # Bedrock is called here\n  shard_capacity: 2\n",
    )
    registry_path.write_text(text)  # shard 0 holds acme and globex: full

    result = cli(*INITECH)

    assert result.exit_code == 0, result.output
    registry = load_registry(registry_path)
    assert {t.id: t.shard for t in registry.resolved_tenants()} == {
        "acme": 0,
        "globex": 0,
        "initech": 1,
    }
    assert "deploy --tenant initech" in result.stdout
    # Offboarding acme frees a place in shard 0; the next tenant takes it and
    # initech stays in shard 1.
    assert cli("offboard", "--tenant", "acme", "--yes").exit_code == 0
    assert (
        cli(
            "onboard", "--tenant", "hooli", "--account", "555555555555", "--region", "us-east-1"
        ).exit_code
        == 0
    )
    shards = {t.id: t.shard for t in load_registry(registry_path).resolved_tenants()}
    assert shards == {"globex": 0, "initech": 1, "hooli": 0}


def test_onboard_issue_names_the_tenant_a_clash_is_with() -> None:
    registry = load_registry(EXAMPLE_REGISTRY)
    issue = RegistryIssue(path="tenants[2].account_id", message="used by tenants[1] and tenants[9]")

    assert _onboard_issue(issue, 2, {}, registry) == (
        "--account: used by tenant 'globex' (tenants[1]) and tenants[9]"
    )


def test_onboard_without_required_options_is_a_usage_error(cli: Cli, registry_path: Path) -> None:
    before = registry_path.read_bytes()

    result = cli("onboard", "--tenant", "initech", "--region", "eu-west-1")

    assert result.exit_code == 2
    assert "--account" in result.output
    assert registry_path.read_bytes() == before


def test_onboard_refuses_when_the_registry_is_already_invalid(
    cli: Cli, registry_path: Path
) -> None:
    registry_path.write_text(registry_path.read_text().replace('"333333333333"', '"33"'))
    before = registry_path.read_bytes()

    result = cli(*INITECH)

    assert result.exit_code == 2
    assert "error: tenants[1].account_id: must be 12 digits" in result.stderr
    assert registry_path.read_bytes() == before


def test_interrupted_write_leaves_the_old_registry_and_no_temp_file(
    cli: Cli, registry_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = registry_path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    result = cli(*INITECH)

    assert result.exit_code == 1
    assert "error: " in result.stderr
    assert "Traceback" not in result.output
    assert registry_path.read_bytes() == before
    assert _tmp_files(registry_path.parent) == []


def test_onboard_refuses_to_overwrite_a_concurrent_edit(
    cli: Cli, registry_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenantctl import registry_file

    real_add = registry_file.RegistryFile.add_tenant

    def add_then_someone_edits(self: registry_file.RegistryFile, entry: dict[str, object]):  # type: ignore[no-untyped-def]
        edit = real_add(self, entry)
        registry_path.write_text(self.text + "# edited by hand meanwhile\n")
        return edit

    monkeypatch.setattr(registry_file.RegistryFile, "add_tenant", add_then_someone_edits)
    result = cli(*INITECH)

    assert result.exit_code == 1
    assert "changed while it was being edited" in result.stderr
    assert registry_path.read_text().endswith("# edited by hand meanwhile\n")


def test_unreadable_registry_is_one_error_line(tmp_path: Path) -> None:
    result = Cli(tmp_path / "missing.yaml")("list")

    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: cannot read ")
    assert len(result.stderr.strip().splitlines()) == 1


# --- offboard ------------------------------------------------------------------------------


def test_offboard_removes_the_tenant_and_explains_what_remains(
    cli: Cli, registry_path: Path
) -> None:
    before = registry_path.read_text()

    result = cli("offboard", "--tenant", "acme", "--yes", "--tenant-profile", "acme-admin")

    assert result.exit_code == 0, result.output
    registry = load_registry(registry_path)
    assert [t.id for t in registry.tenants] == ["globex"]
    # Only acme's lines went; every comment and the other tenant are unchanged.
    acme_block = before[before.index("  - id: acme") : before.index("  - id: globex")]
    assert registry_path.read_text() == before.replace(acme_block, "")
    out = " ".join(result.stdout.split())
    assert f"tenantctl --registry {cli.registry} deploy --all --changed" in out
    assert "deletes the role bedrock-invoker-acme" in out
    assert (
        "aws cloudformation delete-stack --stack-name BedrockCustomer-acme --region us-east-1 "
        "--profile acme-admin" in out
    )
    assert "tenantctl offboard --tenant acme --deploy` does both" in out
    assert (
        "Retained in account 222222222222: the usage log group /aws/bedrock/langchain/logs "
        "and its KMS key" in out
    )


def test_offboard_asks_first_and_no_means_nothing_changes(cli: Cli, registry_path: Path) -> None:
    before = registry_path.read_bytes()

    result = cli("offboard", "--tenant", "acme", input="n\n")

    assert "Remove tenant 'acme' (account 222222222222, us-east-1)" in result.stdout
    assert result.exit_code == 1
    assert "error: aborted: nothing changed" in result.stderr
    assert registry_path.read_bytes() == before


def test_offboard_confirmed_interactively(cli: Cli, registry_path: Path) -> None:
    result = cli("offboard", "--tenant", "globex", input="y\n")

    assert result.exit_code == 0, result.output
    assert [t.id for t in load_registry(registry_path).tenants] == ["acme"]


def test_offboard_unknown_tenant_names_the_known_ones(cli: Cli, registry_path: Path) -> None:
    before = registry_path.read_bytes()

    result = cli("offboard", "--tenant", "initech", "--yes")

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --tenant: unknown tenant 'initech' (known: acme, globex)"
    )
    assert registry_path.read_bytes() == before


def test_offboard_keeps_the_comments_of_neighbouring_tenants(cli: Cli, registry_path: Path) -> None:
    text = registry_path.read_text()
    text = text.replace("  - id: acme", "  # Acme: the first customer\n  - id: acme")
    text = text.replace("  - id: globex", "  # Globex: pilot, redacted logs\n  - id: globex")
    registry_path.write_text(text)

    assert cli("offboard", "--tenant", "acme", "--yes").exit_code == 0

    after = registry_path.read_text()
    assert "# Acme: the first customer" not in after
    assert "  # Globex: pilot, redacted logs\n  - id: globex" in after
    assert "# owns Bedrock model access and quota" in after


# --- list / validate -----------------------------------------------------------------------


def test_list_shows_effective_settings(cli: Cli) -> None:
    result = cli("list")

    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "222222222222" in rows["acme"] and "metadata" in rows["acme"] and "90" in rows["acme"]
    assert "us.anthropic.claude-3-5-haiku-20241022-v1:0" in rows["acme"]  # one line per tenant
    assert "redacted" in rows["globex"] and "365" in rows["globex"]
    # globex inherits the default model; both sit in the first operations account's shard 0
    assert "anthropic.claude-3-haiku-20240307-v1:0" in rows["globex"]
    assert "primary/0" in rows["globex"] and "api" in rows["globex"]


def test_list_at_80_columns_shows_every_id_and_account_whole(registry_path: Path) -> None:
    from typer.testing import CliRunner

    from tenantctl.cli import app

    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        app, ["--registry", str(registry_path), "list"]
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    for tenant_id, account in (("acme", "222222222222"), ("globex", "333333333333")):
        assert any(line.split()[:3] == [tenant_id, "account", account] for line in lines), lines
    # A few lines a tenant (not one per model id), and nothing is cut.
    assert len(lines) <= 8, lines
    assert "us.anthropic.claude-3-5-haiku-20241022-v1:0" in result.stdout.replace("\n", "")


def test_list_json(cli: Cli) -> None:
    result = cli("list", "--format", "json")

    assert result.exit_code == 0
    tenants = json.loads(result.stdout)
    assert [t["id"] for t in tenants] == ["acme", "globex"]
    globex = tenants[1]
    assert {k: globex[k] for k in (
        "id", "account_id", "region", "operations_account", "operations_account_id", "shard",
        "models", "log_content", "log_retention_days", "usage_sink", "snap_start",
        "application_inference_profiles", "cost_centre", "function_name", "stack_name",
        "operations_stack_name",
    )} == {
        "id": "globex",
        "account_id": "333333333333",
        "region": "us-west-2",
        "operations_account": "primary",
        "operations_account_id": "111111111111",
        "shard": 0,
        "models": ["anthropic.claude-3-haiku-20240307-v1:0"],
        "log_content": "redacted",
        "log_retention_days": 365,
        "usage_sink": "api",
        "snap_start": False,
        "application_inference_profiles": False,
        "cost_centre": None,
        "function_name": "bedrock-invoker-globex",
        "stack_name": "BedrockCustomer-globex",
        "operations_stack_name": "BedrockOperations",
    }  # fmt: skip
    # Every setting of the contract is there, whatever is added later.
    from contracts.tenant_settings import TenantSettings

    assert set(TenantSettings.model_fields) <= set(globex)


def test_list_bad_format(cli: Cli) -> None:
    result = cli("list", "--format", "xml")

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --format: 'xml' is not one of 'table', 'json'"


def test_validate_ok(cli: Cli) -> None:
    result = cli("validate")

    assert result.exit_code == 0
    assert "valid (2 tenants)" in result.stdout


def test_validate_prints_every_issue(cli: Cli, registry_path: Path) -> None:
    text = registry_path.read_text().replace('"222222222222"', '"2222"')
    registry_path.write_text(text.replace("log_retention_days: 365", "log_retention_days: 42"))
    before = registry_path.read_bytes()

    result = cli("validate")

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert "error: tenants[0].account_id: must be 12 digits" in lines
    assert any(line.startswith("error: tenants[1].log_retention_days: 42 is not") for line in lines)
    assert "Traceback" not in result.output
    assert registry_path.read_bytes() == before


def test_debug_shows_the_traceback(cli: Cli, registry_path: Path) -> None:
    registry_path.write_text("tenants: [")
    result = Cli(registry_path)("--debug", "validate")
    assert result.exit_code != 0
    assert result.exception is not None


# --- update ----------------------------------------------------------------------------------


def test_update_changes_models_in_place_and_names_both_stacks_to_redeploy(
    cli: Cli, registry_path: Path
) -> None:
    before = registry_path.read_text()

    result = cli("update", "--tenant", "globex", "--models", "anthropic.claude-3-haiku-20240307-v1:0",
                 "--models", "us.anthropic.claude-3-5-haiku-20241022-v1:0")  # fmt: skip

    assert result.exit_code == 0, result.output
    globex = load_registry(registry_path).tenant("globex")
    assert globex.models == (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    )
    assert globex.external_id == "globex-9a1b3c5d7e2f4a6b"  # never regenerated
    after = registry_path.read_text()
    # Every comment of the file survives the edit.
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == [
        line for line in after.splitlines() if line.lstrip().startswith("#")
    ]
    lines = result.stdout.splitlines()
    assert "  models: anthropic.claude-3-haiku-20240307-v1:0 -> " in lines[0]
    assert "redeploy BedrockOperations and BedrockCustomer-globex" in lines[1]
    assert lines[2] == f"  tenantctl --registry {cli.registry} deploy --tenant globex --changed"


def test_update_of_content_mode_needs_only_the_customer_stack(
    cli: Cli, registry_path: Path
) -> None:
    result = cli(
        "update", "--tenant", "acme", "--log-content", "redacted", "--retention-days", "30"
    )

    assert result.exit_code == 0, result.output
    acme = load_registry(registry_path).tenant("acme")
    assert (acme.log_content.value, acme.log_retention_days) == ("redacted", 30)
    assert "redeploy BedrockCustomer-acme (" in result.stdout
    assert "BedrockOperations" not in result.stdout


def test_update_refuses_bad_input_naming_the_option_and_writes_nothing(
    cli: Cli, registry_path: Path
) -> None:
    before = registry_path.read_bytes()
    update = ("update", "--tenant", "acme")
    cases = {
        (*update, "--retention-days", "31"): "error: --retention-days: 31 is not",
        (*update, "--retention-days", "abc"): "error: --retention-days: input should be a valid",
        (*update, "--log-content", "some"): "error: --log-content: 'some' is not one of",
        (*update, "--models", "gpt-4"): "error: --models: 'gpt-4' is not a Bedrock",
        ("update", "--tenant", "nobody", "--log-content", "full"): (
            "error: --tenant: unknown tenant 'nobody'"
        ),
        update: "error: --models / --log-content / --usage-sink",
        (*update, "--usage-sink", "kinesis"): "error: --usage-sink: 'kinesis' is not one of",
        (*update, "--cost-centre", "a;b"): "error: --cost-centre: must be 1-256",
        (*update, "--cost-centre", "   "): "error: --cost-centre: must be 1-256",
        (*update, "--unset", "cost-centre", "--cost-centre", "x"): (
            "error: --unset cost-centre: also given a value"
        ),
        (*update, "--unset", "colour"): "error: --unset: 'colour' is not one of",
    }
    for args, message in cases.items():
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(message), (args, result.stderr)
        assert registry_path.read_bytes() == before


def test_update_of_sink_and_snap_start_needs_only_the_customer_stack(
    cli: Cli, registry_path: Path
) -> None:
    result = cli("update", "--tenant", "acme", "--usage-sink", "stdout", "--snap-start")

    assert result.exit_code == 0, result.output
    acme = load_registry(registry_path).tenant("acme")
    assert (acme.usage_sink.value, acme.snap_start) == ("stdout", True)
    assert "redeploy BedrockCustomer-acme (" in result.stdout
    assert "BedrockOperations" not in result.stdout


def test_update_of_the_cost_centre_needs_only_the_operations_stack(
    cli: Cli, registry_path: Path
) -> None:
    result = cli("update", "--tenant", "acme", "--cost-centre", "CC-42 research")

    assert result.exit_code == 0, result.output
    assert load_registry(registry_path).tenant("acme").cost_centre == "CC-42 research"
    assert "redeploy BedrockOperations (" in result.stdout
    assert "BedrockCustomer-acme" not in result.stdout


def test_a_cost_centre_can_be_removed_and_only_its_line_goes(cli: Cli, registry_path: Path) -> None:
    assert cli("update", "--tenant", "acme", "--cost-centre", "CC-42").exit_code == 0
    with_centre = registry_path.read_text()

    result = cli("update", "--tenant", "acme", "--unset", "cost-centre")

    assert result.exit_code == 0, result.output
    assert load_registry(registry_path).tenant("acme").cost_centre is None
    assert "  cost_centre: CC-42 -> None" in result.stdout
    assert "redeploy BedrockOperations (" in result.stdout
    removed = set(with_centre.splitlines()) - set(registry_path.read_text().splitlines())
    assert [line.strip() for line in removed] == ["cost_centre: CC-42"]


def test_update_turning_on_profiles_redeploys_operations_then_the_customer_stack(
    cli: Cli, registry_path: Path
) -> None:
    result = cli("update", "--tenant", "acme", "--inference-profiles")

    assert result.exit_code == 0, result.output
    assert load_registry(registry_path).tenant("acme").application_inference_profiles
    # Operations first: the customer's function reads the profiles that stack makes.
    assert "redeploy BedrockOperations and BedrockCustomer-acme (" in result.stdout


def test_update_with_the_same_settings_changes_nothing(cli: Cli, registry_path: Path) -> None:
    before = registry_path.read_bytes()
    result = cli("update", "--tenant", "acme", "--log-content", "metadata")
    assert result.exit_code == 0
    assert result.stdout.strip() == "tenant 'acme' already has these settings: nothing changed"
    assert registry_path.read_bytes() == before


def test_update_of_the_token_limit_needs_only_the_customer_stack(
    cli: Cli, registry_path: Path
) -> None:
    result = cli("update", "--tenant", "acme", "--max-tokens", "512")

    assert result.exit_code == 0, result.output
    assert load_registry(registry_path).tenant("acme").max_tokens == 512
    assert "redeploy BedrockCustomer-acme (" in result.stdout
    assert "BedrockOperations" not in result.stdout
    refused = cli("update", "--tenant", "acme", "--max-tokens", "0")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: --max-tokens: ")


def test_update_of_service_tiers_redeploys_both_stacks_and_retry_mode_only_the_customers(
    cli: Cli, registry_path: Path
) -> None:
    result = cli(
        "update", "--tenant", "acme", "--service-tiers", "flex", "--service-tiers", "default"
    )

    assert result.exit_code == 0, result.output
    assert [t.value for t in load_registry(registry_path).tenant("acme").service_tiers] == [
        "flex",
        "default",
    ]
    # The role's bedrock:ServiceTier condition and the function's tier.
    assert "BedrockOperations" in result.stdout and "BedrockCustomer-acme" in result.stdout
    retry = cli("update", "--tenant", "acme", "--retry-mode", "standard")
    assert retry.exit_code == 0, retry.output
    assert "BedrockOperations" not in retry.stdout
    refused = cli("update", "--tenant", "acme", "--service-tiers", "turbo")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: --service-tiers turbo: Input should be")
