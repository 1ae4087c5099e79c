"""``tenantctl stackset deploy|sync``: the customer side of every tenant rolled out by one StackSet.

For a registry with a ``customer_stack_set`` block (docs/SCALING.md). Both
commands work in the first operations account, the StackSet's administrator,
through ``--ops-profile``; CloudFormation StackSets reaches the tenant accounts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from contracts.registry import TenantRegistry
from contracts.registry.stack_set import TEMPLATE_STACK_NAME, CustomerStackSet
from tenantctl import fleet, stackset
from tenantctl.cdk_runner import DeployError
from tenantctl.cli.app import State, app, out, progress_bar, say, state
from tenantctl.cli.deploy_commands import AwsProfiles
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import CdkContextOption, OpsProfileOption, cdk_context
from tenantctl.cli.targets import AwsTarget, operations_target

stackset_app = typer.Typer(
    help="Roll every tenant's customer side out by one StackSet (registry: customer_stack_set).",
    no_args_is_help=True,
)
app.add_typer(stackset_app, name="stackset")

# Seconds between two looks at a running StackSet operation.
POLL_SECONDS = 5.0


def stack_set_config(registry: TenantRegistry) -> CustomerStackSet:
    """The registry's ``customer_stack_set``; BadInput when it has none."""
    if registry.customer_stack_set is None:
        raise BadInput(
            "customer_stack_set: the registry has no customer_stack_set block, so its customer "
            "stacks are deployed with tenantctl deploy (docs/SCALING.md, StackSets)"
        )
    return registry.customer_stack_set


def _administrator(
    st: State, registry: TenantRegistry, ops_profile: str | None
) -> tuple[stackset.StackSetAdministrator, AwsTarget]:
    config = stack_set_config(registry)
    ops = registry.operations
    target = operations_target(ops, ops_profile)
    bucket_region = config.code_bucket_region or ops.region
    code = (
        target
        if bucket_region == ops.region
        else operations_target(ops, ops_profile, bucket_region)
    )
    admin = stackset.StackSetAdministrator(
        config,
        cloudformation=target.client("cloudformation"),
        s3=code.client("s3"),
        code_bucket_region=bucket_region,
        sleep=st.sleep,
        poll_seconds=POLL_SECONDS,
    )
    return admin, target


@stackset_app.command("deploy")
def deploy(
    ctx: typer.Context,
    ops_profile: OpsProfileOption = None,
    context: CdkContextOption = None,
) -> None:
    """Upload the function's code to the code bucket, then create or update the StackSet.

    Synthesizes only the StackSet template. The zip goes under its content hash
    (skipped when that key is there). Updating the StackSet updates every
    instance, each keeping its tenant's parameters; then run tenantctl stackset sync
    to add, update or remove instances.
    """
    st = state(ctx)
    registry = st.load_registry()
    admin, target = _administrator(st, registry, ops_profile)
    profiles = AwsProfiles(
        registry,
        ops_profile=ops_profile,
        tenant_profile=None,
        cdk_context=cdk_context(context),
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
    )
    with tempfile.TemporaryDirectory(prefix="tenantctl-stackset-") as tmp:
        assembly = Path(tmp) / "cdk.out"
        say(f"synthesizing the StackSet template {TEMPLATE_STACK_NAME} ...")
        try:
            templates = fleet.synthesize(
                profiles,
                assembly,
                context={"registry": str(st.registry_path.resolve())},
                stacks=[TEMPLATE_STACK_NAME],
            )
        except DeployError as exc:
            raise CliError(f"cdk synth failed: {exc}") from None
        template = templates[TEMPLATE_STACK_NAME]
        bundle = stackset.code_bundle(assembly, TEMPLATE_STACK_NAME, template)
        bucket = admin.config.code_bucket
        with target.errors():
            uploaded = admin.upload_code(bundle)
            say(
                f"code: s3://{bucket}/{bundle.key} "
                + ("uploaded" if uploaded else "already there: not uploaded")
            )
            try:
                outcome = admin.deploy_template(template, bundle.key)
            except stackset.StackSetOperationFailed as exc:
                raise CliError(f"StackSet {admin.config.name}: {exc}") from None
    say(
        f"StackSet {admin.config.name} ({admin.config.permission_model}) in account "
        f"{target.account_id} ({target.region}): {outcome}"
    )
    say("next: tenantctl stackset sync (one stack instance per tenant)")


