"""The one CDK runner: the real CDK CLI deploys the project's app, stack by stack.

Every stack is deployed with its own account's credentials: the operations
stack with the operations account's, each customer stack with its tenant's.
Where those credentials come from is the caller's ``CloudEnv``: AWS profiles
for ``tenantctl deploy``, the embedded cloud's deployer keys for ``tenantctl
local deploy``, the demo and the end-to-end tests. Before the deploys,
``cdk bootstrap`` runs once per account and region. The app gets
``-c registry=<path>`` plus the cloud's own context (the embedded cloud asks
for ``lambda_platform=host``). Each run writes to its own ``--output`` directory, so
concurrent runs never fight over ``cdk.out``'s lock.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from contracts import naming
from contracts.registry import load_registry

PROJECT_ROOT = Path(__file__).resolve().parents[1]
Progress = Callable[[str], None]


class DeployError(RuntimeError):
    """A CDK CLI command failed; carries the command and its last output lines."""

    def __init__(self, command: Sequence[str], returncode: int, tail: Sequence[str]) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.tail = list(tail)
        super().__init__(
            f"`{' '.join(command)}` exited with {returncode}:\n" + "\n".join(self.tail[-25:])
        )


@dataclass(frozen=True)
class StackTarget:
    """One stack to deploy and the account/region it belongs to."""

    stack_name: str
    account_id: str
    region: str


@dataclass
class DeployReport:
    """What a deployment did and how long each step took (seconds)."""

    timings: dict[str, float] = field(default_factory=dict)


class CloudEnv(Protocol):
    """What the runner needs from a cloud: the CLI environment of each account.

    The embedded cloud's ``EmbeddedCloud`` and ``RunningCloud`` provide both.
    """

    @property
    def cdk_context(self) -> Mapping[str, str]:
        """CDK context the app must be synthesized with for this cloud."""
        ...

    def env(self, account_id: str, region: str | None = None) -> dict[str, str]:
        """SDK environment (endpoint, keys, region) of an account's deployer."""
        ...


def cli_environment(
    account_env: Mapping[str, str], project_root: Path = PROJECT_ROOT
) -> dict[str, str]:
    """The CDK CLI's environment: virtualenv and node_modules first, quiet Node/jsii."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    path = [str(project_root / ".venv" / "bin"), str(project_root / "node_modules" / ".bin")]
    env["PATH"] = os.pathsep.join([*path, env.get("PATH", "")])
    env.update(account_env)
    env.update(
        {
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            # The host's profiles must not override the embedded account's keys.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env


def run_cdk(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    progress: Progress | None = None,
    timeout: float = 900,
) -> list[str]:
    """Run ``npx cdk <args>``, streaming each output line to ``progress``."""
    command = ["npx", "--no-install", "cdk", *args]
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # Ctrl-C in the parent must not orphan node
    ) as process:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            for line in process.stdout:
                line = line.rstrip()
                lines.append(line)
                if progress is not None:
                    progress(line)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"`{' '.join(command)}` took longer than {timeout:.0f}s")
            returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            process.kill()
            process.wait()
            raise
    if returncode != 0:
        raise DeployError(command, returncode, lines)
    return lines


def registry_targets(registry_path: str | Path) -> list[StackTarget]:
    """The operations stacks (one per shard) first, then one customer stack per tenant."""
    registry = load_registry(registry_path)
    targets = [
        StackTarget(stack.stack_name, stack.operations.account_id, stack.operations.region)
        for stack in registry.operations_stacks()
    ]
    targets += [
        StackTarget(naming.customer_stack_name(t.id), t.account_id, t.region)
        for t in registry.resolved_tenants()
    ]
    return targets


def deploy_stacks(
    cloud: CloudEnv,
    targets: Iterable[StackTarget],
    *,
    app_dir: Path = PROJECT_ROOT,
    context: Mapping[str, str] | None = None,
    app: str | None = None,
    progress: Progress | None = None,
    bootstrap: bool = True,
    output_root: Path | None = None,
) -> DeployReport:
    """Bootstrap each account/region once, then deploy each stack with its account's keys."""
    report = DeployReport()
    targets = list(targets)
    context_args: list[str] = []
    for key, value in {**cloud.cdk_context, **(context or {})}.items():
        context_args += ["-c", f"{key}={value}"]
    app_args = ["--app", app] if app else []
    out_root = Path(tempfile.mkdtemp(prefix="cdk-out-", dir=output_root))
    if bootstrap:
        for account_id, region in dict.fromkeys((t.account_id, t.region) for t in targets):
            started = time.perf_counter()
            _say(progress, f"bootstrap aws://{account_id}/{region}")
            run_cdk(
                [
                    "bootstrap",
                    f"aws://{account_id}/{region}",
                    *app_args,
                    *context_args,
                    "--output",
                    str(out_root / f"bootstrap-{account_id}-{region}"),
                ],
                env=cli_environment(cloud.env(account_id, region)),
                cwd=app_dir,
                progress=progress,
            )
            report.timings[f"bootstrap {account_id}/{region}"] = time.perf_counter() - started
    for target in targets:
        started = time.perf_counter()
        _say(progress, f"deploy {target.stack_name} into {target.account_id}/{target.region}")
        run_cdk(
            [
                "deploy",
                target.stack_name,
                "--require-approval",
                "never",
                "--progress",
                "events",
                *app_args,
                *context_args,
                "--output",
                str(out_root / f"deploy-{target.stack_name}"),
            ],
            env=cli_environment(cloud.env(target.account_id, target.region)),
            cwd=app_dir,
            progress=progress,
        )
        report.timings[f"deploy {target.stack_name}"] = time.perf_counter() - started
    return report


def deploy_registry(
    cloud: CloudEnv,
    registry_path: str | Path,
    *,
    context: Mapping[str, str] | None = None,
    app_dir: Path = PROJECT_ROOT,
    progress: Progress | None = None,
    bootstrap: bool = True,
) -> DeployReport:
    """Deploy the project's CDK app for every account in a registry."""
    registry_path = Path(registry_path).resolve()
    return deploy_stacks(
        cloud,
        registry_targets(registry_path),
        app_dir=app_dir,
        context={"registry": str(registry_path), **(context or {})},
        progress=progress,
        bootstrap=bootstrap,
    )


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(f"==> {message}")
