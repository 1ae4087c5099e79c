"""``tenantctl deploy``: the fleet, operations stacks first, customer stacks in parallel."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from botocore.exceptions import ClientError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contracts.registry import Tenant, TenantRegistry
from tenantctl import fleet
from tenantctl.cdk_runner import (
    PROJECT_ROOT,
    CloudEnv,
    DeployError,
    StackTarget,
    cli_environment,
    run_cdk,
)
from tenantctl.cli.app import State, app, out, say, state
from tenantctl.cli.errors import BadInput, CliError

STATE_DIR = Path(".tenantctl")


class AwsProfiles:
    """Real AWS: the operations accounts' profile, and a profile per tenant account.

    ``tenant_profile`` is a pattern with ``{account_id}`` and/or ``{tenant}``; unset,
    the caller's own credentials are used for every account.
    """

    cdk_context: Mapping[str, str] = {}

    def __init__(
        self,
        *,
        ops_accounts: set[str],
        ops_profile: str | None,
        tenant_profile: str | None,
        tenant_of_account: Mapping[str, str],
    ) -> None:
        self._ops_accounts = ops_accounts
        self._ops_profile = ops_profile
        self._tenant_profile = tenant_profile
        self._tenant_of_account = tenant_of_account

    def env(self, account_id: str, region: str | None = None) -> dict[str, str]:
        """``AWS_PROFILE`` (and region) for the account's deploy."""
        profile = (
            self._ops_profile
            if account_id in self._ops_accounts
            else self._tenant_profile.format(
                account_id=account_id, tenant=self._tenant_of_account.get(account_id, "")
            )
            if self._tenant_profile
            else None
        )
        env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region} if region else {}
        return {**env, **({"AWS_PROFILE": profile} if profile else {})}


def _session(env: Mapping[str, str]) -> tuple[boto3.Session, str | None]:
    session = boto3.Session(
        profile_name=env.get("AWS_PROFILE"),
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        region_name=env.get("AWS_REGION"),
    )
    return session, env.get("AWS_ENDPOINT_URL")


def template_reader(cloud: CloudEnv) -> fleet.TemplateReader:
    """Reads deployed templates with each stack's own account credentials."""

    def read(target: StackTarget) -> dict[str, Any] | None:
        session, endpoint = _session(cloud.env(target.account_id, target.region))
        client: Any = session.client("cloudformation", endpoint_url=endpoint)
        try:
            body = client.get_template(StackName=target.stack_name)["TemplateBody"]
        except ClientError:
            return None  # not deployed (or not readable): deploy it
        if isinstance(body, str):
            return dict(json.loads(body))
        return dict(body)

    return read


