"""``make demo``: the whole product on the embedded AWS, and the checks that prove isolation.

Run as ``python -m demo [--registry config/tenants.local.yaml]``:

1. start the embedded AWS with one account per registry entry;
2. ``tenantctl.fleet.deploy_registry``: the real CDK CLI synthesizes the app once,
   bootstraps every account and deploys every stack (operations stacks first,
   then four at a time) with that account's own credentials;
3. invoke each tenant's *deployed* function through ``lambda.invoke`` (two
   users, two applications, plus one model outside the tenant's allowlist);
4. print each tenant's usage records as read back from its own log group with
   its own credentials, then each tenant's cost (what the function priced its
   calls at) and the path of its usage chart (``tenantctl usage --chart``);
5. run the isolation checks, print PASS/FAIL with a reason each, and exit 1 if
   any failed. The cloud is stopped in every case, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from contracts.pricing import Pricing
from contracts.registry import RegistryError, Tenant, TenantRegistry, load_registry
from contracts.usage_record import UsageRecord
from demo.checks import run_checks
from demo.scenario import (
    DEFAULT_REGISTRY,
    FoundRecord,
    Outcome,
    run_scenario,
    usage_records,
)
from embedded_aws.cloud import EmbeddedCloud
from tenantctl.cdk_runner import DeployError
from tenantctl.chart import TOP_KEYS, format_usd, render_usage_chart
from tenantctl.fleet import StackResult, deploy_registry
from tenantctl.usage import GroupBy, summarize, summarize_daily

# Where the demo writes each tenant's usage chart (git-ignored, beside the local cloud's state).
DEFAULT_CHARTS_DIR = Path(".local-cloud/demo")

# --- presentation ----------------------------------------------------------------------------


class _Steps:
    """Prints one line per finished step with its duration; a spinner while it runs."""

    def __init__(self, console: Console, started: float) -> None:
        self.console = console
        self.started = started
        self._status: Status | None = None
        self._step: str | None = None
        self._step_started = 0.0

    def _stamp(self) -> str:
        return f"[dim]\\[{time.perf_counter() - self.started:6.1f}s][/dim]"

    def begin(self, step: str) -> None:
        self.end()
        self._step, self._step_started = step, time.perf_counter()
        self._status = self.console.status(escape(step))
        self._status.start()

    def update(self, detail: str) -> None:
        if self._status is not None and self._step is not None:
            self._status.update(f"{escape(self._step)} [dim]{escape(detail[:90])}[/dim]")

    def end(self, note: str = "") -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._step is not None:
            took = time.perf_counter() - self._step_started
            self.console.print(
                f"{self._stamp()} [green]✓[/green] {escape(self._step)} [dim]({took:.1f}s)"
                f"{' ' + escape(note) if note else ''}[/dim]"
            )
            self._step = None

    def fail(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._step is not None:
            self.console.print(f"{self._stamp()} [red]✗[/red] {escape(self._step)}")
            self._step = None

    def synth_line(self, line: str) -> None:
        """The CDK CLI's output while it synthesizes: shown beside the spinner."""
        if line.strip():
            self.update(line.strip())


class _FleetSteps:
    """The fleet's progress (``tenantctl.fleet.Progress``): one line per finished stack."""

    def __init__(self, steps: _Steps) -> None:
        self._steps = steps
        self._total = 0
        self._done = 0

    def started(self, total: int) -> None:
        self._steps.end()
        self._total = total
        self._steps.begin(f"cdk bootstrap + deploy {total} stacks (operations first, 4 at a time)")

    def finished(self, result: StackResult) -> None:
        self._done += 1
        stack = result.target.stack
        self._steps.console.print(
            f"    {escape(stack.stack_name)} into {stack.account_id}: "
            f"{result.status} [dim]({result.seconds:.1f}s)[/dim]"
            + (f" [red]{escape(result.error)}[/red]" if result.error else "")
        )
        self._steps.update(f"{self._done}/{self._total}")


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_outcome(console: Console, outcome: Outcome) -> None:
    event = outcome.event
    who = f"{outcome.tenant_id:<7} {event.get('user_id')}/{event.get('application_id')}"
    if outcome.function_error:
        console.print(f"  [red]{escape(who)} → crashed: {escape(str(outcome.payload))[:100]}")
        return
    if outcome.error is not None:
        console.print(
            f"  {escape(who):<26} [yellow]→ {escape(str(outcome.error_type))}:[/yellow] "
            f"{escape(_short(str(outcome.error.get('message')), 80))}"
        )
        return
    usage = outcome.payload.get("usage", {})
    console.print(
        f"  {escape(who):<26} → {escape(_short(str(outcome.payload.get('output')), 60))!r} "
        f"[dim]({usage.get('input_tokens')}→{usage.get('output_tokens')} tokens, "
        f"{outcome.payload.get('latency_ms')} ms)[/dim]"
    )


