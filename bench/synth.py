"""``make bench-synth``: synthesize generated fleets, with issue 20's targets beside the figures.

Every synth runs in fresh processes, ``python app.py`` as ``cdk synth`` runs it
(its context in ``CDK_CONTEXT_JSON``: cdk.json's, the registry and the stack
filter; the CDK CLI's own start-up is not counted), with bundling off
(``aws:cdk:bundling-stacks: []``): the function asset is bundled once per
platform whatever the fleet size. Measured in one run on this machine:

- **full**: the whole app of a 1,000-tenant registry, synthesized as ``tenantctl``
  does for a fleet on an idle machine (``tenantctl.synth``: one process per core,
  each with its ``stacks`` filter, merged into one cloud assembly), and once in
  one process, beside a bare
  CDK baseline of the same run: an app written the way a CDK user would, with
  no code of the project's (``BASELINE_CONTENTS``), in one process, with CDK's
  built-in template validation off as the project's app has it (the target's
  ratio), and once more with CDK's defaults (validation on), for reference;
- **targeted**: one tenant's two stacks (``stacks=<customer stack>,<its
  operations shard>``) in the 1,000-tenant registry and in a 1-tenant one;
- **import**: ``tenantctl import`` of 1,000 rows (CSV) into a registry with none;
- **StackSet fleet**: 10,000 tenants over several operations accounts, the customer
  side rolled out by StackSet (so the app is the operations shards and the
  StackSet template): ``tenantctl validate``, ``tenantctl import`` of its rows,
  one tenant's targeted synth, the full synth.

Peak memory is the resident set size of every process of a synth (Python and
its Node.js jsii kernel, and every parallel synth process), sampled from
``/proc`` and summed across the processes alive at once (``peak_mb``), and
the largest single process by ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
(``largest_process_mb``; psutil is not installed).

    python -m bench.synth [--tenants 1000] [--large 10000] [--operations-accounts 4]
                          [--json bench/synth-results.json]

Smaller sizes for a quick look: ``--tenants 50 --large 300``; ``--large 0`` skips
the StackSet fleet.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
SHARD = 150
REGION = "us-east-1"
OPERATIONS_ACCOUNT = "111111111111"
STACK_SET_TEMPLATE = "BedrockCustomerStackSet"
# The registry of the StackSet fleet: an organization-readable code bucket and an OU.
CODE_BUCKET = "bench-org-code-bucket"
TENANT_OU = "ou-bnch-tenants1"
USAGE_NAMESPACE = "BedrockUsage"
BASELINE_CONTENTS = (
    "per operations account, shard 0: a Lambda function (role, policy, log group), a custom "
    "resource it backs, an EventBridge rule, a KMS-encrypted SNS topic and its policy, two "
    "outputs; per tenant, in its account's shard: an IAM role with its policy, an output; per "
    "tenant stack: a KMS key, two log groups, a role with its policy, a Lambda function with a "
    "version and a 'live' alias, a dashboard of the project's widgets and metric lines (text, "
    "8 graphs with 4 SEARCH lines, 2 metric-math lines and 11 metric lines, a single value of 5 "
    "metrics, an alarm status, a Logs Insights table), 4 alarms (one on metric math), 4 saved "
    "Logs Insights queries and 3 outputs; all L2 constructs"
)

# The targets (key, what, limit, unit): a figure at or below its limit passes.
TARGETS: list[tuple[str, str, float, str]] = [
    ("targeted_ratio", "targeted synth (the app alone), 1 of 1,000 tenants vs 1 of 1", 1.5, "x"),
    (
        "targeted_command_ratio",
        "tenantctl deploy --tenant X --dry-run, 1 of 1,000 tenants vs 1 of 1",
        1.5,
        "x",
    ),
    (
        "full_ratio",
        "full synth of 1,000 tenants vs the bare-CDK baseline (validation off)",
        1.0,
        "x",
    ),
    ("full_peak_mb", "peak memory of the full synth of 1,000 tenants", 1024, "MB"),
    # The same targets for the app in one process, where tenantctl's split is parallel:
    # the parallel synth buys wall time with memory (every process holds its own
    # Python, jsii kernel and share of the constructs), so the two modes can differ.
    (
        "full_one_process_ratio",
        "full synth of 1,000 tenants in one process vs the baseline",
        1.0,
        "x",
    ),
    ("full_one_process_peak_mb", "peak memory of it in one process", 1024, "MB"),
    ("large_validate_s", "tenantctl validate, 10,000 tenants", 10, "s"),
    ("large_synth_s", "full synth, 10,000 tenants (StackSet rollout)", 120, "s"),
    ("import_s", "tenantctl import of 1,000 rows", 10, "s"),
]


# --- registries -----------------------------------------------------------------------------


def tenant_id(i: int) -> str:
    return f"tenant-{i:05d}"


def tenant_account(i: int) -> str:
    return f"{300000000000 + i}"


def operations_name(index: int) -> str:
    return "operations" if index == 0 else f"ops{index + 1}"


def fleet_registry(count: int, *, operations_accounts: int = 1) -> dict[str, Any]:
    """A valid registry of ``count`` tenants over ``operations_accounts`` accounts.

    Tenants fill the accounts in contiguous blocks of equal size, shards and
    accounts recorded as onboarding does.
    """
    accounts = [
        {
            **({"name": operations_name(a)} if a else {}),
            "account_id": f"{111111111111 + a}",
            "region": REGION,
            "iam_role_quota": 5000,
        }
        for a in range(operations_accounts)
    ]
    per_account = -(-count // operations_accounts)
    tenants = []
    for i in range(count):
        account, index = divmod(i, per_account)
        tenants.append(
            {
                "id": tenant_id(i),
                "account_id": tenant_account(i),
                "region": REGION,
                "external_id": f"{tenant_id(i)}-ext",
                "shard": index // SHARD,
                **({"operations_account": operations_name(account)} if account else {}),
            }
        )
    registry: dict[str, Any] = {"version": 1, "operations": accounts[0], "tenants": tenants}
    if operations_accounts > 1:
        registry["additional_operations"] = accounts[1:]
    return registry


def stack_set_registry(count: int, *, operations_accounts: int) -> dict[str, Any]:
    """``fleet_registry`` with the customer side rolled out by a SERVICE_MANAGED StackSet."""
    return {
        **fleet_registry(count, operations_accounts=operations_accounts),
        "customer_stack_set": {
            "code_bucket": CODE_BUCKET,
            "organizational_unit_ids": [TENANT_OU],
        },
    }


def write_yaml(data: dict[str, Any], path: Path) -> Path:
    yaml = YAML()
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(data, out)
    return path


def write_import_rows(count: int, path: Path) -> Path:
    """The tenants as ``tenantctl import`` takes them: a CSV of id, account_id, region."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "account_id", "region"])
        for i in range(count):
            writer.writerow([tenant_id(i), tenant_account(i), REGION])
    return path


