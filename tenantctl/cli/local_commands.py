"""``tenantctl local up|down|status|env|deploy``: the embedded cloud's one command line."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from tenantctl.cli import local_cloud
from tenantctl.cli.app import app, say, state
from tenantctl.cli.deploy_commands import deploy_fleet
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import CDK_CONTEXT_ENV, OPS_PROFILE_ENV, TENANT_PROFILE_ENV, cdk_context
from tenantctl.cli.registry_commands import unknown_tenant

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
    say("AWS profiles: embedded-<account id>; point this shell at them with:")
    say('  eval "$(tenantctl local env)"')
    say("next: tenantctl local deploy (or tenantctl deploy --all once the shell points here)")


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
    """Deploy every stack of the registry into the embedded cloud: ``tenantctl deploy
    --all`` through the embedded profiles (``tenantctl local env``).

    A tenant onboarded after ``local up`` lives in an account the cloud does
    not have yet; the cloud is then restarted with the registry's accounts,
    which resets it: every stack is deployed again and earlier usage records
    are gone.
    """
    st = state(ctx)
    running = local_cloud.status()
    if running is None:
        raise CliError("the embedded cloud is not running: run tenantctl local up")
    missing = local_cloud.missing_accounts(st.registry_path)
    if missing:
        say(
            f"restarting the embedded cloud to add account(s) {', '.join(missing)} "
            "(its state and every usage record are reset; every stack is deployed again)"
        )
        local_cloud.down()
        # The same port: a shell that ran `tenantctl local env` keeps working (the
        # profiles' files are rewritten in place with the new keys).
        local_cloud.up(st.registry_path, port=int(running["port"]))
    env = local_cloud.environment()
    # After a restart the cloud is empty at the same endpoint and profiles: what the
    # last run deployed is gone, so the deploy memory must not skip anything.
    with local_cloud.applied(env):
        deploy_fleet(
            st,
            None,
            ops_profile=env[OPS_PROFILE_ENV],
            tenant_profile=env[TENANT_PROFILE_ENV],
            context=cdk_context(env[CDK_CONTEXT_ENV].split()),
            fresh=bool(missing),
        )


@local_app.command()
def env(
    ctx: typer.Context,
    account_id: Annotated[
        str | None,
        typer.Argument(
            help="Also act as this account's deployer (AWS_PROFILE).", show_default=False
        ),
    ] = None,
    as_function: Annotated[
        str | None,
        typer.Option(
            "--as-function",
            metavar="TENANT",
            help="Act as the tenant's deployed function instead: its environment and a "
            "session of its execution role.",
        ),
    ] = None,
) -> None:
    """Print the shell lines that point every SDK, the CDK CLI and tenantctl at the
    embedded cloud: `eval "$(tenantctl local env)"`.

    They name its AWS config and credentials files (a profile per account,
    ``embedded-<account id>``), its endpoint (AWS_ENDPOINT_URL), and the
    profile patterns tenantctl's --ops-profile and --tenant-profile default to.
    Keys or a profile already in the environment are unset, so they cannot win.

    With --as-function TENANT: the tenant's function as Lambda runs it: its own
    variables, its role's temporary keys, its region and the endpoint; so the
    AWS CLI, boto3 or the handler run by hand act exactly as the function may.
    """
    if as_function is None:
        exports = local_cloud.environment(account_id)
    else:
        if account_id is not None:
            raise BadInput("--as-function / ACCOUNT_ID: give one of the two")
        registry = state(ctx).load_registry()
        specs = [t for t in registry.tenants if t.id == as_function]
        if not specs:
            raise unknown_tenant(registry, as_function, field="--as-function")
        tenant = registry.resolve(specs[0])
        arn = f"arn:aws:lambda:{tenant.region}:{tenant.account_id}:function:{tenant.function_name}"
        exports = {**local_cloud.environment(), **local_cloud.function_environment(arn)}
        # The function is not tenantctl: it has no profile patterns or CDK context.
        for name in (OPS_PROFILE_ENV, TENANT_PROFILE_ENV, CDK_CONTEXT_ENV):
            exports.pop(name, None)
    unset = [n for n in local_cloud.shadowing_variables() if n not in exports]
    typer.echo(f"unset {' '.join(unset)}")
    for key, value in exports.items():
        typer.echo(f"export {key}={shlex.quote(value)}")
