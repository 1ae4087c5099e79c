"""``tenantctl deploy``: the fleet, operations stacks first, customer stacks in parallel."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, get_args

import boto3
import typer
from botocore.exceptions import ClientError
from rich.console import Console
from rich.padding import Padding
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from contracts.registry import OperationsShard, Tenant, TenantRegistry
from tenantctl import fleet
from tenantctl.cdk_runner import (
    PROJECT_ROOT,
    CloudEnv,
    DeployError,
    StackTarget,
    cli_environment,
    run_cdk,
)
from tenantctl.cli.app import State, app, out, progress_bar, say, state
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import (
    CdkContextOption,
    LocalOption,
    OpsProfileOption,
    TenantProfileOption,
    cdk_context,
)
from tenantctl.cli.targets import ops_profiles, tenant_profiles
from tenantctl.synth import STACKS_CONTEXT

STATE_DIR = Path(".tenantctl")
STATUSES: tuple[fleet.Status, ...] = get_args(fleet.Status)


class AwsProfiles:
    """Each account's AWS profile, from the ``--ops-profile`` and ``--tenant-profile`` patterns.

    A pattern left unset means the caller's own credentials for those accounts.
    The endpoint is the caller's too (``AWS_ENDPOINT_URL`` passes through to
    the CDK CLI); it is named here only so the deploy memory tells clouds apart.
    """

    def __init__(
        self,
        registry: TenantRegistry,
        *,
        ops_profile: str | None,
        tenant_profile: str | None,
        cdk_context: Mapping[str, str] | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self._ops = ops_profiles(ops_profile)
        self._tenants = tenant_profiles(tenant_profile)
        self._ops_names = {o.account_id: o.name for o in registry.operations_accounts()}
        self._tenant_names: dict[str, str] = {}
        for tenant in registry.resolved_tenants():
            self._tenant_names.setdefault(tenant.account_id, tenant.id)
        self.cdk_context: Mapping[str, str] = dict(cdk_context or {})
        self._endpoint_url = endpoint_url

    def profile(self, account_id: str) -> str | None:
        """The profile of an account of the registry (None: default credentials)."""
        if account_id in self._ops_names:
            return self._ops.profile(account_id, self._ops_names[account_id])
        return self._tenants.profile(account_id, self._tenant_names.get(account_id, ""))

    def check(self, account_ids: list[str]) -> None:
        """Refuse a profile the AWS configuration lacks, naming the option, before any work."""
        for account_id in dict.fromkeys(account_ids):
            if account_id in self._ops_names:
                self._ops.check_exists(account_id, self._ops_names[account_id])
            else:
                self._tenants.check_exists(account_id, self._tenant_names.get(account_id, ""))

    def env(self, account_id: str, region: str | None = None) -> dict[str, str]:
        """``AWS_PROFILE`` (and region) for the account's deploy."""
        profile = self.profile(account_id)
        env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region} if region else {}
        if self._endpoint_url:
            env["AWS_ENDPOINT_URL"] = self._endpoint_url
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
    """The fleet's progress as a rich progress bar; each finished stack is remembered."""

    def __init__(
        self,
        progress: Progress,
        memory: fleet.DeployMemory,
        origins: Mapping[str, fleet.StackOrigin],
    ) -> None:
        self._progress = progress
        self._memory = memory
        self._origins = origins
        self._task: Any = None

    def started(self, total: int) -> None:
        self._task = self._progress.add_task("deploying", total=total)

    def finished(self, result: fleet.StackResult) -> None:
        self._memory.record(result, self._origins[result.target.stack.stack_name])
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
        bool,
        typer.Option("--fresh", help="Ignore what the last run deployed; deploy everything."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (each stack and why, and what --changed found) and deploy "
            "nothing. Still synthesizes the selected stacks: --changed compares their templates.",
        ),
    ] = False,
    ops_profile: OpsProfileOption = None,
    tenant_profile: TenantProfileOption = None,
    context: CdkContextOption = None,
    local: LocalOption = False,
) -> None:
    """Deploy the fleet: operations stacks first, then customer stacks, N at a time.

    A failed stack does not stop the others; the exit is 1 and lists them, and
    running the same command again deploys only those and any stack changed
    since (--fresh deploys all). Ctrl-C lets the running stacks finish, prints
    what was deployed and exits 130; the same command again deploys the rest.
    """
    if all_tenants == bool(tenants):
        raise BadInput("--all / --tenant: give exactly one (--all, or --tenant ID ...)")
    if not 1 <= concurrency <= 32:
        raise BadInput(f"--concurrency: must be 1 to 32 (got {concurrency})")
    deploy_fleet(
        state(ctx),
        None if all_tenants else list(tenants or []),
        changed=changed,
        fresh=fresh,
        concurrency=concurrency,
        ops_profile=ops_profile,
        tenant_profile=tenant_profile,
        context=cdk_context(context),
        dry_run=dry_run,
    )


