"""The CLI's view of the embedded cloud: a thin adapter over ``embedded_aws.process``.

The background cloud (``tenantctl local up``) writes ``.local-cloud/state.json``
with its endpoint and one deployer key per account. ``--local`` commands only
need :func:`credentials`; the lifecycle commands call :func:`up`, :func:`down`,
:func:`status` and :func:`deploy`.

``embedded_aws`` is test infrastructure installed with the ``embedded`` extra
(moto): it is imported here lazily, so the CLI's AWS commands never load it and
work without it, and a missing extra is one clear message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contracts.registry import load_registry
from tenantctl import fleet
from tenantctl.cdk_runner import DeployError
from tenantctl.cli.errors import CliError

STATE_DIR_ENV = "TENANTCTL_LOCAL_STATE_DIR"


def state_dir() -> Path:
    """Where the background cloud keeps its state (``.local-cloud`` unless overridden)."""
    return Path(os.environ.get(STATE_DIR_ENV, ".local-cloud"))


def _not_running() -> CliError:
    return CliError("the embedded cloud is not running: run tenantctl local up")


def _process() -> Any:
    """``embedded_aws.process``, or a CliError saying how to install it."""
    try:
        from embedded_aws import process
    except ImportError as exc:
        raise CliError(
            f"the embedded cloud is not installed ({exc}): install the extra with "
            "`pip install -e '.[embedded]'` (make setup does)"
        ) from None
    return process


def running_cloud() -> Any:
    """The running embedded cloud (``RunningCloud``); CliError when none runs."""
    return _running()


def _running() -> Any:
    process = _process()
    try:
        return process.RunningCloud.load(state_dir())
    except process.CloudNotRunning:
        raise _not_running() from None


def credentials(account_id: str) -> tuple[str, str, str]:
    """(endpoint URL, access key id, secret key) of an account in the running embedded cloud."""
    cloud = _running()
    if account_id not in cloud.accounts:
        raise CliError(
            f"account {account_id} is not in the embedded cloud: run tenantctl local deploy "
            "(it adds the registry's new accounts)"
        )
    creds = cloud.credentials(account_id)
    return str(cloud.endpoint_url), str(creds.access_key_id), str(creds.secret_access_key)


def status() -> dict[str, Any] | None:
    """The running cloud's state (pid, endpoint, accounts), or None."""
    return _process().status(state_dir())  # type: ignore[no-any-return]


def up(registry_path: Path) -> dict[str, Any]:
    """Start the background cloud with every account of the registry (no-op if running)."""
    process = _process()
    load_registry(registry_path)  # refuse an invalid registry before starting anything
    try:
        return process.up(state_dir(), registry=registry_path)  # type: ignore[no-any-return]
    except (RuntimeError, TimeoutError) as exc:
        raise CliError(str(exc)) from None


def down() -> bool:
    """Stop the background cloud; True if one was running."""
    return bool(_process().down(state_dir()))


def missing_accounts(registry_path: Path) -> list[str]:
    """Accounts of the registry the running cloud does not have (onboarded after ``up``)."""
    registry = load_registry(registry_path)
    wanted = [
        *(ops.account_id for ops in registry.operations_accounts()),
        *(t.account_id for t in registry.tenants),
    ]
    have = _running().accounts
    return [a for a in dict.fromkeys(wanted) if a not in have]


def deployer_env(account_id: str) -> dict[str, str]:
    """SDK environment variables acting as an account's deployer in the running cloud."""
    cloud = _running()
    if account_id not in cloud.accounts:
        known = ", ".join(sorted(cloud.accounts))
        raise CliError(f"ACCOUNT_ID: no embedded account {account_id} (known: {known})")
    return dict(cloud.env(account_id))


def deploy(registry_path: Path, progress: Callable[[str], None]) -> fleet.FleetReport:
    """Deploy the registry's fleet into the running cloud (synthesized once, in parallel)."""
    try:
        report = fleet.deploy_registry(_running(), registry_path, progress=_Lines(progress))
    except DeployError as exc:
        raise CliError(f"cdk synth failed: {exc}") from None
    if report.failed:
        raise CliError(
            "not deployed: "
            + "; ".join(f"{r.target.stack.stack_name}: {r.error}" for r in report.failed)
        )
    return report


class _Lines:
    """Fleet progress as one line per finished stack."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    def started(self, total: int) -> None:
        self._say(f"deploying {total} stack(s): operations stacks first, then customer stacks")

    def finished(self, result: fleet.StackResult) -> None:
        self._say(f"  {result.target.stack.stack_name}: {result.status} ({result.seconds:.0f}s)")