def stack_names(registry_data: dict[str, Any]) -> tuple[list[str], list[str], str | None]:
    """The app's operations stacks, customer stacks and StackSet template, by name."""
    sys.path.insert(0, str(ROOT))
    from contracts.registry import parse_registry

    registry = parse_registry(registry_data)
    operations = [s.stack_name for s in registry.operations_stacks()]
    if registry_data.get("customer_stack_set"):
        return operations, [], STACK_SET_TEMPLATE
    return operations, [t.stack_name for t in registry.resolved_tenants()], None


def tenant_stacks(registry_data: dict[str, Any], index: int) -> list[str]:
    """The stacks a command about one tenant synthesizes: its customer stack (unless the
    StackSet rolls it out) and its operations shard."""
    sys.path.insert(0, str(ROOT))
    from contracts.registry import parse_registry

    registry = parse_registry(registry_data)
    tenant = registry.tenant(tenant_id(index))
    own = [] if registry_data.get("customer_stack_set") else [tenant.stack_name]
    return [*own, tenant.operations_stack_name]


def synth_groups(
    operations: Sequence[str],
    customers: Sequence[str],
    stack_set: str | None,
    *,
    processes: int | None = None,
) -> tuple[list[list[str]] | None, str]:
    """How ``tenantctl`` splits a full synth: None for one process over the whole app.

    ``processes`` None lets tenantctl choose (one per idle core); a number forces it.
    """
    try:
        from tenantctl.synth import parallel_groups
    except ImportError:
        return None, "one process (tenantctl.synth.parallel_groups not found)"
    groups = parallel_groups(list(operations), list(customers), processes=processes)
    if len(groups) < 2:
        return None, "one process (tenantctl.synth.parallel_groups: one group)"
    if stack_set:
        groups[0].append(stack_set)
    return groups, f"{len(groups)} processes (tenantctl.synth.parallel_groups), merged"