def deploy_fleet(
    st: State,
    tenant_ids: list[str] | None,
    *,
    ops_profile: str | None,
    tenant_profile: str | None,
    context: Mapping[str, str] | None = None,
    changed: bool = False,
    fresh: bool = False,
    concurrency: int = 4,
    only: set[str] | None = None,
    dry_run: bool = False,
) -> fleet.FleetReport:
    """The one deploy path: ``tenantctl deploy``, and ``onboard``, ``update`` and
    ``offboard`` with ``--deploy``, all come here.

    ``tenant_ids`` None means every tenant; ``only`` keeps just the named stacks
    of the selection (``update`` deploys the stacks that hold what changed).
    Only the selected stacks are synthesized (the whole app for every tenant).
    ``dry_run`` prints the plan and deploys nothing, remembering nothing.
    Stacks the last run of the same selection deployed from the same template
    to the same target are not deployed again (``--fresh``: all are).
    Raises CliError naming every stack not deployed, after printing the table;
    on Ctrl-C prints the table and how to resume, and exits 130.
    """
    registry = st.load_registry()
    try:
        targets = fleet.plan(registry, tenant_ids)
    except KeyError as exc:
        raise BadInput(f"--tenant: {exc.args[0]}") from None
    if only is not None:
        targets = [t for t in targets if t.stack.stack_name in only]
    cloud = _cloud(
        registry, ops_profile=ops_profile, tenant_profile=tenant_profile, context=context
    )
    cloud.check([t.stack.account_id for t in targets])
    memory = fleet.DeployMemory(
        STATE_DIR, fleet.selection_key(st.registry_path, tenant_ids, only), fresh=fresh
    )
    if not targets:
        # An empty filter would mean the whole app: nothing is synthesized at all.
        say("nothing to deploy: the selection holds no stack of the registry")
        return fleet.FleetReport()
    synth = fleet.synth_plan(registry, targets, whole_app=tenant_ids is None and only is None)
    if dry_run:
        _dry_run(st, cloud, registry, targets, synth, memory, changed=changed)
        return fleet.FleetReport()
    try:
        report = _synthesize_and_deploy(
            st, cloud, targets, synth, memory, changed=changed, concurrency=concurrency
        )
    except fleet.FleetInterrupted as interrupted:
        _print_report(interrupted.report, concurrency)
        not_done = interrupted.report.not_done
        typer.echo(
            f"error: interrupted: {len(not_done)} stack(s) not deployed"
            f"{_named(not_done)}; the table shows what was; run the same command again "
            "to deploy the rest",
            err=True,
        )
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        typer.echo(
            "error: interrupted before any stack was deployed; run the same command again",
            err=True,
        )
        raise typer.Exit(130) from None
    _print_report(report, concurrency)
    not_done = report.not_done
    if not_done:
        raise CliError(
            "not deployed: "
            + "; ".join(f"{r.target.stack.stack_name}: {r.error}" for r in not_done)
            + " (run the same command again to retry only these)"
        )
    return report


def _synthesize(
    st: State, cloud: CloudEnv, synth: fleet.SynthPlan, assembly: Path
) -> dict[str, dict[str, Any]]:
    """The selection's stacks synthesized into ``assembly``, saying which first."""
    if synth.stacks is None:
        say(f"synthesizing all {synth.total:,} stacks into a cloud assembly ...")
    else:
        shown = ", ".join(synth.stacks[:_SHOWN_STACKS])
        more = len(synth.stacks) - _SHOWN_STACKS
        say(
            f"synthesizing {len(synth.stacks):,} of {synth.total:,} stacks: {shown}"
            + (f" and {more:,} more" if more > 0 else "")
        )
    if len(synth.groups) > 1:
        say(f"  in {len(synth.groups)} processes at once, merged into one cloud assembly")
    try:
        return fleet.synthesize(
            cloud,
            assembly,
            context={"registry": str(st.registry_path.resolve())},
            stacks=synth.stacks,
            groups=synth.groups,
        )
    except DeployError as exc:
        raise CliError(f"cdk synth failed: {exc}") from None