def _content_preview(record: UsageRecord) -> str:
    prompt = record.prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        prompt = prompt[-1].get("content")
    return _short(str(prompt), 60) if prompt else "—"


def usage_table(tenant: Tenant, records: Sequence[FoundRecord]) -> Table:
    """A tenant's usage records as a rich table."""
    table = Table(
        title=(
            f"{tenant.id} ({tenant.account_id}): {tenant.usage_log_group}, "
            f"log_content={tenant.log_content.value}"
        ),
        title_justify="left",
    )
    streams = Counter(found.stream for found in records)
    # The api sink puts one stream per user; with stdout, Lambda names them.
    per = "one per user" if tenant.usage_sink == "api" else "Lambda's, one per environment"
    table.caption = f"log streams ({per}): " + ", ".join(
        f"{stream} ({count})" for stream, count in sorted(streams.items())
    )
    table.caption_justify = "left"
    for column in ("user", "application", "model", "in", "out", "latency", "status"):
        table.add_column(
            column, justify="right" if column in {"in", "out", "latency"} else "left", no_wrap=True
        )
    table.add_column("prompt as logged", no_wrap=True, max_width=34, overflow="ellipsis")
    for found in records:
        r = found.record
        status = "[green]success[/green]" if not r.is_error else f"[red]{escape(str(r.error_type))}"
        latency = f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "—"
        table.add_row(
            escape(r.user_id),
            escape(r.application_id),
            escape(r.model_id),
            str(r.input_tokens),
            str(r.output_tokens),
            latency,
            status,
            escape(_content_preview(r)),
        )
    return table


def cost_table(
    tenants: Sequence[Tenant], records: dict[str, list[UsageRecord]], charts_dir: Path
) -> Table:
    """Each tenant's cost from its own records, and its usage chart written to ``charts_dir``."""
    table = Table(
        title="cost per tenant: what the function priced each call at (cost_usd in the record)",
        title_justify="left",
    )
    for column in ("tenant", "calls", "tokens", "cost", "price table", "chart"):
        numeric = column in {"calls", "tokens", "cost"}
        table.add_column(
            column,
            justify="right" if numeric else "left",
            no_wrap=column != "chart",
            overflow="fold",
        )
    estimated = 0
    for tenant in tenants:
        pricing = Pricing(region=tenant.bedrock_region, overrides=tenant.price_overrides)
        mine = records.get(tenant.id, [])
        total = summarize(mine, None, pricing)[0]
        chart = render_usage_chart(
            summarize_daily(mine, GroupBy.APPLICATION, pricing, keep=TOP_KEYS),
            charts_dir / f"usage-{tenant.id}.png",
            title=f"Usage of tenant {tenant.id} (embedded demo)",
            note=f"cost at price table {', '.join(total.price_table_versions) or 'none'}; "
            f"Bedrock region {tenant.bedrock_region}",
        )
        if total.cost_estimated:
            estimated += total.estimated_cost_records
        table.add_row(
            escape(tenant.id),
            str(total.invocations),
            f"{total.total_tokens:,}",
            ("~" if total.cost_estimated else "") + format_usd(total.cost_usd),
            ", ".join(total.price_table_versions) or "—",
            escape(str(chart)),
        )
    table.caption = (
        "In AWS the bill's own split per tenant comes from Cost Explorer in the operations "
        "account: tenantctl cost (docs/COST.md)."
    )
    if estimated:
        table.caption = (
            f"~ : {estimated} record(s) carried no cost and were priced now. " + table.caption
        )
    table.caption_justify = "left"
    return table


def _quiet_moto() -> None:
    # moto logs a warning per template resource it skips (CDK metadata, bucket and
    # topic policies); that is the embedded cloud's business, not the demo's.
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)