# --- the bare-CDK baseline ------------------------------------------------------------------


def baseline_app(count: int, *, validation: bool) -> int:
    """A bare CDK app with the project's resources per tenant (BASELINE_CONTENTS); its stacks."""
    import aws_cdk as cdk
    from aws_cdk import aws_events as events
    from aws_cdk import aws_events_targets as targets
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_sns as sns

    app = cdk.App(builtin_cloud_formation_validation=validation)
    ops_env = cdk.Environment(account=OPERATIONS_ACCOUNT, region=REGION)
    shards = [cdk.Stack(app, f"Ops-{s}", env=ops_env) for s in range(max(1, -(-count // SHARD)))]
    code = lambda_.Code.from_inline("def handler(e, c): return e")

    guard = lambda_.Function(
        shards[0],
        "Guard",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=code,
        log_group=logs.LogGroup(shards[0], "GuardLogs"),
    )
    cdk.CustomResource(shards[0], "GuardCheck", service_token=guard.function_arn)
    topic = sns.Topic(shards[0], "Alert", master_key=kms.Key(shards[0], "AlertKey"))
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["sns:Publish"],
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            resources=[topic.topic_arn],
        )
    )
    events.Rule(
        shards[0],
        "LoggingChanged",
        event_pattern=events.EventPattern(source=["aws.bedrock"]),
        targets=[targets.SnsTopic(topic)],
    )
    cdk.CfnOutput(shards[0], "GuardName", value=guard.function_name)
    cdk.CfnOutput(shards[0], "AlertTopic", value=topic.topic_arn)

    for i in range(count):
        tenant, account = tenant_id(i), tenant_account(i)
        ops = shards[i // SHARD]
        role = iam.Role(
            ops,
            f"Invoker-{tenant}",
            role_name=f"bedrock-invoker-{tenant}",
            assumed_by=iam.AccountPrincipal(account).with_conditions(
                {"StringEquals": {"sts:ExternalId": f"{tenant}-ext"}}
            ),
        )
        iam.Policy(
            ops,
            f"Models-{tenant}",
            statements=[
                iam.PolicyStatement(
                    actions=["bedrock:InvokeModel"],
                    resources=[f"arn:aws:bedrock:{REGION}::foundation-model/m"],
                )
            ],
        ).attach_to_role(role)
        cdk.CfnOutput(ops, f"Arn-{tenant}", value=role.role_arn)

        baseline_customer_stack(app, i, invoker_role_arn=role.role_arn)
    return len(app.synth().stacks)


def baseline_customer_stack(app: Any, i: int, *, invoker_role_arn: str) -> None:
    """The bare-CDK customer stack of tenant ``i`` (BASELINE_CONTENTS)."""
    import aws_cdk as cdk
    from aws_cdk import aws_cloudwatch as cw
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs

    tenant, account = tenant_id(i), tenant_account(i)
    five_minutes = cdk.Duration.minutes(5)
    stack = cdk.Stack(
        app, f"Customer-{tenant}", env=cdk.Environment(account=account, region=REGION)
    )
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    usage = logs.LogGroup(
        stack, "Usage", log_group_name="/aws/bedrock/langchain/logs", encryption_key=key
    )
    fn_logs = logs.LogGroup(stack, "FnLogs", encryption_key=key)
    fn_role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    fn_role.add_to_policy(
        iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[invoker_role_arn])
    )
    usage.grant_write(fn_role)
    fn = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(e, c): return e"),
        role=fn_role,
        log_group=fn_logs,
        timeout=cdk.Duration.seconds(60),
        environment={"TENANT_ID": tenant},
    )
    lambda_.Alias(stack, "Live", alias_name="live", version=fn.current_version)

    def metric(name: str, stat: str = "Sum", label: str | None = None) -> cw.Metric:
        return cw.Metric(
            namespace=USAGE_NAMESPACE,
            metric_name=name,
            dimensions_map={"TenantId": tenant},
            statistic=stat,
            period=five_minutes,
            label=label,
        )

    def search(name: str, by: str) -> cw.SearchExpression:
        return cw.SearchExpression(
            expression=f"SEARCH('{{{USAGE_NAMESPACE},TenantId,{by}}} "
            f'TenantId="{tenant}" MetricName="{name}"\', \'Sum\')',
            label=f"${{PROP('Dim.{by}')}}",
            period=five_minutes,
        )

    def error_rate() -> cw.MathExpression:
        return cw.MathExpression(
            expression="100 * errors / invocations",
            using_metrics={"errors": metric("Errors"), "invocations": metric("Invocations")},
            period=five_minutes,
        )

    def graph(title: str, left: list[cw.IMetric], **kw: Any) -> cw.GraphWidget:
        return cw.GraphWidget(title=title, left=left, width=12, height=6, **kw)

    alarms = [
        cw.Alarm(
            stack,
            alarm_id,
            alarm_name=f"bedrock-usage-{tenant}-{alarm_id}",
            metric=watched,
            threshold=threshold,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        for alarm_id, watched, threshold in (
            ("ErrorRate", error_rate(), 5),
            ("Throttles", metric("Throttles"), 1),
            ("FunctionErrors", fn.metric_errors(period=five_minutes), 1),
            ("Duration", fn.metric_duration(period=five_minutes, statistic="Maximum"), 48000),
        )
    ]
    dashboard = cw.Dashboard(
        stack,
        "Dashboard",
        dashboard_name=f"bedrock-usage-{tenant}",
        default_interval=cdk.Duration.days(7),
    )
    dashboard.add_widgets(cw.TextWidget(markdown=f"# Bedrock usage: {tenant}", width=24))
    dashboard.add_widgets(
        graph("Input tokens", [search("InputTokens", "ApplicationId")], stacked=True),
        graph("Output tokens", [search("OutputTokens", "ApplicationId")], stacked=True),
    )
    dashboard.add_widgets(
        graph(
            "Invocations and errors",
            [metric("Invocations"), metric("Errors")],
            right=[error_rate()],
        ),
        graph("Throttles", [metric("Throttles"), fn.metric_throttles(period=five_minutes)]),
    )
    dashboard.add_widgets(
        graph("Latency", [metric("LatencyMs", stat) for stat in ("p50", "p90", "p99")]),
        graph("Cache", [metric("CacheReadInputTokens"), metric("CacheWriteInputTokens")]),
    )
    dashboard.add_widgets(
        graph("Cost by application", [search("CostUSD", "ApplicationId")], stacked=True),
        graph("Cost by model", [search("CostUSD", "ModelId")], stacked=True),
    )
    dashboard.add_widgets(
        cw.SingleValueWidget(
            title="Last 30 days",
            metrics=[
                metric(name)
                for name in (
                    "InputTokens",
                    "OutputTokens",
                    "CacheReadInputTokens",
                    "CacheWriteInputTokens",
                    "CostUSD",
                )
            ],
            set_period_to_time_range=True,
            width=12,
            height=6,
        ),
        graph(
            "Function",
            [fn.metric_errors(period=five_minutes)],
            right=[fn.metric_duration(period=five_minutes, statistic="Maximum")],
            right_annotations=[cw.HorizontalAnnotation(value=60000, label="Timeout")],
        ),
    )
    dashboard.add_widgets(cw.AlarmStatusWidget(alarms=alarms, width=24, height=3))
    queries = {
        name: logs.QueryString(
            filter_statements=['event = "bedrock.invocation"'],
            stats_statements=[f"sum(total_tokens) as tokens by {name}"],
            sort="tokens desc",
            limit=100,
        )
        for name in ("application_id", "user_id", "model_id", "status")
    }
    dashboard.add_widgets(
        cw.LogQueryWidget(
            log_group_names=[usage.log_group_name],
            query_string=queries["user_id"].to_string(),
            view=cw.LogQueryVisualizationType.TABLE,
            width=24,
        )
    )
    for name, query in queries.items():
        logs.QueryDefinition(
            stack,
            f"Query-{name}",
            query_definition_name=f"bedrock-usage/{tenant}/{name}",
            query_string=query,
            log_groups=[usage],
        )
    cdk.CfnOutput(stack, "FunctionName", value=fn.function_name)
    cdk.CfnOutput(stack, "RoleArn", value=fn_role.role_arn)
    cdk.CfnOutput(stack, "LogGroup", value=usage.log_group_name)


# --- measuring ------------------------------------------------------------------------------


class RssSampler:
    """The peak of the summed resident set of a process's descendants, sampled from /proc."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self._sample())

    def _sample(self) -> int:
        parents: dict[int, int] = {}
        resident: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
                statm = Path(entry.path, "statm").read_text()
            except OSError:
                continue  # ended meanwhile
            # The command name may hold spaces: the fields after its ')' are fixed.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            resident[int(entry.name)] = int(statm.split()[1]) * self._page
        total, stack = 0, [self.root]
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        while stack:
            for child in children.get(stack.pop(), []):
                total += resident.get(child, 0)
                stack.append(child)
        return total


def app_environment(context: dict[str, Any], outdir: Path) -> dict[str, str]:
    """The environment ``cdk synth`` gives the app (cdk.json's ``app`` line sets JSII_NODE)."""
    return {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "JSII_NODE": str(ROOT / ".venv" / "bin" / "node"),
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
    }


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:4])}... exit {done.returncode}\n{done.stderr[-3000:]}"
        )


