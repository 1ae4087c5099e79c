"""Every error the CLI reports is one line, `error: <option>: <what is wrong>`, never a panel.

Typer finds some errors while parsing, before a command runs (a value that is
not an integer, a choice not offered, a path that is a directory, an unknown
option); the app reports those in the same one-line form as the commands' own
checks, for every command, including the ones that edit the registry.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantctl.cli import app
from tests.support.cli_fixtures import Cli


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("onboard", "--retention-days", "abc"),
         "error: --retention-days: input should be a valid integer, unable to parse string as "
         "an integer"),
        (("update", "--retention-days", "abc"),
         "error: --retention-days: input should be a valid integer, unable to parse string as "
         "an integer"),
        (("usage", "--tenant", "acme", "--chart", "/"), "error: --chart: file '/' is a directory"),
        (("deploy", "--concurrency", "many"),
         "error: --concurrency: input should be a valid integer, unable to parse string as an "
         "integer"),
        (("logs", "--tenant", "acme", "--nope"), "error: --nope: no such option"),
        (("logs", "--tenant", "acme", "--sinse", "1h"),
         "error: --sinse: no such option (did you mean --since?)"),
        (("--registry",), "error: --registry: requires an argument"),
        (("logs", "--tenant"), "error: --tenant: requires an argument"),
        (("invoke", "--tenant", "acme"), "error: --prompt: missing; this command needs it"),
        (("usage",), "error: --tenant: missing; this command needs it"),
        (("nosuchcommand",), "error: no such command 'nosuchcommand'"),
    ],
)  # fmt: skip
def test_a_parsing_error_is_one_line_naming_the_option(
    cli: Cli, registry_path: Path, args: tuple[str, ...], line: str
) -> None:
    before = registry_path.read_bytes()

    result = cli(*args)

    assert result.exit_code == 2
    assert result.stderr == line + "\n"
    assert result.stdout == ""
    assert registry_path.read_bytes() == before


def test_a_global_option_error_is_one_line_too(cli: Cli, tmp_path: Path) -> None:
    result = cli("--registry", str(tmp_path), "list")

    assert result.exit_code == 2
    assert result.stderr == f"error: --registry: file '{tmp_path}' is a directory\n"


def test_an_unknown_option_suggests_only_the_current_spellings(cli: Cli) -> None:
    result = cli("logs", "--tenant", "acme", "--tenant-prof", "p")

    assert result.stderr == (
        "error: --tenant-prof: no such option (did you mean --tenant-profile or --tenant?)\n"
    )
    assert cli("logs", "--tenant", "acme", "--profil", "p").stderr == (
        "error: --profil: no such option\n"
    )


def test_tenantctl_alone_prints_its_help() -> None:
    result = CliRunner().invoke(app, [])

    assert "Usage:" in result.output
    assert "onboard" in result.output and "usage" in result.output
