"""`tenantctl import`: many tenants from a YAML or CSV file, in one validated write."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from contracts.registry import load_registry
from tests.conftest import ROOT
from tests.support.cli_fixtures import Cli

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_csv_onboards_every_row_as_onboard_would(
    cli: Cli, registry_path: Path, tmp_path: Path
) -> None:
    before = registry_path.read_text()
    csv = _file(tmp_path, "tenants.csv",
                "id,account,region,models,log_content\n"
                f"initech,444444444444,eu-west-1,{HAIKU};{SONNET},full\n"
                f"hooli,555555555555,us-east-1,{SONNET} {HAIKU},\n"
                "umbrella,666666666666,us-east-1,,\n")  # fmt: skip

    result = cli("import", str(csv))

    assert result.exit_code == 0, result.output
    after = registry_path.read_text()
    assert after.startswith(before)  # comments, quoting and order of what was there survive
    registry = load_registry(registry_path)
    assert [t.id for t in registry.tenants] == ["acme", "globex", "initech", "hooli", "umbrella"]
    initech, hooli, umbrella = (registry.tenant(t) for t in ("initech", "hooli", "umbrella"))
    assert initech.models == (HAIKU, SONNET)
    assert initech.log_content.value == "full"
    assert hooli.models == (SONNET, HAIKU)
    assert umbrella.models == registry.defaults.models
    # Placement and ExternalIds recorded as onboard records them.
    assert [spec.shard for spec in registry.tenants[2:]] == [0, 0, 0]
    assert re.fullmatch(r"hooli-[0-9a-f]{16}", hooli.external_id)
    added = after[len(before) :]
    assert added.startswith(
        '  - id: initech\n    account_id: "444444444444"\n    region: eu-west-1\n'
    )
    assert "imported 3 tenants" in result.stdout
    assert f"tenantctl --registry {registry_path} deploy --all --changed" in result.stdout


def test_a_yaml_file_keeps_its_external_ids_and_settings(
    cli: Cli, registry_path: Path, tmp_path: Path
) -> None:
    yaml = _file(tmp_path, "more.yaml",
                 "# from the inventory\n"
                 "tenants:\n"
                 "  - id: initech\n"
                 "    account: '044444444444'\n"
                 "    region: eu-west-1\n"
                 "    external_id: initech-from-the-inventory\n"
                 "    alarms: {email: ops@initech.example}\n"
                 "    snap_start: true\n")  # fmt: skip

    result = cli("import", str(yaml))

    assert result.exit_code == 0, result.output
    initech = load_registry(registry_path).tenant("initech")
    assert initech.account_id == "044444444444"
    assert initech.external_id == "initech-from-the-inventory"
    assert initech.alarms.email == "ops@initech.example"
    assert initech.snap_start is True


def test_every_bad_csv_row_is_reported_with_its_line_and_nothing_is_written(
    cli: Cli, registry_path: Path, tmp_path: Path
) -> None:
    before = registry_path.read_bytes()
    csv = _file(tmp_path, "tenants.csv",
                "id,account_id,region,log_content,snap_start\n"
                "fine,444444444444,us-east-1,,\n"
                "short,1234,us-east-1,,\n"
                "acme,555555555555,us-east-1,,\n"
                "fine,666666666666,us-east-1,,\n"
                "chatty,777777777777,us-east-1,everything,\n"
                "\n"
                "snappy,888888888888,us-east-1,,maybe\n"
                "ops,111111111111,us-east-1,,\n")  # fmt: skip

    result = cli("import", str(csv))

    assert result.exit_code == 2
    assert registry_path.read_bytes() == before
    assert result.stderr.splitlines() == [
        "error: tenants.csv:8: snap_start: must be true or false, not 'maybe'",
    ]
    # With the cell fixed, every other row's problem is reported at once, in line order.
    csv.write_text(csv.read_text().replace("maybe", "true"))
    result = cli("import", str(csv))
    assert result.exit_code == 2
    assert registry_path.read_bytes() == before
    assert result.stderr.splitlines() == [
        "error: tenants.csv:3: account_id: must be 12 digits",
        "error: tenants.csv:4: id: acme is already tenants[0] ('acme') in the registry",
        "error: tenants.csv:5: id: fine is already on line 2",
        "error: tenants.csv:6: log_content: Input should be 'metadata', 'redacted' or 'full'",
        "error: tenants.csv:9: account_id: is an operations account; a tenant needs its own "
        "account",
    ]


def test_bad_yaml_entries_are_reported_at_the_line_of_their_field(
    cli: Cli, registry_path: Path, tmp_path: Path
) -> None:
    before = registry_path.read_bytes()
    yaml = _file(tmp_path, "more.yaml",
                 "- id: initech\n"
                 "  account_id: '444444444444'\n"
                 "  region: mars-north-1\n"
                 "- id: hooli\n"
                 "  account_id: '555555555555'\n"
                 "  region: us-east-1\n"
                 "  colour: green\n")  # fmt: skip

    result = cli("import", str(yaml))

    assert result.exit_code == 2
    assert registry_path.read_bytes() == before
    [region, colour] = result.stderr.splitlines()
    assert region.startswith("error: more.yaml:3: region: ")
    assert colour.startswith("error: more.yaml:7: colour: unknown key")


def test_an_unknown_csv_column_is_named_at_the_header(cli: Cli, tmp_path: Path) -> None:
    csv = _file(tmp_path, "t.csv", "id,account_id,region,colour\nx1,444444444444,us-east-1,red\n")

    result = cli("import", str(csv))

    assert result.exit_code == 2
    assert result.stderr.startswith("error: t.csv:1: colour: unknown column (allowed: account, id,")


def test_dry_run_prints_the_tenants_and_their_places_and_writes_nothing(
    cli: Cli, registry_path: Path, tmp_path: Path
) -> None:
    before = registry_path.read_bytes()
    csv = _file(tmp_path, "t.csv", "id,account_id,region\ninitech,444444444444,eu-west-1\n")

    result = cli("import", str(csv), "--dry-run")

    assert result.exit_code == 0, result.output
    assert registry_path.read_bytes() == before
    assert "would add 1 tenants" in result.stdout
    assert re.search(
        r"^  initech: account 444444444444, eu-west-1, operations primary/0, "
        r"ExternalId initech-[0-9a-f]{16}$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout


def test_each_row_is_placed_seeing_the_rows_before_it(
    cli: Cli, registry_path: Path, tmp_path: Path
) -> None:
    rows = "".join(f"t{i:03d},{400000000000 + i},us-east-1\n" for i in range(160))
    csv = _file(tmp_path, "t.csv", "id,account_id,region\n" + rows)

    result = cli("import", str(csv))

    assert result.exit_code == 0, result.output
    shards = load_registry(registry_path).shards()
    # acme and globex, then 148 rows fill shard 0; the other 12 open shard 1.
    assert [len(tenants) for tenants in shards.values()] == [150, 12]


def test_a_thousand_rows_import_in_well_under_ten_seconds(tmp_path: Path) -> None:
    registry = tmp_path / "tenants.yaml"
    YAML().dump(
        {
            "operations": {"account_id": "111111111111", "region": "us-east-1"},
            "additional_operations": [
                {"name": "eu", "account_id": "888888888888", "region": "eu-west-1"}
            ],
            "tenants": [],
        },
        registry,
    )
    rows = "".join(f"t{i:04d},{400000000000 + i},us-east-1\n" for i in range(1000))
    csv = _file(tmp_path, "t.csv", "id,account_id,region\n" + rows)

    started = time.monotonic()
    result = Cli(registry)("import", str(csv))
    elapsed = time.monotonic() - started

    assert result.exit_code == 0, result.output
    assert elapsed < 10, f"{elapsed:.1f}s"
    imported = load_registry(registry)
    accounts = [t.operations_account for t in imported.resolved_tenants()]
    # The first account takes its role quota: 993 invokers and 7 guards (one per shard);
    # the rest go to the next one, recorded as onboard records them.
    assert (accounts.count("primary"), accounts.count("eu")) == (993, 7)
    assert imported.roles_in("primary") == 1000
    assert all(spec.operations_account is not None for spec in imported.tenants)


@pytest.mark.parametrize("kind", ["csv", "yaml"])
def test_the_import_examples_in_the_docs_import(
    cli: Cli, registry_path: Path, tmp_path: Path, kind: str
) -> None:
    doc = (ROOT / "docs" / "registry.md").read_text()
    match = re.search(rf"<!-- import-example: {kind} -->\n```{kind}\n(.*?)```", doc, re.DOTALL)
    assert match, f"docs/registry.md has no {kind} import example"
    example = _file(tmp_path, f"tenants.{kind}", match[1])

    result = cli("import", str(example))

    assert result.exit_code == 0, result.output
    registry = load_registry(registry_path)
    assert [t.id for t in registry.tenants][-2:] == ["initech", "hooli"]
    assert registry.tenant("hooli").account_id == "055555555555"