def measured_run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measured job (in the ``--measure`` child); its figures."""
    kind = spec["kind"]
    outdir = Path(spec["outdir"])
    started = time.perf_counter()
    with RssSampler(os.getpid()) as sampler:
        if kind == "app":
            context = {**cdk_json_context(), **NO_BUNDLING, "registry": spec["registry"]}
            groups: list[list[str]] | None = spec.get("groups")
            if spec.get("stacks"):
                context["stacks"] = ",".join(spec["stacks"])
            if not groups:
                _run([sys.executable, "app.py"], app_environment(context, outdir))
            else:
                parts = [outdir.parent / f"{outdir.name}-part{i}" for i in range(len(groups))]

                def one(index: int) -> None:
                    group_context = {**context, "stacks": ",".join(groups[index])}
                    _run([sys.executable, "app.py"], app_environment(group_context, parts[index]))

                with ThreadPoolExecutor(max_workers=len(groups)) as pool:
                    list(pool.map(one, range(len(groups))))
                from tenantctl.cloud_assembly import merge

                merge(parts, outdir)
        elif kind == "baseline":
            context = {**cdk_json_context(), **NO_BUNDLING}
            _run(
                [
                    sys.executable,
                    "-m",
                    "bench.synth",
                    "--baseline-app",
                    str(spec["tenants"]),
                    "on" if spec["validation"] else "off",
                ],
                app_environment(context, outdir),
            )
        elif kind == "tenantctl":
            _run([sys.executable, "-m", "tenantctl", *spec["args"]])
        else:
            raise ValueError(kind)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures: dict[str, Any] = {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mb": sampler.peak_bytes / 2**20,
        "largest_process_mb": usage.ru_maxrss / 1024,
    }
    manifest = outdir / "manifest.json"
    if manifest.exists():
        artifacts = json.loads(manifest.read_text())["artifacts"].values()
        figures["stacks"] = sum(a.get("type") == "aws:cloudformation:stack" for a in artifacts)
    return figures


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """One job in a fresh process (so its getrusage peak is its own); wall includes start-up."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.synth", "--measure", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec['kind']} failed:\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["wall_seconds"] = time.perf_counter() - started
    return figures


