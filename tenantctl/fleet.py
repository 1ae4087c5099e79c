"""Fleet deployment: every operations stack first, then the customer stacks in parallel.

The app is synthesized once into a cloud assembly, only the stacks of the
selection (``synth_plan``; several processes for a large one, ``tenantctl.synth``);
every ``cdk deploy`` then reads that assembly (``--app <dir>``) instead of running
the app again, which is what makes a fleet affordable: synthesis is the costly
part of a deploy. Operations
stacks go first (a customer stack's function assumes a role they create), then
the customer stacks with bounded parallelism. A failure does not stop the others.

Each finished stack is remembered (``DeployMemory``) with what it was deployed
from: its synthesized template's hash and its target (the account, and the
endpoint and profile that reach it). Running the same command again deploys
every stack of the selection except those remembered as deployed from the very
template and target they would be deployed from now, so a failed, interrupted,
changed or new stack is always deployed. Ctrl-C stops starting stacks, lets the
ones already running finish (CloudFormation would carry on without us) and
raises ``FleetInterrupted`` with the report so far.

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

import hashlib
import json
import re
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
from tenantctl.synth import parallel_groups, synthesize

__all__ = ["synthesize"]  # re-exported: callers synthesize through the fleet

Status = Literal["deployed", "unchanged", "failed", "skipped", "interrupted"]
# Stacks whose deployed state is their synthesized template.
DONE: frozenset[Status] = frozenset({"deployed", "unchanged"})
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

    @property
    def not_done(self) -> list[StackResult]:
        """Stacks not deployed: failed, skipped or interrupted."""
        return [r for r in self.results if r.status not in DONE]


class FleetInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fleet deploy; ``report`` says what finished and what did not."""

    def __init__(self, report: FleetReport) -> None:
        super().__init__("interrupted")
        self.report = report


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
        # customer_stack_set: the customer side is a StackSet instance (tenantctl stackset sync).
        if registry.customer_stack_set is None
    ]
    return operations + customers


@dataclass(frozen=True)
class SynthPlan:
    """What to synthesize for a selection: the app's stack filter and the process groups.

    ``stacks`` None means the whole app (no filter); ``groups`` with more than
    one entry means a parallel synth, one process per group.
    """

    stacks: list[str] | None
    groups: list[list[str]]
    total: int  # stacks in the whole app (operations and customer stacks)


def synth_plan(
    registry: TenantRegistry,
    targets: Sequence[FleetTarget],
    *,
    whole_app: bool,
    processes: int | None = None,
) -> SynthPlan:
    """The synth for ``targets``: just their stacks unless ``whole_app``, in parallel if large."""
    total = len(registry.operations_stacks()) + len(registry.tenants)
    groups = parallel_groups(
        [t.stack.stack_name for t in targets if t.is_operations],
        [t.stack.stack_name for t in targets if not t.is_operations],
        processes=processes,
    )
    if len(groups) > 1:
        return SynthPlan([t.stack.stack_name for t in targets], groups, total)
    return SynthPlan(None if whole_app else [t.stack.stack_name for t in targets], groups, total)


class TemplateReader(Protocol):
    """Reads a deployed stack's template (a boto3 CloudFormation client's ``get_template``)."""

    def __call__(self, target: StackTarget) -> dict[str, Any] | None:
        """The deployed template, or None when the stack does not exist."""


Comparison = Literal["same", "differs", "absent"]


def compare(
    targets: Sequence[FleetTarget],
    templates: Mapping[str, Mapping[str, Any]],
    read_deployed: TemplateReader,
    *,
    concurrency: int = 8,
) -> dict[str, Comparison]:
    """Each stack's synthesized template against the deployed one (absent: not deployed)."""

    def verdict(target: FleetTarget) -> Comparison:
        deployed = read_deployed(target.stack)
        if deployed is None:
            return "absent"
        same = _normal(deployed) == _normal(templates.get(target.stack.stack_name, {}))
        return "same" if same else "differs"

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        verdicts = list(pool.map(verdict, targets))
    return {t.stack.stack_name: v for t, v in zip(targets, verdicts, strict=True)}