@stackset_app.command("sync")
def sync(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; change nothing.")
    ] = False,
    ops_profile: OpsProfileOption = None,
) -> None:
    """Make the StackSet's instances match the registry, one per tenant with its parameters.

    Creates the missing instances, updates those whose parameters differ from the
    registry or whose last operation failed, and deletes those of accounts no
    tenant of the registry has. Deleting an instance deletes its stack
    (RetainStacks false): the usage log group and its KMS key stay in the
    tenant's account, retained by their DeletionPolicy, exactly as with cdk
    destroy. Uses the registry's operation preferences. Exits 1 naming each
    failed account and its reason; the same command again retries only those.
    """
    st = state(ctx)
    sync_stack_set(st, st.load_registry(), ops_profile=ops_profile, dry_run=dry_run)


def sync_stack_set(
    st: State,
    registry: TenantRegistry,
    *,
    ops_profile: str | None,
    accounts: Iterable[str] | None = None,
    departing: Iterable[str] = (),
    dry_run: bool = False,
) -> stackset.SyncReport:
    """``stackset sync``, and ``onboard``/``offboard --deploy`` for their tenant's account.

    ``accounts`` limits the sync to those accounts; ``departing`` tenants count as
    gone from the registry already (offboard removes the instance first).
    Raises CliError naming every failed account.
    """
    admin, target = _administrator(st, registry, ops_profile)
    scope = None if accounts is None else set(accounts)
    wanted = stackset.wanted_instances(registry, departing=departing)
    with target.errors():
        try:
            deployed = admin.deployed_instances(accounts=scope)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "StackSetNotFoundException":
                raise
            raise CliError(
                f"StackSet {admin.config.name} does not exist in account {target.account_id} "
                f"({target.region}): run tenantctl stackset deploy first"
            ) from None
        plan = stackset.plan_sync(wanted, deployed, accounts=scope)
        _print_plan(plan, admin.config.name)
        if dry_run or not plan.changes:
            return stackset.SyncReport(plan)
        with progress_bar() as bar:
            task = bar.add_task("stack instances", total=len(plan.changes))

            def finished(
                change: stackset.InstanceChange, failure: stackset.InstanceFailure | None
            ) -> None:
                what = "failed" if failure else "done"
                bar.update(
                    task, advance=1, description=f"{change.action} {change.account_id}: {what}"
                )

            report = stackset.apply_plan(admin, plan, wanted, on_finished=finished)
    counts = {action: len(plan.of(action)) for action in ("create", "update", "delete")}
    say(
        f"{counts['create']} created, {counts['update']} updated, {counts['delete']} deleted, "
        f"{plan.unchanged} unchanged, {len(report.failures)} failed in {report.seconds:.0f}s"
    )
    if report.failures:
        raise CliError(
            "not in sync: "
            + "; ".join(
                f"{f.tenant_id or 'account'} ({f.account_id}, {f.region}): {f.reason}"
                for f in report.failures
            )
            + " (run tenantctl stackset sync again to retry only these)"
        )
    return report


def _print_plan(plan: stackset.SyncPlan, name: str) -> None:
    if not plan.changes:
        say(f"StackSet {name}: {plan.unchanged} instance(s) match the registry; nothing to do")
        return
    table = Table(title=f"StackSet {name}")
    for heading in ("action", "tenant", "account", "region", "why"):
        table.add_column(heading, overflow="fold")
    for change in plan.changes:
        table.add_row(
            change.action, change.tenant_id or "", change.account_id, change.region, change.why
        )
    out().print(table)
    say(f"{len(plan.changes)} change(s), {plan.unchanged} instance(s) unchanged")