def tenantctl_has(command: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "tenantctl", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0


# --- the scenarios --------------------------------------------------------------------------


def full_synth(
    tmp: Path, tenants: int, say: Callable[[str], None], *, processes: int | None
) -> dict[str, Any]:
    data = fleet_registry(tenants)
    registry = write_yaml(data, tmp / f"full-{tenants}.yaml")
    operations, customers, _ = stack_names(data)
    groups, how = synth_groups(operations, customers, None, processes=processes)
    # Like with like: the baseline as the project's app synthesizes (CDK's built-in
    # validation off, cfn-lint and cdk-nag gate the templates in tests); and once
    # with CDK's defaults, which is what a bare CDK user gets.
    say(f"full synth, {tenants} tenants: bare-CDK baseline (CDK validation off, as the app)")
    base = measure(
        {"kind": "baseline", "tenants": tenants, "validation": False, "outdir": str(tmp / "base")}
    )
    say(f"full synth, {tenants} tenants: bare-CDK baseline (CDK's defaults: validation on)")
    defaults = measure(
        {"kind": "baseline", "tenants": tenants, "validation": True, "outdir": str(tmp / "b-on")}
    )
    say(f"full synth, {tenants} tenants: the project, {how}")
    project = measure(
        {"kind": "app", "registry": str(registry), "groups": groups, "outdir": str(tmp / "full")}
    )
    project["how"] = how
    figures: dict[str, Any] = {}
    if groups:
        # The same app in one process: what the constructs cost, without the parallelism.
        say(f"full synth, {tenants} tenants: the project, one process")
        figures["project_one_process"] = measure(
            {"kind": "app", "registry": str(registry), "outdir": str(tmp / "full-one")}
        )
        figures["project_one_process"]["how"] = "one process"
    else:
        figures["project_one_process"] = project  # tenantctl chose one process itself
    return {
        "tenants": tenants,
        "project": project,
        **figures,
        "baseline": base,
        "baseline_cdk_defaults": defaults,
        "ratio": project["wall_seconds"] / base["wall_seconds"],
        "ratio_to_cdk_defaults": project["wall_seconds"] / defaults["wall_seconds"],
    }


def targeted_synth(tmp: Path, tenants: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Tenant 0 (its customer stack and shard 0) in the large registry and alone."""
    figures: dict[str, Any] = {}
    for label, count in (("in_fleet", tenants), ("alone", 1)):
        data = fleet_registry(count)
        registry = write_yaml(data, tmp / f"targeted-{count}.yaml")
        stacks = tenant_stacks(data, 0)
        say(f"targeted synth of {', '.join(stacks)} in a {count}-tenant registry")
        figures[label] = measure(
            {
                "kind": "app",
                "registry": str(registry),
                "stacks": stacks,
                "outdir": str(tmp / f"targeted-{count}"),
            }
        )
        figures["stacks"] = stacks
    figures["tenants"] = tenants
    figures["ratio"] = figures["in_fleet"]["wall_seconds"] / figures["alone"]["wall_seconds"]
    figures["command"] = targeted_command(tmp, tenants, say)
    return figures


# Runs of the tenantctl command per registry, alternating (the median counts).
COMMAND_RUNS = 3


def targeted_command(tmp: Path, tenants: int, say: Callable[[str], None]) -> dict[str, Any]:
    """The targeted synth as the operator runs it: ``tenantctl deploy --tenant X
    --dry-run`` (the CDK CLI, the app with its ``stacks`` filter and the function's
    bundling, then the plan; nothing deployed) in the large registry and alone.

    One run first, not counted, fills the bundle cache, so both sides reuse the
    same bundle as an operator's repeated runs do; the runs then alternate.
    """
    registries = {
        label: tmp / f"targeted-{count}.yaml"
        for label, count in (("in_fleet", tenants), ("alone", 1))
    }

    def run(registry: Path) -> float:
        args = ["--registry", str(registry), "deploy", "--tenant", tenant_id(0), "--dry-run"]
        figures = measure({"kind": "tenantctl", "args": args, "outdir": str(tmp / "none")})
        return float(figures["wall_seconds"])

    say(f"targeted synth as tenantctl runs it (deploy --tenant {tenant_id(0)} --dry-run)")
    run(registries["alone"])
    seconds: dict[str, list[float]] = {label: [] for label in registries}
    for _ in range(COMMAND_RUNS):
        for label, registry in registries.items():
            seconds[label].append(run(registry))
    medians = {label: sorted(runs)[len(runs) // 2] for label, runs in seconds.items()}
    return {
        "command": f"tenantctl deploy --tenant {tenant_id(0)} --dry-run",
        "seconds": seconds,
        "in_fleet_seconds": medians["in_fleet"],
        "alone_seconds": medians["alone"],
        "ratio": medians["in_fleet"] / medians["alone"],
    }


def import_rows(
    tmp: Path, rows: int, registry_data: dict[str, Any], say: Callable[[str], None]
) -> dict[str, Any]:
    """``tenantctl import`` of ``rows`` CSV rows into ``registry_data`` without its tenants."""
    if not tenantctl_has("import"):
        reason = "tenantctl has no import command yet"
        say(f"import of {rows} rows: skipped ({reason})")
        return {"rows": rows, "skipped": reason}
    empty = {**registry_data, "tenants": []}
    registry = write_yaml(empty, tmp / f"import-{rows}.yaml")
    source = write_import_rows(rows, tmp / f"import-{rows}.csv")
    say(f"tenantctl import of {rows} rows")
    figures = measure(
        {
            "kind": "tenantctl",
            "args": ["--registry", str(registry), "import", str(source)],
            "outdir": str(tmp / f"import-{rows}"),
        }
    )
    from contracts.registry import load_registry

    figures["imported"] = len(load_registry(registry).tenants)
    figures["rows"] = rows
    return figures


def stack_set_fleet(
    tmp: Path, tenants: int, accounts: int, say: Callable[[str], None], *, processes: int | None
) -> dict[str, Any]:
    data = stack_set_registry(tenants, operations_accounts=accounts)
    registry = write_yaml(data, tmp / f"stackset-{tenants}.yaml")
    operations, _, template = stack_names(data)
    figures: dict[str, Any] = {
        "tenants": tenants,
        "operations_accounts": accounts,
        "operations_stacks": len(operations),
    }
    say(f"tenantctl validate, {tenants} tenants")
    figures["validate"] = measure(
        {
            "kind": "tenantctl",
            "args": ["--registry", str(registry), "validate"],
            "outdir": str(tmp / "validate"),
        }
    )
    figures["import"] = import_rows(tmp, tenants, data, say)
    stacks = tenant_stacks(data, tenants - 1)
    say(f"targeted synth of {', '.join(stacks)} in the {tenants}-tenant registry")
    figures["targeted"] = measure(
        {
            "kind": "app",
            "registry": str(registry),
            "stacks": stacks,
            "outdir": str(tmp / "stackset-targeted"),
        }
    )
    figures["targeted"]["stacks_selected"] = stacks
    groups, how = synth_groups(operations, [], template, processes=processes)
    say(f"full synth, {tenants} tenants: {len(operations)} operations stacks + {template}, {how}")
    figures["full"] = measure(
        {"kind": "app", "registry": str(registry), "groups": groups, "outdir": str(tmp / "ss")}
    )
    figures["full"]["how"] = how
    return figures


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target beside its figure: PASS, MISS, or not measured (and why)."""
    full = next((f for f in results["full"] if f["tenants"] == 1000), None)
    large = results.get("stack_set_fleet") or {}
    imported = results.get("import") or {}
    figures: dict[str, float | None] = {
        "targeted_ratio": results["targeted"]["ratio"]
        if results["targeted"].get("tenants") == 1000
        else None,
        "targeted_command_ratio": results["targeted"]["command"]["ratio"]
        if results["targeted"].get("tenants") == 1000 and "command" in results["targeted"]
        else None,
        "full_ratio": full["ratio"] if full else None,
        "full_peak_mb": full["project"]["peak_mb"] if full else None,
        "full_one_process_ratio": full["project_one_process"]["wall_seconds"]
        / full["baseline"]["wall_seconds"]
        if full and "project_one_process" in full
        else None,
        "full_one_process_peak_mb": full["project_one_process"]["peak_mb"]
        if full and "project_one_process" in full
        else None,
        "large_validate_s": large["validate"]["wall_seconds"]
        if large.get("tenants") == 10000
        else None,
        "large_synth_s": large["full"]["wall_seconds"] if large.get("tenants") == 10000 else None,
        "import_s": imported.get("wall_seconds") if imported.get("rows") == 1000 else None,
    }
    rows = []
    for key, what, limit, unit in TARGETS:
        figure = figures[key]
        row: dict[str, Any] = {
            "key": key,
            "target": what,
            "limit": f"<= {limit:g} {unit}",
            "figure": figure,
        }
        if figure is None:
            row["result"] = "NOT MEASURED (size below the target's, or the command is missing)"
        else:
            row["result"] = "PASS" if figure <= limit else "MISS"
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.synth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tenants", type=int, default=1000, help="the fleet of full/targeted")
    parser.add_argument("--large", type=int, default=10000, help="the StackSet fleet (0: skip)")
    parser.add_argument("--operations-accounts", type=int, default=4)
    parser.add_argument("--import-rows", type=int, default=1000)
    parser.add_argument(
        "--synth-processes",
        type=int,
        default=os.cpu_count(),
        help="processes of a full synth, split as tenantctl splits it (default: one per "
        "core, what tenantctl chooses on an idle machine; it takes fewer on a busy one, and "
        "the bench's own runs keep the load average up)",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "synth-results.json")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-app", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measured_run(json.loads(args.measure))))
        return 0
    if args.baseline_app:
        baseline_app(int(args.baseline_app[0]), validation=args.baseline_app[1] == "on")
        return 0

    from rich.console import Console

    console = Console(width=150)

    def say(line: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")

    started = time.perf_counter()
    load_before = os.getloadavg()
    results: dict[str, Any] = {
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before},
        "method": (
            "fresh processes, `python app.py` with the context `cdk synth` would give it, "
            "bundling off; seconds = wall time of the measured processes, wall_seconds adds "
            "the measuring process's start-up; peak_mb = summed RSS of every process of the "
            "job (sampled from /proc every 0.2 s), largest_process_mb = "
            "getrusage(RUSAGE_CHILDREN).ru_maxrss (psutil is not installed)"
        ),
        "baseline_contents": BASELINE_CONTENTS,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        results["full"] = [full_synth(tmp, args.tenants, say, processes=args.synth_processes)]
        results["targeted"] = targeted_synth(tmp, args.tenants, say)
        results["import"] = import_rows(
            tmp, args.import_rows, fleet_registry(args.import_rows), say
        )
        if args.large:
            results["stack_set_fleet"] = stack_set_fleet(
                tmp, args.large, args.operations_accounts, say, processes=args.synth_processes
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"]["load_average_after"] = os.getloadavg()
    results["run_seconds"] = time.perf_counter() - started
    results["targets"] = verdicts(results)
    print_report(console, results)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"written to {args.json} ({results['run_seconds']:.0f} s)")
    return 0


def print_report(console: Any, results: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="cdk synth, fresh processes, bundling off")
    for column in ("job", "stacks", "wall s", "cpu s", "peak MB (all)", "largest MB", "how"):
        table.add_column(column, justify="left" if column in ("job", "how") else "right")

    def row(job: str, f: dict[str, Any]) -> None:
        if "skipped" in f:
            table.add_row(job, "", "", "", "", "", f"skipped: {f['skipped']}")
            return
        table.add_row(
            job,
            str(f.get("stacks", "")),
            f"{f['wall_seconds']:.1f}",
            f"{f['cpu_seconds']:.1f}",
            f"{f['peak_mb']:.0f}",
            f"{f['largest_process_mb']:.0f}",
            f.get("how", ""),
        )

    for full in results["full"]:
        n = full["tenants"]
        row(f"full {n}: project", full["project"])
        if full.get("project_one_process", full["project"]) != full["project"]:
            row(f"full {n}: project, one process", full["project_one_process"])
        row(f"full {n}: bare CDK, validation off", full["baseline"])
        row(f"full {n}: bare CDK, CDK's defaults", full["baseline_cdk_defaults"])
    targeted = results["targeted"]
    row(f"targeted 1 of {targeted['tenants']}", targeted["in_fleet"])
    row("targeted 1 of 1", targeted["alone"])
    command = targeted.get("command")
    if command:
        for label, count in (("in_fleet", targeted["tenants"]), ("alone", 1)):
            table.add_row(
                f"{command['command']}, 1 of {count}",
                "",
                f"{command[label + '_seconds']:.1f}",
                "",
                "",
                "",
                f"median of {len(command['seconds'][label])}, the CDK CLI and bundle cache",
            )
    row(f"import {results['import']['rows']} rows", results["import"])
    large = results.get("stack_set_fleet")
    if large:
        n = large["tenants"]
        row(f"StackSet {n}: validate", large["validate"])
        row(f"StackSet {n}: import", large["import"])
        row(f"StackSet {n}: targeted", large["targeted"])
        row(f"StackSet {n}: full", large["full"])
    console.print(table)
    console.print(f"bare-CDK baseline: {results['baseline_contents']}")
    verdict = Table(title="issue 20 targets, this run")
    for column in ("target", "limit", "figure", "result"):
        verdict.add_column(column)
    for t in results["targets"]:
        figure = "" if t["figure"] is None else f"{t['figure']:.2f}"
        verdict.add_row(t["target"], t["limit"], figure, t["result"])
    console.print(verdict)
    machine = results["machine"]
    console.print(
        f"{machine['cpus']} cores; load average before {machine['load_average_before']}, "
        f"after {machine['load_average_after']}"
    )


if __name__ == "__main__":
    sys.exit(main())