def unchanged(
    targets: Sequence[FleetTarget],
    templates: Mapping[str, Mapping[str, Any]],
    read_deployed: TemplateReader,
    *,
    concurrency: int = 8,
) -> set[str]:
    """Stack names whose deployed template equals the synthesized one."""
    verdicts = compare(targets, templates, read_deployed, concurrency=concurrency)
    return {name for name, verdict in verdicts.items() if verdict == "same"}


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

    ``skip`` are stacks known to be up to date (``unchanged``). A stack whose own
    environment failed to bootstrap has failed; a customer stack whose operations
    stack did not deploy is skipped: its function could not assume its role.
    Nothing raises for a failed stack; the report says which failed. Ctrl-C raises
    ``FleetInterrupted`` once the stacks already running have finished.
    """
    started = time.perf_counter()
    skipped = set(skip)
    results: dict[str, StackResult] = {}
    lock = threading.Lock()
    stop = threading.Event()
    work = [t for t in targets if t.stack.stack_name not in skipped]
    if progress is not None:
        progress.started(len(targets))

    def done(result: StackResult) -> None:
        with lock:
            results[result.target.stack.stack_name] = result
        if progress is not None:
            progress.finished(result)

    def report() -> FleetReport:
        with lock:
            ordered = [
                results.get(t.stack.stack_name)
                or StackResult(t, "interrupted", error="not deployed: interrupted")
                for t in targets
            ]
        return FleetReport(ordered, time.perf_counter() - started)

    for target in targets:
        if target.stack.stack_name in skipped:
            done(StackResult(target, "unchanged"))

    failed_envs: dict[tuple[str, str], str] = {}

    def bootstrap_env(env: tuple[str, str]) -> None:
        if stop.is_set():
            return
        error = _bootstrap(cloud, env[0], env[1], assembly_dir, app_dir)
        if error:
            with lock:
                failed_envs[env] = error

    def one(target: FleetTarget, blocked: str | None) -> None:
        if stop.is_set():
            return  # interrupted before it started: reported as such
        env_error = failed_envs.get((target.stack.account_id, target.stack.region))
        if env_error:
            done(StackResult(target, "failed", error=f"bootstrap: {env_error}"))
            return
        if blocked:
            done(StackResult(target, "skipped", error=blocked))
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

    try:
        if bootstrap and work:
            envs = list(dict.fromkeys((t.stack.account_id, t.stack.region) for t in work))
            _each(bootstrap_env, envs, concurrency, stop)
        _each(lambda t: one(t, None), [t for t in work if t.is_operations], concurrency, stop)
        failed_ops = {
            r.target.stack.stack_name
            for r in results.values()
            if r.target.is_operations and r.status not in DONE
        }
        _each(
            lambda t: one(
                t,
                f"its operations stack {t.operations_stack} did not deploy"
                if t.operations_stack in failed_ops
                else None,
            ),
            [t for t in work if not t.is_operations],
            concurrency,
            stop,
        )
    except KeyboardInterrupt:
        stop.set()
        raise FleetInterrupted(report()) from None
    return report()


def _each(
    work: Callable[[Any], None], items: Sequence[Any], concurrency: int, stop: threading.Event
) -> None:
    """``work`` on every item, ``concurrency`` at a time; Ctrl-C starts no more of them.

    The running ones are waited for: a ``cdk deploy`` cut short leaves its
    CloudFormation deployment running, and the record would not say how it ended.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        for future in as_completed([pool.submit(work, item) for item in items]):
            future.result()
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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


# A resource's failure in the CDK CLI's event stream ("... | CREATE_FAILED | AWS::Logs::
# LogGroup | UsageLogGroup (...) Resource handler returned message: ... already exists").
_RESOURCE_FAILURE = re.compile(r"\b(?:CREATE|UPDATE|DELETE|IMPORT)_FAILED\b.*")


def _brief(error: BaseException) -> str:
    """The line that says what failed.

    That is the first resource that failed (the later ones are mostly cancelled
    because of it), not the CLI's closing line, which for some SDK errors is only
    "Deserialization error: ... inspect the hidden field {error}.$response".
    Without one, the last line that mentions an error or a failure.
    """
    if not isinstance(error, DeployError):
        return str(error)[:300]
    lines = [line.strip() for line in error.tail if line.strip()]
    causes = [
        match.group(0)
        for line in lines
        if (match := _RESOURCE_FAILURE.search(line))
        and "AWS::CloudFormation::Stack" not in line
        and "cancelled" not in line.lower()
    ]
    if causes:
        return " ".join(causes[0].split())[:300]
    interesting = [line for line in lines if "fail" in line.lower() or "error" in line.lower()]
    return (interesting or lines or [str(error)])[-1][:300]


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
    registry = load_registry(registry_path)
    targets = plan(registry, tenant_ids)
    synth = synth_plan(registry, targets, whole_app=tenant_ids is None)
    with tempfile.TemporaryDirectory(prefix="tenantctl-assembly-") as tmp:
        assembly = Path(tmp) / "cdk.out"
        synthesize(
            cloud,
            assembly,
            context={"registry": str(registry_path)},
            on_line=on_line,
            stacks=synth.stacks,
            groups=synth.groups,
        )
        return deploy(cloud, targets, assembly, concurrency=concurrency, progress=progress)