class _Bar:
    """The fleet's progress as a rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: Any = None

    def started(self, total: int) -> None:
        self._task = self._progress.add_task("deploying", total=total)

    def finished(self, result: fleet.StackResult) -> None:
        self._progress.update(
            self._task, advance=1, description=f"{result.target.stack.stack_name}: {result.status}"
        )


@app.command("deploy")
def deploy_command(
    ctx: typer.Context,
    all_tenants: Annotated[
        bool, typer.Option("--all", help="Every operations stack and every tenant.")
    ] = False,
    tenants: Annotated[
        list[str] | None,
        typer.Option("--tenant", help="Only this tenant (repeat), with its operations stack."),
    ] = None,
    changed: Annotated[
        bool,
        typer.Option("--changed", help="Only stacks whose template differs from the deployed one."),
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Customer stacks deployed at once.")
    ] = 4,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Ignore the last run's failures; deploy everything.")
    ] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Into the embedded cloud (`tenantctl local up`).")
    ] = False,
    ops_profile: Annotated[
        str | None, typer.Option("--ops-profile", help="AWS profile of the operations accounts.")
    ] = None,
    tenant_profile: Annotated[
        str | None,
        typer.Option(
            "--tenant-profile",
            help="AWS profile per tenant account, e.g. 'tenant-{account_id}' or '{tenant}'.",
        ),
    ] = None,
) -> None:
    """Deploy the fleet: operations stacks first, then customer stacks, N at a time.

    A failed stack does not stop the others; the exit is 1 and lists them, and
    running the same command again retries only those (--fresh deploys all).
    """
    if all_tenants == bool(tenants):
        raise BadInput("--all / --tenant: give exactly one (--all, or --tenant ID ...)")
    if not 1 <= concurrency <= 32:
        raise BadInput(f"--concurrency: must be 1 to 32 (got {concurrency})")
    if local and (ops_profile or tenant_profile):
        raise BadInput("--ops-profile / --tenant-profile: not used with --local")
    deploy_fleet(
        state(ctx),
        None if all_tenants else list(tenants or []),
        changed=changed,
        fresh=fresh,
        concurrency=concurrency,
        local=local,
        ops_profile=ops_profile,
        tenant_profile=tenant_profile,
    )


def deploy_fleet(
    st: State,
    tenant_ids: list[str] | None,
    *,
    local: bool,
    ops_profile: str | None,
    tenant_profile: str | None,
    changed: bool = False,
    fresh: bool = False,
    concurrency: int = 4,
    only: set[str] | None = None,
) -> fleet.FleetReport:
    """The one deploy path: ``tenantctl deploy``, and ``onboard``, ``update`` and
    ``offboard`` with ``--deploy``, all come here.

    ``tenant_ids`` None means every tenant; ``only`` keeps just the named stacks
    of the selection (``update`` deploys the stacks that hold what changed).
    Raises CliError naming every stack not deployed, after printing the table.
    """
    registry = st.load_registry()
    try:
        targets = fleet.plan(registry, tenant_ids)
    except KeyError as exc:
        raise BadInput(f"--tenant: {exc.args[0]}") from None
    if only is not None:
        targets = [t for t in targets if t.stack.stack_name in only]
    cloud = _cloud(registry, local=local, ops_profile=ops_profile, tenant_profile=tenant_profile)
    key = fleet.selection_key(st.registry_path, tenant_ids)
    retry = [] if fresh else fleet.remembered_failures(STATE_DIR, key)
    if retry:
        targets = [t for t in targets if t.stack.stack_name in set(retry)]
        say(f"retrying the {len(targets)} stack(s) that failed last time (--fresh: all)")

    with tempfile.TemporaryDirectory(prefix="tenantctl-assembly-") as tmp:
        assembly = Path(tmp) / "cdk.out"
        say(f"synthesizing {len(targets)} stack(s) once into a cloud assembly ...")
        try:
            templates = fleet.synthesize(
                cloud, assembly, context={"registry": str(st.registry_path.resolve())}
            )
        except DeployError as exc:
            raise CliError(f"cdk synth failed: {exc}") from None
        skip: set[str] = set()
        if changed:
            skip = fleet.unchanged(targets, templates, template_reader(cloud))
            say(f"{len(skip)} of {len(targets)} stack(s) unchanged: skipped")
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out(),
            transient=True,
        ) as bar:
            report = fleet.deploy(
                cloud, targets, assembly, concurrency=concurrency, skip=skip, progress=_Bar(bar)
            )
    fleet.remember(STATE_DIR, key, report)
    out().print(_summary(report))
    say(
        f"{sum(r.status == 'deployed' for r in report.results)} deployed, "
        f"{sum(r.status == 'unchanged' for r in report.results)} unchanged, "
        f"{len(report.failed)} failed, "
        f"{sum(r.status == 'skipped' for r in report.results)} skipped "
        f"in {report.seconds:.0f}s (concurrency {concurrency})"
    )
    not_done = [r for r in report.results if r.status in {"failed", "skipped"}]
    if not_done:
        raise CliError(
            "not deployed: "
            + "; ".join(f"{r.target.stack.stack_name}: {r.error}" for r in not_done)
            + " (run the same command again to retry only these)"
        )
    return report


def destroy_customer_stack(
    st: State,
    tenant: Tenant,
    *,
    local: bool,
    ops_profile: str | None,
    tenant_profile: str | None,
) -> None:
    """``cdk destroy`` of a tenant's customer stack with its account's credentials.

    The app must still synthesize the stack, so this runs before the tenant
    leaves the registry. The usage log group and its key are retained.
    """
    registry = st.load_registry()
    cloud = _cloud(registry, local=local, ops_profile=ops_profile, tenant_profile=tenant_profile)
    context = {"registry": str(st.registry_path.resolve()), **cloud.cdk_context}
    args = ["destroy", tenant.stack_name, "--force"]
    for key, value in context.items():
        args += ["-c", f"{key}={value}"]
    say(f"destroying {tenant.stack_name} in account {tenant.account_id} ({tenant.region}) ...")
    try:
        run_cdk(
            args,
            env=cli_environment(cloud.env(tenant.account_id, tenant.region)),
            cwd=PROJECT_ROOT,
        )
    except (DeployError, TimeoutError, OSError) as exc:
        raise CliError(
            f"{tenant.stack_name}: not destroyed ({exc}); the registry still lists the tenant: "
            "fix the cause and run the command again"
        ) from None


def _cloud(
    registry: TenantRegistry,
    *,
    local: bool,
    ops_profile: str | None,
    tenant_profile: str | None,
) -> CloudEnv:
    """Where the stacks go: the embedded cloud with ``--local``, else AWS through profiles."""
    if local:
        from tenantctl.cli import local_cloud

        cloud: CloudEnv = local_cloud.running_cloud()
        return cloud
    return AwsProfiles(
        ops_accounts={o.account_id for o in registry.operations_accounts()},
        ops_profile=ops_profile,
        tenant_profile=tenant_profile,
        tenant_of_account={t.account_id: t.id for t in registry.resolved_tenants()},
    )


def _summary(report: fleet.FleetReport) -> Table:
    table = Table("stack", "tenant", "account", "status", "seconds", "error")
    for r in report.results:
        table.add_row(
            r.target.stack.stack_name,
            r.target.tenant_id or "(operations)",
            r.target.stack.account_id,
            r.status,
            f"{r.seconds:.1f}" if r.seconds else "",
            r.error,
        )
    return table
