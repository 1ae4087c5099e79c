"""Fleet deployment: every operations stack first, then the customer stacks in parallel.

The app is synthesized once into a cloud assembly; every ``cdk deploy`` then reads
that assembly (``--app <dir>``) instead of running the app again, which is what
makes a fleet affordable: synthesis is the costly part of a deploy. Operations
stacks go first (a customer stack's function assumes a role they create), then
the customer stacks with bounded parallelism. A failure does not stop the others;
the stacks that failed are remembered so that running the same command again
retries only those.

Nothing a customer stack needs is passed here that a plain ``cdk deploy`` would
not have: a tenant's application inference profile ARNs, which Bedrock generates
in the operations account, are read there by the function itself.

``--changed`` compares each synthesized template with the deployed one
(CloudFormation ``GetTemplate``): one API call per stack, in parallel, and no Node
process. Asset changes show in the template as their content hash (the Lambda
code's S3 key), so equal templates mean equal assets. CDK's own ``cdk diff`` would
say the same at the cost of one CLI process (seconds) per stack.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from contracts.registry import TenantRegistry, load_registry
from tenantctl.cdk_runner import (
    PROJECT_ROOT,
    CloudEnv,
    DeployError,
    StackTarget,
    cli_environment,
    run_cdk,
)

Status = Literal["deployed", "unchanged", "failed", "skipped"]
STATE_FILE = "last-deploy.json"


@dataclass(frozen=True)
class FleetTarget:
    """One stack of the fleet: where it goes and, for a customer stack, whose it is."""

    stack: StackTarget
    tenant_id: str | None = None
    # A customer stack's operations stack: it must be deployed first.
    operations_stack: str | None = None

    @property
    def is_operations(self) -> bool:
        return self.tenant_id is None


@dataclass
class StackResult:
    """What happened to one stack."""

    target: FleetTarget
    status: Status
    seconds: float = 0.0
    error: str = ""


@dataclass
class FleetReport:
    """Every stack's result, in plan order, and the run's wall time."""

    results: list[StackResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[StackResult]:
        return [r for r in self.results if r.status == "failed"]


class Progress(Protocol):
    """What the fleet reports while it runs (the CLI draws a progress bar from it)."""

    def started(self, total: int) -> None:
        """The number of stacks about to be deployed."""

    def finished(self, result: StackResult) -> None:
        """One stack is done (deployed, unchanged, failed or skipped)."""


def plan(registry: TenantRegistry, tenant_ids: Sequence[str] | None = None) -> list[FleetTarget]:
    """The stacks to deploy: operations stacks first, then customer stacks.

    With ``tenant_ids``, only those tenants' customer stacks and the operations
    stacks holding their roles. Raises KeyError for an unknown tenant.
    """
    tenants = (
        [registry.tenant(t) for t in dict.fromkeys(tenant_ids)]
        if tenant_ids is not None
        else list(registry.resolved_tenants())
    )
    needed = {t.operations_stack_name for t in tenants}
    operations = [
        FleetTarget(
            StackTarget(stack.stack_name, stack.operations.account_id, stack.operations.region)
        )
        for stack in registry.operations_stacks()
        if tenant_ids is None or stack.stack_name in needed
    ]
    customers = [
        FleetTarget(
            StackTarget(t.stack_name, t.account_id, t.region),
            tenant_id=t.id,
            operations_stack=t.operations_stack_name,
        )
        for t in tenants
    ]
    return operations + customers


def synthesize(
    cloud: CloudEnv,
    out_dir: Path,
    *,
    context: Mapping[str, str],
    app_dir: Path = PROJECT_ROOT,
    on_line: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """``cdk synth`` the app once into ``out_dir`` for ``cloud``; the templates by stack name.

    ``context`` is the app's (the project's app takes ``registry``); the cloud
    adds its own (the embedded cloud's ``lambda_platform=host``).
    """
    context = {**context, **cloud.cdk_context}
    args = ["synth", "--quiet", "--output", str(out_dir)]
    for key, value in context.items():
        args += ["-c", f"{key}={value}"]
    run_cdk(args, env=cli_environment({}), cwd=app_dir, progress=on_line)
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    templates: dict[str, dict[str, Any]] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        properties = artifact.get("properties", {})
        # The manifest names the stack only where it differs from the artifact id.
        name = properties.get("stackName") or artifact_id
        template_file = properties.get("templateFile")
        if name and template_file:
            templates[name] = json.loads((out_dir / template_file).read_text(encoding="utf-8"))
    return templates


class TemplateReader(Protocol):
    """Reads a deployed stack's template (a boto3 CloudFormation client's ``get_template``)."""

    def __call__(self, target: StackTarget) -> dict[str, Any] | None:
        """The deployed template, or None when the stack does not exist."""


def unchanged(
    targets: Sequence[FleetTarget],
    templates: Mapping[str, Mapping[str, Any]],
    read_deployed: TemplateReader,
    *,
    concurrency: int = 8,
) -> set[str]:
    """Stack names whose deployed template equals the synthesized one."""

    def same(target: FleetTarget) -> bool:
        deployed = read_deployed(target.stack)
        return deployed is not None and _normal(deployed) == _normal(
            templates.get(target.stack.stack_name, {})
        )

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        verdicts = list(pool.map(same, targets))
    return {t.stack.stack_name for t, ok in zip(targets, verdicts, strict=True) if ok}


def _normal(template: Mapping[str, Any]) -> str:
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


def deploy(
    cloud: CloudEnv,
    targets: Sequence[FleetTarget],
    assembly_dir: Path,
    *,
    concurrency: int = 4,
    skip: Iterable[str] = (),
    progress: Progress | None = None,
    app_dir: Path = PROJECT_ROOT,
    bootstrap: bool = True,
) -> FleetReport:
    """Bootstrap each environment once, deploy operations stacks, then customer stacks.

    ``skip`` are stacks known to be up to date (``unchanged``). A customer stack
    whose operations stack failed is skipped: its function could not assume its
    role. Nothing raises for a failed stack; the report says which failed.
    """
    started = time.perf_counter()
    skipped = set(skip)
    report = FleetReport()
    results: dict[str, StackResult] = {}
    lock = threading.Lock()
    work = [t for t in targets if t.stack.stack_name not in skipped]
    if progress is not None:
        progress.started(len(targets))

    def done(result: StackResult) -> None:
        with lock:
            results[result.target.stack.stack_name] = result
        if progress is not None:
            progress.finished(result)

    for target in targets:
        if target.stack.stack_name in skipped:
            done(StackResult(target, "unchanged"))

    failed_envs: dict[tuple[str, str], str] = {}
    if bootstrap and work:
        envs = list(dict.fromkeys((t.stack.account_id, t.stack.region) for t in work))
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = {
                pool.submit(_bootstrap, cloud, account, region, assembly_dir, app_dir): (
                    account,
                    region,
                )
                for account, region in envs
            }
            for future in as_completed(futures):
                error = future.result()
                if error:
                    failed_envs[futures[future]] = error

    def one(target: FleetTarget, blocked: str | None) -> None:
        env_error = failed_envs.get((target.stack.account_id, target.stack.region))
        if blocked or env_error:
            done(StackResult(target, "skipped", error=blocked or f"bootstrap: {env_error}"))
            return
        began = time.perf_counter()
        try:
            run_cdk(
                [
                    "deploy",
                    target.stack.stack_name,
                    "--app",
                    str(assembly_dir),
                    "--require-approval",
                    "never",
                    "--progress",
                    "events",
                ],
                env=cli_environment(cloud.env(target.stack.account_id, target.stack.region)),
                cwd=app_dir,
            )
        except (DeployError, TimeoutError, OSError) as error:
            done(StackResult(target, "failed", time.perf_counter() - began, _brief(error)))
            return
        done(StackResult(target, "deployed", time.perf_counter() - began))

    operations = [t for t in work if t.is_operations]
    customers = [t for t in work if not t.is_operations]
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(lambda t: one(t, None), operations))
    failed_ops = {
        r.target.stack.stack_name for r in results.values() if r.status in {"failed", "skipped"}
    }
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(
            pool.map(
                lambda t: one(
                    t,
                    f"its operations stack {t.operations_stack} did not deploy"
                    if t.operations_stack in failed_ops
                    else None,
                ),
                customers,
            )
        )
    report.results = [results[t.stack.stack_name] for t in targets]
    report.seconds = time.perf_counter() - started
    return report


def _bootstrap(
    cloud: CloudEnv, account: str, region: str, assembly_dir: Path, app_dir: Path
) -> str:
    try:
        run_cdk(
            ["bootstrap", f"aws://{account}/{region}", "--app", str(assembly_dir)],
            env=cli_environment(cloud.env(account, region)),
            cwd=app_dir,
        )
    except (DeployError, TimeoutError, OSError) as error:
        return _brief(error)
    return ""


def _brief(error: BaseException) -> str:
    if isinstance(error, DeployError):
        lines = [line for line in error.tail if line.strip()]
        interesting = [line for line in lines if "fail" in line.lower() or "error" in line.lower()]
        return (interesting or lines or [str(error)])[-1].strip()[:300]
    return str(error)[:300]


def deploy_registry(
    cloud: CloudEnv,
    registry_path: Path,
    *,
    tenant_ids: Sequence[str] | None = None,
    concurrency: int = 4,
    progress: Progress | None = None,
    on_line: Callable[[str], None] | None = None,
) -> FleetReport:
    """Synthesize the project's app for a registry once and deploy its fleet."""
    registry_path = Path(registry_path).resolve()
    targets = plan(load_registry(registry_path), tenant_ids)
    with tempfile.TemporaryDirectory(prefix="tenantctl-assembly-") as tmp:
        assembly = Path(tmp) / "cdk.out"
        synthesize(cloud, assembly, context={"registry": str(registry_path)}, on_line=on_line)
        return deploy(cloud, targets, assembly, concurrency=concurrency, progress=progress)


# --- remembering failures --------------------------------------------------------------------


def selection_key(registry_path: Path, tenant_ids: Sequence[str] | None) -> str:
    """What a run deployed, so that only the same command reuses its failures."""
    return json.dumps(
        {"registry": str(registry_path.resolve()), "tenants": sorted(tenant_ids or [])}
    )


def remembered_failures(state_dir: Path, key: str) -> list[str]:
    """Stacks that failed in the last run of the same selection."""
    try:
        state = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(state, dict) or state.get("selection") != key:
        return []
    failed = state.get("failed")
    return [str(s) for s in failed] if isinstance(failed, list) else []


def remember(state_dir: Path, key: str, report: FleetReport) -> None:
    """Record this run's failed (and skipped) stacks; none means a clean slate."""
    retry = [r.target.stack.stack_name for r in report.results if r.status in {"failed", "skipped"}]
    path = state_dir / STATE_FILE
    if not retry:
        path.unlink(missing_ok=True)
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"selection": key, "failed": retry}, indent=2), encoding="utf-8")
    tmp.replace(path)