# --- remembering what was deployed -----------------------------------------------------------


def selection_key(
    registry_path: Path, tenant_ids: Sequence[str] | None, only: Iterable[str] | None = None
) -> str:
    """What a run was asked to deploy, so that only the same command reuses its record."""
    return json.dumps(
        {
            "registry": str(registry_path.resolve()),
            "tenants": sorted(tenant_ids or []),
            "only": None if only is None else sorted(only),
        }
    )


def template_hash(template: Mapping[str, Any]) -> str:
    """The synthesized template's SHA-256; asset changes show in it as their content hash."""
    return hashlib.sha256(_normal(template).encode()).hexdigest()


def target_identity(cloud: CloudEnv, stack: StackTarget) -> dict[str, str]:
    """Where a stack goes: its account and region, and the endpoint and profile reaching it.

    The embedded cloud is its endpoint, and a restarted one (empty again) issues
    new access keys, so the key id is part of it, as a hash: the file never holds
    a credential. AWS is no endpoint, and the profile names the credentials.
    """
    env = cloud.env(stack.account_id, stack.region)
    key_id = env.get("AWS_ACCESS_KEY_ID", "")
    return {
        "account": stack.account_id,
        "region": stack.region,
        "endpoint": env.get("AWS_ENDPOINT_URL", "aws"),
        "profile": env.get("AWS_PROFILE", ""),
        "credentials": hashlib.sha256(key_id.encode()).hexdigest()[:16] if key_id else "",
    }


@dataclass(frozen=True)
class StackOrigin:
    """What a stack is deployed from: its template's hash and its target."""

    template: str
    target: Mapping[str, str]

    @classmethod
    def of(
        cls, cloud: CloudEnv, target: FleetTarget, templates: Mapping[str, Mapping[str, Any]]
    ) -> StackOrigin:
        template = templates.get(target.stack.stack_name, {})
        return cls(template_hash(template), target_identity(cloud, target.stack))


class DeployMemory:
    """``.tenantctl/last-deploy.json``: each stack of one selection, as its last run left it.

    A stack counts as deployed only from the origin (template hash, target) it was
    deployed from; anything else about it (failed, skipped, interrupted, never
    tried, another template, another target) means it must be deployed. Each
    result is written as it arrives, so an interrupted run leaves a true record.
    """

    def __init__(self, state_dir: Path, selection: str, *, fresh: bool = False) -> None:
        self._path = state_dir / STATE_FILE
        self._selection = selection
        self._lock = threading.Lock()
        self._stacks: dict[str, dict[str, Any]] = {} if fresh else self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            state = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(state, dict) or state.get("selection") != self._selection:
            return {}
        stacks = state.get("stacks")
        if not isinstance(stacks, dict):
            return {}  # an older file, keyed by the selection only: it cannot tell
        return {str(k): v for k, v in stacks.items() if isinstance(v, dict)}

    def deployed(self, stack_name: str, origin: StackOrigin) -> bool:
        """Whether the stack was deployed from exactly this origin."""
        record = self._stacks.get(stack_name, {})
        return (
            record.get("status") in DONE
            and record.get("template") == origin.template
            and record.get("target") == dict(origin.target)
        )

    def status(self, stack_name: str) -> str | None:
        """The stack's last recorded status, whatever it was deployed from."""
        record = self._stacks.get(stack_name)
        return None if record is None else str(record.get("status"))

    def record(self, result: StackResult, origin: StackOrigin) -> None:
        """Remember one stack's result and write the file at once."""
        with self._lock:
            self._stacks[result.target.stack.stack_name] = {
                "status": result.status,
                "template": origin.template,
                "target": dict(origin.target),
                "error": result.error,
            }
            self._write()

    def settle(self, origins: Mapping[str, StackOrigin]) -> None:
        """After a run: forget everything once every stack of the selection is deployed."""
        with self._lock:
            if all(self.deployed(name, origin) for name, origin in origins.items()):
                self._stacks = {}
                self._path.unlink(missing_ok=True)

    def _write(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        state = {"selection": self._selection, "stacks": self._stacks}
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self._path)  # whole or not at all, even when Ctrl-C lands here