# Stack names the synth line lists before "and N more".
_SHOWN_STACKS = 10


def _synthesize_and_deploy(
    st: State,
    cloud: CloudEnv,
    targets: list[fleet.FleetTarget],
    synth: fleet.SynthPlan,
    memory: fleet.DeployMemory,
    *,
    changed: bool,
    concurrency: int,
) -> fleet.FleetReport:
    with tempfile.TemporaryDirectory(prefix="tenantctl-assembly-") as tmp:
        assembly = Path(tmp) / "cdk.out"
        templates = _synthesize(st, cloud, synth, assembly)
        origins = {t.stack.stack_name: fleet.StackOrigin.of(cloud, t, templates) for t in targets}
        targets = _not_yet_deployed(targets, origins, memory)
        skip: set[str] = set()
        if changed:
            skip = fleet.unchanged(targets, templates, template_reader(cloud))
            say(f"{len(skip)} of {len(targets)} stack(s) unchanged: skipped")
        with progress_bar() as bar:
            report = fleet.deploy(
                cloud,
                targets,
                assembly,
                concurrency=concurrency,
                skip=skip,
                progress=_Bar(bar, memory, origins),
            )
    memory.settle(origins)
    return report


def _dry_run(
    st: State,
    cloud: CloudEnv,
    registry: TenantRegistry,
    targets: list[fleet.FleetTarget],
    synth: fleet.SynthPlan,
    memory: fleet.DeployMemory,
    *,
    changed: bool,
) -> None:
    """The plan: each stack, why it is in the selection and what a deploy would do with it."""
    with tempfile.TemporaryDirectory(prefix="tenantctl-assembly-") as tmp:
        templates = _synthesize(st, cloud, synth, Path(tmp) / "cdk.out")
    origins = {t.stack.stack_name: fleet.StackOrigin.of(cloud, t, templates) for t in targets}
    verdicts = fleet.compare(targets, templates, template_reader(cloud)) if changed else {}
    shards = {s.stack_name: s for s in registry.operations_stacks()}
    table = Table(title="deploy plan (dry run: nothing is deployed)")
    for heading in ("stack", "account", "why", "plan"):
        table.add_column(heading, overflow="fold")
    deploying = 0
    for target in targets:
        name = target.stack.stack_name
        plan = _planned(name, memory, origins[name], verdicts.get(name))
        deploying += plan.startswith("deploy")
        table.add_row(name, target.stack.account_id, _why(target, targets, shards), plan)
    out().print(table)
    say(f"dry run: {deploying} of {len(targets)} stack(s) would be deployed; nothing deployed")


def _why(
    target: fleet.FleetTarget,
    targets: list[fleet.FleetTarget],
    shards: Mapping[str, OperationsShard],
) -> str:
    """Why a stack is in the selection: whose customer stack, or whose roles it holds."""
    if target.tenant_id is not None:
        return f"customer stack of tenant {target.tenant_id}"
    shard = shards[target.stack.stack_name]
    selected = [t.tenant_id for t in targets if t.operations_stack == target.stack.stack_name]
    holds = (
        f"holds {selected[0]}'s role"
        if len(selected) == 1
        else f"holds the roles of {', '.join(str(t) for t in selected)}"
        if 1 < len(selected) <= 3
        else f"holds {len(shard.tenants)} tenants' roles"
    )
    return f"operations shard {shard.shard} of account {shard.operations.name}, {holds}"


def _planned(
    stack_name: str,
    memory: fleet.DeployMemory,
    origin: fleet.StackOrigin,
    verdict: fleet.Comparison | None,
) -> str:
    """What the deploy would do with a stack, as ``deploy_fleet`` decides it."""
    if memory.deployed(stack_name, origin):
        return "unchanged since the last run: skipped"
    if verdict == "same":
        return "--changed: same template as deployed: skipped"
    reasons = []
    last = memory.status(stack_name)
    if last in {"failed", "skipped", "interrupted"}:
        reasons.append(f"{last} last run")
    if verdict == "differs":
        reasons.append("--changed: template differs from the deployed one")
    elif verdict == "absent":
        reasons.append("--changed: not deployed yet")
    return "deploy" + (f" ({'; '.join(reasons)})" if reasons else "")