def run_demo(registry_path: Path, console: Console, charts_dir: Path = DEFAULT_CHARTS_DIR) -> int:
    """The whole demo; returns the process exit code."""
    started = time.perf_counter()
    try:
        registry = load_registry(registry_path)
    except RegistryError as error:
        for issue in error.issues:
            console.print(f"error: {registry_path}: {issue}")
        return 2
    _quiet_moto()
    steps = _Steps(console, started)
    console.rule("Centralized Bedrock, tenant-isolated usage logs: embedded AWS demo")
    ok = False
    try:
        steps.begin("start the embedded AWS")
        with EmbeddedCloud(registry=registry) as cloud:
            accounts = [
                f"{ops.account_id} (operations {ops.name})"
                for ops in registry.operations_accounts()
            ] + [f"{t.account_id} ({t.id})" for t in registry.resolved_tenants()]
            steps.end(f"{cloud.endpoint_url}; accounts {', '.join(accounts)}")
            steps.begin("cdk synth, once for every stack")
            try:
                report = deploy_registry(
                    cloud, registry_path, progress=_FleetSteps(steps), on_line=steps.synth_line
                )
            except DeployError as error:
                steps.fail()
                console.print(f"[red]synth failed:[/red] {escape(str(error))}")
                return 1
            if report.failed:
                steps.fail()
                console.print(f"[red]deploy failed: {len(report.failed)} stack(s)[/red]")
                return 1
            steps.end()
            ok = _after_deploy(cloud, registry, console, steps, charts_dir)
    except KeyboardInterrupt:
        steps.fail()
        console.print("[red]interrupted: the embedded cloud was stopped[/red]")
        return 130
    finally:
        total = time.perf_counter() - started
        console.print(f"total wall time: {total:.1f}s ({int(total // 60)}m{total % 60:04.1f}s)")
    return 0 if ok else 1


def _after_deploy(
    cloud: EmbeddedCloud,
    registry: TenantRegistry,
    console: Console,
    steps: _Steps,
    charts_dir: Path,
) -> bool:
    console.rule(f"lambda.invoke on {cloud.endpoint_url}, each tenant's deployed function")
    steps.begin("invoke every tenant's function")
    outcomes: list[Outcome] = []

    def on_outcome(outcome: Outcome) -> None:
        outcomes.append(outcome)
        steps.update(f"{outcome.tenant_id}: {len(outcomes)} invocation(s)")

    scenario = run_scenario(cloud, registry, on_outcome=on_outcome)
    steps.end(f"{len(scenario.outcomes)} invocations")
    for outcome in scenario.outcomes:
        _print_outcome(console, outcome)

    console.rule("usage records, read from each tenant's own log group with its own credentials")
    by_tenant: dict[str, list[UsageRecord]] = {}
    for tenant in registry.resolved_tenants():
        records = usage_records(cloud, tenant)
        by_tenant[tenant.id] = [found.record for found in records]
        if records:
            console.print(usage_table(tenant, records))
        else:
            console.print(
                f"[red]{escape(tenant.id)} ({tenant.account_id}): no usage record in "
                f"{escape(tenant.usage_log_group)}[/red]"
            )

    console.rule("cost and usage charts, from each tenant's own records")
    steps.begin("price and chart every tenant's usage")
    costs = cost_table(registry.resolved_tenants(), by_tenant, charts_dir)
    steps.end()
    console.print(costs)

    console.rule("isolation checks")
    steps.begin("run the checks")
    results = run_checks(cloud, registry, scenario)
    steps.end()
    for result in results:
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {escape(result.name)}: [dim]{escape(result.reason)}[/dim]")
    failed = [r for r in results if not r.passed]
    if failed:
        console.print(f"[red]{len(failed)} of {len(results)} checks FAILED[/red]")
        return False
    console.print(f"[green]all {len(results)} checks passed[/green]")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m demo``: parse arguments, run, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY)
    parser.add_argument(
        "--charts-dir", type=Path, default=DEFAULT_CHARTS_DIR, help="where the usage charts go"
    )
    args = parser.parse_args(argv)
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or logged: wide enough for the tables
        console = Console(highlight=False, width=150)
    return run_demo(args.registry, console, args.charts_dir)


if __name__ == "__main__":
    sys.exit(main())
