"""``tenantctl local up|down|status|env|deploy``: the embedded cloud's one command line."""

from __future__ import annotations

import shlex

import typer

from tenantctl.cli import local_cloud
from tenantctl.cli.app import app, say, state
from tenantctl.cli.errors import CliError

local_app = typer.Typer(
    help="Run the embedded cloud (no AWS account needed).", no_args_is_help=True
)
app.add_typer(local_app, name="local")


def _describe(info: dict[str, object]) -> str:
    accounts = info.get("accounts")
    ids = ", ".join(sorted(accounts)) if isinstance(accounts, dict) else "?"
    return f"embedded cloud at {info.get('endpoint_url')} (pid {info.get('pid')}); accounts: {ids}"


@local_app.command()
def up(ctx: typer.Context) -> None:
    """Start the embedded cloud in the background with the registry's accounts."""
    info = local_cloud.up(state(ctx).registry_path)
    say(_describe(info))
    say("next: tenantctl local deploy")


@local_app.command()
def down() -> None:
    """Stop the embedded cloud (everything deployed into it is gone)."""
    say("embedded cloud stopped" if local_cloud.down() else "no embedded cloud was running")


@local_app.command()
def status() -> None:
    """Show whether the embedded cloud runs, where, and which accounts it has (exit 1 if not)."""
    info = local_cloud.status()
    if info is None:
        raise CliError("the embedded cloud is not running: run tenantctl local up")
    say(_describe(info))


@local_app.command()
def deploy(ctx: typer.Context) -> None:
    """Bootstrap and deploy every stack of the registry into the embedded cloud.

    A tenant onboarded after ``local up`` lives in an account the cloud does
    not have yet; the cloud is then restarted with the registry's accounts
    (which resets it) and everything is deployed again.
    """
    registry_path = state(ctx).registry_path
    if local_cloud.status() is None:
        raise CliError("the embedded cloud is not running: run tenantctl local up")
    missing = local_cloud.missing_accounts(registry_path)
    if missing:
        say(
            f"restarting the embedded cloud to add account(s) {', '.join(missing)} "
            "(its state is reset; every stack is deployed again)"
        )
        local_cloud.down()
        local_cloud.up(registry_path)
    report = local_cloud.deploy(registry_path, progress=say)
    say(f"deployed {len(report.results)} stacks in {report.seconds:.0f}s")


@local_app.command()
def env(account_id: str) -> None:
    """Print `export` lines that make an SDK or the CDK CLI act as an account's deployer."""
    for key, value in local_cloud.deployer_env(account_id).items():
        typer.echo(f"export {key}={shlex.quote(value)}")