def _not_yet_deployed(
    targets: list[fleet.FleetTarget],
    origins: Mapping[str, fleet.StackOrigin],
    memory: fleet.DeployMemory,
) -> list[fleet.FleetTarget]:
    """The stacks to deploy: all but those the last run deployed from the same origin."""
    done = [t for t in targets if memory.deployed(t.stack.stack_name, origins[t.stack.stack_name])]
    if not done:
        return targets
    rest = [t for t in targets if t not in done]
    failed = [t for t in rest if memory.status(t.stack.stack_name) in {"failed", "skipped"}]
    others = len(rest) - len(failed)
    say(
        f"retrying the {len(failed)} stack(s) that failed last time"
        + (f" and {others} changed, new or not deployed since" if others else "")
        + f"; {len(done)} deployed last time and unchanged: skipped (--fresh: all)"
    )
    return rest


def _named(results: list[fleet.StackResult]) -> str:
    names = [r.target.stack.stack_name for r in results]
    if not names or len(names) > 10:
        return ""
    return f" ({', '.join(names)})"


def _print_report(report: fleet.FleetReport, concurrency: int) -> None:
    _summary(out(), report)
    count = {status: sum(r.status == status for r in report.results) for status in STATUSES}
    interrupted = f", {count['interrupted']} interrupted" if count["interrupted"] else ""
    say(
        f"{count['deployed']} deployed, {count['unchanged']} unchanged, "
        f"{count['failed']} failed, {count['skipped']} skipped{interrupted} "
        f"in {report.seconds:.0f}s (concurrency {concurrency})"
    )


def destroy_customer_stack(
    st: State,
    tenant: Tenant,
    *,
    ops_profile: str | None,
    tenant_profile: str | None,
    context: Mapping[str, str] | None = None,
) -> None:
    """``cdk destroy`` of a tenant's customer stack with its account's credentials.

    The app must still synthesize the stack, so this runs before the tenant
    leaves the registry. The usage log group and its key are retained.
    """
    registry = st.load_registry()
    cloud = _cloud(
        registry, ops_profile=ops_profile, tenant_profile=tenant_profile, context=context
    )
    cloud.check([tenant.account_id])
    args = ["destroy", tenant.stack_name, "--force"]
    # The app synthesizes only this stack (its filter), not the whole registry.
    context = {
        "registry": str(st.registry_path.resolve()),
        **cloud.cdk_context,
        STACKS_CONTEXT: tenant.stack_name,
    }
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
    ops_profile: str | None,
    tenant_profile: str | None,
    context: Mapping[str, str] | None,
) -> AwsProfiles:
    """Where the stacks go: each account through its profile, at the caller's endpoint."""
    return AwsProfiles(
        registry,
        ops_profile=ops_profile,
        tenant_profile=tenant_profile,
        cdk_context=context,
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
    )


# The error column's narrowest useful width; below it a stack's error folds over
# so many lines that one block per stack reads better.
_ERROR_MIN_WIDTH = 30


def _cells(r: fleet.StackResult) -> tuple[str, str, str, str, str]:
    """A result's columns but the error: stack, tenant, account, status, seconds."""
    return (
        r.target.stack.stack_name,
        r.target.tenant_id or "(operations)",
        r.target.stack.account_id,
        r.status,
        f"{r.seconds:.1f}" if r.seconds else "",
    )


def _summary(console: Console, report: fleet.FleetReport) -> None:
    """One line per stack, its error folded in the last column; one block per stack
    where the terminal is too narrow for that. Stack names and accounts are never cut."""
    headings = ("stack", "tenant", "account", "status", "seconds")
    rows = [_cells(r) for r in report.results]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headings)]
    # Each column adds one space of padding on either side and one border.
    if sum(widths) + 3 * (len(widths) + 1) + 1 + _ERROR_MIN_WIDTH <= console.width:
        table = Table()
        for heading in headings:
            table.add_column(heading, no_wrap=True)
        table.add_column("error", overflow="fold", min_width=_ERROR_MIN_WIDTH)
        for row, r in zip(rows, report.results, strict=True):
            table.add_row(*row, r.error)
        console.print(table)
        return
    for (stack, _, account, status, seconds), r in zip(rows, report.results, strict=True):
        console.print(
            f"{stack}  account {account}  {status}" + (f"  {seconds}s" if seconds else ""),
            overflow="fold",
        )
        if r.error:
            console.print(Padding(Text(f"error: {r.error}", overflow="fold"), (0, 0, 0, 2)))
